"""Turn a raw sending error into a diagnosis (../shared/diagnosis-contract.md).

`diagnose` is a function of the raw text alone (and of `now`, for the time to a daily
quota's reset). It never raises and keeps `raw` whole; only its first SCAN_LIMIT
characters are read.

Precedence, first that applies wins:

0. An error object's code-like field (`"code": "ErrorSendAsDenied"`, `"reason":
   "rateLimitExceeded"`, Postmark's `"ErrorCode": 406`): the provider's own name for the
   cause (diagnostics.catalog.fields).
1. Text: a catalog entry whose pattern matches, in catalog order: message families of a
   known source (Nylas, sending APIs, SMTP servers), then telling words ("user unknown",
   "daily quota", "blocklist"…). The meaning of the text beats the codes, as the contract's
   "What wins" says: a 550 that says "mailbox full" is a full mailbox, a 5xx that says
   "daily quota" is a quota that resets.
   Then a validation error's refused field (`"field": "to"` is the contact's address).
2. Enhanced status code (RFC 3463): a well-known class.subject.detail (5.1.1, 5.7.26…),
   then a code's standard name written out ("Bad destination mailbox address" is 5.1.1's,
   "Syntax error in parameters or arguments" 501's), then the code's class.subject (5.1.x
   addressing, 5.7.x policy…).
3. Basic reply code (RFC 5321: 421, 535, 552…), then HTTP status (401, 429, 5xx…).
4. Hints, weak words ("temporarily", "timed out"…), when no code names a cause.
5. `unknown`, its retry from the code class: SMTP 4xx or HTTP 5xx retry automatically,
   anything else waits for a person.

`retry` always comes from the chosen category (the contract's table), never from the
code class, except for `unknown`.

A `never` suppresses the contact, the costliest mistake, so a rule that would give it must
also pass `_bounces_the_contact`: never when the reply names our own address as the refused
one (Postfix's "Sender address rejected: …", x.1.7/x.1.8); unless the text plainly says the
recipient is gone or full, no sign of our own side (authentication, relay, the sender
address, Exchange's submission) nor of our standing (a blocklist, our domain's
authentication, our content, a suspension), no "try again" or mail loop, a rule more precise
than a code class or a basic reply code (a 5.2.0 alone is Exchange's submission as often as
the recipient's mailbox, a 552 alone a size or a content filter as often as a full mailbox),
and for an exact enhanced code alone, a reply of nothing but codes or about a recipient.
Otherwise, when our side or our standing shows, the next rule that does not suppress decides (or
SENDER_REFUSED); when it does not, the code class does, as for an unknown error. An unknown
error that shows our side, and no transient code, is SENDER_REFUSED as well.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from diagnostics import catalog
from diagnostics.catalog import Entry
from diagnostics.catalog.entry import TextIndex
from diagnostics.parse import SCAN_LIMIT, Signals, error_fields, read_signals
from diagnostics.vocabulary import Category, Fix, Retry, Side

# Bound once: an enum member lookup costs more than a global one, in the batch hot path.
_QUOTA_EXCEEDED, _AUTO = Category.QUOTA_EXCEEDED, Retry.AUTO
_DAY = 86_400


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
    signals, lowered, words, candidates = _read(raw)
    return _diagnosis(raw, signals, _choose(candidates, lowered, words, signals), now)


def diagnose_json(raw: str, *, now: dt.datetime | None = None) -> tuple[str, Category]:
    """`diagnose(raw).to_json()` as JSON text, exactly as `json.dumps` writes it, and the
    category: batch mode's path, which builds no Diagnosis (its frozen fields cost more to
    set than the rest of the diagnosis)."""
    render, category = json_renderer(raw)
    return render(now), category


def json_renderer(raw: str) -> tuple[Callable[[dt.datetime | None], str], Category]:
    """How to write diagnose_json's text at a given time, and the category: the text changes
    with the time only for a quota (its retry_after counts down to the reset), so batch mode
    keeps a repeated quota's renderer rather than its text."""
    signals, lowered, words, candidates = _read(raw)
    entry = _choose(candidates, lowered, words, signals).entry
    verdict = _verdict_of(entry, signals)
    auto = verdict.retry is _AUTO

    def render(now: dt.datetime | None = None) -> str:
        retry_after = _retry_after(entry, signals.smtp_code, now) if auto else None
        return verdict.json_text(raw, retry_after, signals)

    return render, verdict.category


def explain(raw: str, *, now: dt.datetime | None = None) -> Explanation:
    """The diagnosis with the signals read and every rule that applied, winner first."""
    signals, lowered, words, candidates = _read(raw)
    found = tuple(candidates)
    chosen = _choose(iter(found), lowered, words, signals)
    return Explanation(_diagnosis(raw, signals, chosen, now), signals, found)


# An address's local part is a name, not words: "dmarc@…" is no DMARC failure, "relay@…"
# no relay refusal. The rules read the text with local parts blanked (the domain stays:
# it names the provider).
_LOCAL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789._+-"


def _blank_local_parts(lowered: str) -> str:
    parts = lowered.split("@")
    return "@".join([*map(_blank_local_part, parts[:-1]), parts[-1]])


def _blank_local_part(before_at: str) -> str:
    head = before_at.rstrip(_LOCAL_CHARS)
    return head + "x" if len(head) < len(before_at) else before_at  # "final '@domain'" stays


def _read(raw: str) -> tuple[Signals, str, frozenset[bytes], Iterator[Candidate]]:
    text = raw[:SCAN_LIMIT]
    lowered = text.lower()
    view = _blank_local_parts(lowered) if "@" in lowered else lowered
    words = catalog.words_of(view)
    signals = read_signals(text, lowered, words)
    return signals, view, words, _candidates(view, words, signals)


def _candidates(lowered: str, words: frozenset[bytes], signals: Signals) -> Iterator[Candidate]:
    """Every rule that applies, in precedence order; lazy, as diagnose needs only the first."""
    smtp_code, enhanced, http_status = signals.smtp_code, signals.enhanced_code, signals.http_status
    fields = error_fields(lowered)
    if fields:
        for name in sorted(fields & catalog.ERROR_CODES.keys()):
            yield Candidate("error code", catalog.ERROR_CODES[name], name)
    for entry, evidence in catalog.TEXT.matches(lowered, words, smtp_code, http_status):
        yield Candidate("text", entry, evidence)
    if fields:
        entry = catalog.field_entry(fields)
        if entry is not None:
            yield Candidate("error field", entry, ", ".join(sorted(fields)))
    if enhanced is not None and enhanced in catalog.ENHANCED:
        yield Candidate("enhanced code", catalog.ENHANCED[enhanced], enhanced)
    for entry, evidence in catalog.STANDARD_NAMES.matches(lowered, words, smtp_code, http_status):
        yield Candidate("standard name", entry, evidence)
    if enhanced is not None:
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


_SUPPRESSING = frozenset(
    category for category, defaults in catalog.DEFAULTS.items() if defaults.retry is Retry.NEVER
)
# A code class (5.2.x), or a basic reply code alone (a 552 is as often a size or a content
# filter as a full mailbox, a 551 a refused login), is too vague to suppress a contact.
_VAGUE = frozenset(("enhanced code class", "reply code", "HTTP status", "code class"))


def _phrases(*patterns: str) -> TextIndex:
    """Phrases found as the catalog finds its entries' (by their words, cheaply)."""
    return TextIndex((Entry("phrases", Category.UNKNOWN, "", match="|".join(patterns)),))


# Our side of the exchange: the sending mailbox's login, address, relay, submission, limits.
_OUR_SIDE = _phrases(
    r"relaying|relay access|relay denied|relay not|unable to relay|authentication",
    r"authenticated|authenticate|unauthenticated|auth required|storedrv\.submission",
    r"submission|send as|on behalf of|sender|senders|mail from|from address|from header",
    r"not (?:allowed|authorized|permitted) to send|api key|credentials|login|password",
    r"your account|smtp account|sending limit|limits for your account|oauth",
    r"token exchange|unauthorized_client|invalid_client|invalid_grant|permission|permissions",
    # Our server's own way out ("no outbound network": a Postfix with no route to the world).
    r"outbound",
)
_OUR_CODES = frozenset(("4.1.7", "4.1.8", "5.1.7", "5.1.8", "5.7.57", "5.7.60", "5.7.139"))
# The reply names our address as the refused one (Postfix's "Sender address rejected: <reason>",
# a sender verification callout): its "user unknown" is our own address's, not the contact's.
_SENDER_NAMED = _phrases(
    r"sender address rejected|sender address refused|sender rejected|sender refused",
    r"sender verify failed|sender verification failed|mail from address rejected",
)
# The contact's address plainly gone or full, whatever else the reply says.
_GONE_ENTRIES = tuple(
    catalog.TEXT_BY_CODE[code] for code in ("smtp.5.1.1", "smtp.5.1.1.directory", "smtp.5.2.1")
)
_RECIPIENT_GONE = _phrases(
    *(entry.match for entry in _GONE_ENTRIES),
    r"mailbox (?:is )?full|mailbox full|inbox (?:is )?full|over quota|overquota",
    r"marked as inactive|hard bounce|addressee unknown",
)
# Our standing with the receiver (a blocklist, our domain's authentication, our content, our
# suspended account): a reply that speaks of it is about us, whatever code it carries.
_OUR_STANDING = TextIndex(
    (catalog.words.BLOCKLISTED, catalog.words.DNS_AUTH, catalog.words.SPAM, catalog.words.SUSPENDED)
)
# An exact code speaks of the contact when the reply says nothing else, or speaks of a
# recipient (its address, its mailbox or the mailbox's state): "521 5.2.1 : AOL will not
# accept delivery of this message" is a refusal of us, whatever 5.2.1 names.
_ABOUT_A_RECIPIENT = _phrases(
    r"recipient|recipients|rcpt|mailbox|mailboxes|user|users|account|address|addressee",
    r"full|quota|inactive|disabled|unknown",
    r"destination|destinataire|destinatario|destinatário|empfänger|konto|kontos|postfach",
    r"boîte|boite|buzón|casella|caixa|ontvanger|получатель|ящик|收件人|用户|邮箱|宛先|メールボックス",
)
# A reply that says to try again, or that the mail looped, is not a dead address.
_NOT_GONE = _phrases(
    r"try again|temporary|temporarily|loop|hop count|too many hops|received headers"
)


def _says(index: TextIndex, lowered: str, words: frozenset[bytes]) -> bool:
    return next(index.matches(lowered, words, None, None), None) is not None


def _choose(
    candidates: Iterator[Candidate], lowered: str, words: frozenset[bytes], signals: Signals
) -> Candidate:
    """The first candidate, unless it would suppress a contact it should not (module doc)."""
    first = next(candidates)
    if first.entry is catalog.UNKNOWN:
        # Nothing recognized and nothing transient: our side, when the text shows it.
        return _our_side(first) if _shows_our_side(lowered, words, signals) else first
    if first.entry.category not in _SUPPRESSING or _bounces_the_contact(
        first, lowered, words, signals
    ):
        return first
    if not (_shows_our_side(lowered, words, signals) or _says(_OUR_STANDING, lowered, words)):
        # Doubt with no sign of our side: the code class's verdict, a person looks.
        *_, last = candidates
        return last
    # The code class comes last and never suppresses: there is always a next candidate.
    fallback = next(c for c in candidates if c.entry.category not in _SUPPRESSING)
    return _our_side(first) if fallback.rule == "code class" else fallback


def _our_side(candidate: Candidate) -> Candidate:
    return Candidate("our side", catalog.SENDER_REFUSED, candidate.evidence)


def _shows_our_side(lowered: str, words: frozenset[bytes], signals: Signals) -> bool:
    return (
        signals.enhanced_code in _OUR_CODES
        # A sign-in's own errors: Microsoft's AADSTS codes, an OAuth token response (RFC 6749).
        or "aadsts" in lowered
        or "error_description" in lowered
        or _says(_OUR_SIDE, lowered, words)
    )


def _bounces_the_contact(
    candidate: Candidate, lowered: str, words: frozenset[bytes], signals: Signals
) -> bool:
    if signals.enhanced_code in _OUR_CODES or _says(_SENDER_NAMED, lowered, words):
        return False
    if "aadsts" in lowered or "error_description" in lowered:
        return False  # a sign-in's "user account does not exist" is our mailbox's login
    if candidate.rule == "text" and candidate.entry in _GONE_ENTRIES:
        return True  # its own words are the recipient's absence
    if _says(_RECIPIENT_GONE, lowered, words):
        return True
    if candidate.rule in _VAGUE or _shows_our_side(lowered, words, signals):
        return False
    if _says(_OUR_STANDING, lowered, words):
        return False
    if candidate.rule == "enhanced code" and not (
        "@" in lowered
        or all(word.isdigit() for word in words)  # nothing but the codes: they decide
        or _says(_ABOUT_A_RECIPIENT, lowered, words)
    ):
        return False
    return not _says(_NOT_GONE, lowered, words)


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
        if now is None:  # now: the epoch's days are UTC days, as datetime's are
            return max(1, round(_DAY - time.time() % _DAY))
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
