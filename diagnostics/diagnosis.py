"""Turn a raw sending error into a diagnosis (../shared/diagnosis-contract.md).

`diagnose` is a function of the raw text alone (and of `now`, for the time to a daily
quota's reset). It never raises and keeps `raw` whole; only its first SCAN_LIMIT
characters are read.

Precedence, first that applies wins:

1. Text: a catalog entry whose pattern matches, in catalog order: message families of a
   known source (Nylas, sending APIs, SMTP servers), then telling words ("user unknown",
   "daily quota", "blocklist"…). The meaning of the text beats the codes, as the contract's
   "What wins" says: a 550 that says "mailbox full" is a full mailbox, a 5xx that says
   "daily quota" is a quota that resets.
2. Enhanced status code (RFC 3463): a well-known class.subject.detail (5.1.1, 5.7.26…),
   then its class.subject (5.1.x addressing, 5.7.x policy…).
3. Basic reply code (RFC 5321: 421, 535, 552…), then HTTP status (401, 429, 5xx…).
4. Hints, weak words ("temporarily", "timed out"…), when no code names a cause.
5. `unknown`, its retry from the code class: SMTP 4xx or HTTP 5xx retry automatically,
   anything else waits for a person.

`retry` always comes from the chosen category (the contract's table), never from the
code class, except for `unknown`.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from diagnostics import catalog
from diagnostics.catalog import Entry
from diagnostics.parse import SCAN_LIMIT, Signals, read_signals
from diagnostics.vocabulary import Category, Fix, Retry, Side

# Bound once: an enum member lookup costs more than a global one, in the batch hot path.
_QUOTA_EXCEEDED, _AUTO = Category.QUOTA_EXCEEDED, Retry.AUTO


@dataclass(frozen=True, slots=True)
class Diagnosis:
    raw: str
    code: str
    category: Category
    retry: Retry
    retry_after: int | None
    fixes: tuple[Fix, ...]
    title: str
    explanation: str
    next_steps: tuple[str, ...]
    side: Side
    smtp_code: int | None
    enhanced_code: str | None
    http_status: int | None
    provider: str | None
    request_id: str | None
    # Which precedence rule decided (module docstring): "text", "enhanced code"…
    rule: str = "code class"

    def to_json(self) -> dict[str, object]:
        """Exactly the contract's JSON fields (the vocabulary members are str)."""
        return {
            "raw": self.raw,
            "code": self.code,
            "category": self.category,
            "retry": self.retry,
            "retry_after": self.retry_after,
            "fixes": list(self.fixes),
            "title": self.title,
            "explanation": self.explanation,
            "smtp_code": self.smtp_code,
            "enhanced_code": self.enhanced_code,
            "http_status": self.http_status,
            "provider": self.provider,
        }


class Candidate(NamedTuple):
    """A rule that applies to the text: the first one decides, the others lose."""

    rule: str
    entry: Entry
    evidence: str


@dataclass(frozen=True, slots=True)
class Explanation:
    diagnosis: Diagnosis
    signals: Signals
    candidates: tuple[Candidate, ...]


def diagnose(raw: str, *, now: dt.datetime | None = None) -> Diagnosis:
    signals, candidates = _read(raw)
    return _diagnosis(raw, signals, next(candidates), now)


def diagnose_json(raw: str, *, now: dt.datetime | None = None) -> tuple[str, Category]:
    """`diagnose(raw).to_json()` as JSON text, exactly as `json.dumps` writes it, and the
    category: batch mode's path, which builds no Diagnosis (its frozen fields cost more to
    set than the rest of the diagnosis)."""
    signals, candidates = _read(raw)
    entry = next(candidates).entry
    verdict = _verdict_of(entry, signals)
    retry_after = _retry_after(entry, signals.smtp_code, now) if verdict.retry is _AUTO else None
    return verdict.json_text(raw, retry_after, signals), verdict.category


def explain(raw: str, *, now: dt.datetime | None = None) -> Explanation:
    """The diagnosis with the signals read and every rule that applied, winner first."""
    signals, candidates = _read(raw)
    found = tuple(candidates)
    return Explanation(_diagnosis(raw, signals, found[0], now), signals, found)


def _read(raw: str) -> tuple[Signals, Iterator[Candidate]]:
    text = raw[:SCAN_LIMIT]
    lowered = text.lower()
    words = catalog.words_of(lowered)
    signals = read_signals(text, lowered, words)
    return signals, _candidates(lowered, words, signals)


def _candidates(lowered: str, words: frozenset[bytes], signals: Signals) -> Iterator[Candidate]:
    """Every rule that applies, in precedence order; lazy, as diagnose needs only the first."""
    smtp_code, enhanced, http_status = signals.smtp_code, signals.enhanced_code, signals.http_status
    for entry, evidence in catalog.TEXT.matches(lowered, words, smtp_code, http_status):
        yield Candidate("text", entry, evidence)
    if enhanced is not None:
        if enhanced in catalog.ENHANCED:
            yield Candidate("enhanced code", catalog.ENHANCED[enhanced], enhanced)
        subject = enhanced[:3]
        if subject in catalog.SUBJECTS:
            yield Candidate("enhanced code class", catalog.SUBJECTS[subject], subject + ".x")
    if smtp_code in catalog.BASIC:
        yield Candidate("reply code", catalog.BASIC[smtp_code], str(smtp_code))
    if http_status in catalog.HTTP:
        yield Candidate("HTTP status", catalog.HTTP[http_status], str(http_status))
    for entry, evidence in catalog.HINTS.matches(lowered, words, smtp_code, http_status):
        yield Candidate("hint", entry, evidence)
    transient = _class_retry(signals) is Retry.AUTO
    yield Candidate(
        "code class",
        catalog.UNKNOWN_TRANSIENT if transient else catalog.UNKNOWN,
        _code_class(signals),
    )


def _diagnosis(raw: str, signals: Signals, chosen: Candidate, now: dt.datetime | None) -> Diagnosis:
    entry = chosen.entry
    verdict = _verdict_of(entry, signals)
    retry = verdict.retry
    return Diagnosis(
        raw=raw,
        code=verdict.code,
        category=verdict.category,
        retry=retry,
        retry_after=_retry_after(entry, signals.smtp_code, now) if retry is _AUTO else None,
        fixes=verdict.fixes,
        title=verdict.title,
        explanation=verdict.explanation,
        next_steps=verdict.next_steps,
        side=verdict.side,
        smtp_code=signals.smtp_code,
        enhanced_code=signals.enhanced_code,
        http_status=signals.http_status,
        provider=signals.provider,
        request_id=signals.request_id,
        rule=chosen.rule,
    )


# The contract's JSON as `json.dumps` writes it by default: ASCII, ", " and ": ".
_ENCODER = json.JSONEncoder(check_circular=False)
_encode = _ENCODER.encode
# What _encode does with a str, called directly (it is called twice a line in batch mode).
_encode_str = json.encoder.encode_basestring_ascii


class _Verdict(NamedTuple):
    """What a diagnosis takes from its entry and its category's defaults.

    Fixed for an entry and a retry, so worked out once, with the JSON text of these
    fields (`json_head` goes from "code" to "retry_after": , `json_tail` from "fixes" to
    "smtp_code": ).
    """

    code: str
    category: Category
    retry: Retry
    fixes: tuple[Fix, ...]
    title: str
    explanation: str
    next_steps: tuple[str, ...]
    side: Side
    json_head: str
    json_tail: str

    def json_text(self, raw: str, retry_after: int | None, signals: Signals) -> str:
        """The JSON text of Diagnosis.to_json(), field for field in its order."""
        smtp_code, enhanced_code, http_status, provider, _ = signals
        return (
            f'{{"raw": {_encode_str(raw)}{self.json_head}{_number(retry_after)}{self.json_tail}'
            f'{_number(smtp_code)}, "enhanced_code": {_string(enhanced_code)}, '
            f'"http_status": {_number(http_status)}, "provider": {_string(provider)}}}'
        )


def _number(value: int | None) -> str:
    return "null" if value is None else str(value)  # as json writes an int


def _string(value: str | None) -> str:
    return "null" if value is None else _encode_str(value)


def _verdict_of(entry: Entry, signals: Signals) -> _Verdict:
    # Only `unknown` takes its retry from the code class (module docstring); an entry whose
    # text matched keeps its category's, whatever the code says: a connection lost after
    # the message was handed over ("dsn=4.4.2") must not be resent by itself.
    fallback = entry is catalog.UNKNOWN or entry is catalog.UNKNOWN_TRANSIENT
    return _verdict(entry, _class_retry(signals) if fallback else None)


@functools.cache  # a few hundred entries, each with at most two retries
def _verdict(entry: Entry, class_retry: Retry | None) -> _Verdict:
    defaults = catalog.DEFAULTS[entry.category]
    retry = class_retry or defaults.retry
    fixes = defaults.fixes if entry.fixes is None else entry.fixes
    explanation = entry.explanation or defaults.explanation
    head = {"code": entry.code, "category": entry.category, "retry": retry}
    tail = {"fixes": list(fixes), "title": entry.title, "explanation": explanation}
    return _Verdict(
        code=entry.code,
        category=entry.category,
        retry=retry,
        fixes=fixes,
        title=entry.title,
        explanation=explanation,
        next_steps=entry.next_steps or defaults.next_steps,
        side=entry.side or defaults.side,
        # {"code": …, "retry": "auto"} → ', "code": …, "retry": "auto", "retry_after": '
        json_head=", " + _encode(head)[1:-1] + ', "retry_after": ',
        json_tail=", " + _encode(tail)[1:-1] + ', "smtp_code": ',
    )


def _retry_after(entry: Entry, smtp_code: int | None, now: dt.datetime | None) -> int | None:
    """Seconds before the first automatic retry."""
    if entry.retry_after is not None:
        return entry.retry_after
    if entry.category is _QUOTA_EXCEEDED:
        # The contract: the next midnight UTC when the source gives no reset time.
        now = now or dt.datetime.now(dt.UTC)
        now = now.astimezone(dt.UTC) if now.tzinfo else now.replace(tzinfo=dt.UTC)
        midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
        return max(1, round((midnight - now).total_seconds()))
    return catalog.SMTP_RETRY_AFTER.get(smtp_code)


def _class_retry(signals: Signals) -> Retry:
    """The contract's retry for `unknown`: SMTP 4xx or HTTP 5xx are transient."""
    code = signals.smtp_code
    if code is None and signals.enhanced_code is not None:
        return Retry.AUTO if signals.enhanced_code[0] == "4" else Retry.AFTER_FIX
    if code is not None:
        return Retry.AUTO if 400 <= code < 500 else Retry.AFTER_FIX
    status = signals.http_status
    return Retry.AUTO if status is not None and 500 <= status < 600 else Retry.AFTER_FIX


def _code_class(signals: Signals) -> str:
    if signals.smtp_code is not None:
        return f"SMTP {signals.smtp_code // 100}xx"
    if signals.enhanced_code is not None:
        return f"enhanced {signals.enhanced_code[0]}.x.x"
    if signals.http_status is not None:
        return f"HTTP {signals.http_status // 100}xx"
    return "no code"
