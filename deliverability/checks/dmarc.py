"""DMARC (RFC 7489): what receivers do with mail that fails SPF and DKIM for the domain."""

from __future__ import annotations

import re

from deliverability.checks.resolver import Lookups, unchecked_sentence
from deliverability.checks.results import (
    Check,
    CheckResult,
    Verdict,
    organizational_domain,
    quoted,
    result,
    txt_record,
)

# RFC 7489 6.4: "v" then "=" then DMARC1, case-sensitive (%x44 %x4d %x41 %x52 %x43 %x31), then
# ";" (ABNF string literals such as "v" match either case).
VERSION = re.compile(r"[vV]\s*=\s*DMARC1\s*(?:;|$)")
# What was surely meant as one, in the wrong case or without the ";": shown, not obeyed.
ALMOST = re.compile(r"v\s*=\s*dmarc1(?![0-9a-z])", re.IGNORECASE)
# Where a tag starts after spaces, in a record that forgot the ";" between tags.
TAG_START = re.compile(r"\s+(?=[A-Za-z][A-Za-z0-9]*\s*=)")
POLICIES = ("none", "quarantine", "reject")
POLICY_MEANING = {
    "none": "monitoring only: spoofed mail is still delivered",
    "quarantine": "mail that fails authentication goes to spam",
    "reject": "mail that fails authentication is refused",
}


def parse_tags(text: str) -> dict[str, str]:
    """tag=value pairs separated by ";" (RFC 7489 6.4), names lower case; the first wins."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        name = name.strip().lower()
        if equals and name and name not in tags:
            tags[name] = value.strip()
    return tags


def is_dmarc(text: str) -> bool:
    return VERSION.match(text.strip()) is not None


def is_malformed_dmarc(text: str) -> bool:
    """Not a DMARC record, but one that was meant to be (v=dmarc1, v=DMARC1 p=reject)."""
    return not is_dmarc(text) and ALMOST.match(text.strip()) is not None


def _read(texts: list[str]) -> tuple[list[str], list[str]]:
    """(the DMARC records, the malformed ones) among TXT records."""
    return [t for t in texts if is_dmarc(t)], [t for t in texts if is_malformed_dmarc(t)]


def default_record(domain: str, policy: str = "none") -> str:
    return f"v=DMARC1; p={policy}; rua=mailto:dmarc-reports@{domain}"


def check_dmarc(lookups: Lookups, domain: str) -> CheckResult:
    subject = f"_dmarc.{domain}"
    answer = lookups.query(subject, "TXT")
    if answer.failed:
        return result(Check.DMARC, subject, Verdict.UNCHECKED, unchecked_sentence(answer.error))
    records, malformed = _read(answer.texts())
    where, inherited, fallback = subject, False, ""
    org = organizational_domain(domain)
    if not records and org != domain:
        parent = lookups.query(f"_dmarc.{org}", "TXT")
        if parent.failed:
            return result(
                Check.DMARC,
                subject,
                Verdict.UNCHECKED,
                unchecked_sentence(parent.error, f"_dmarc.{org}"),
            )
        parent_records, parent_malformed = _read(parent.texts())
        if malformed:
            # The domain's own record is broken: say so, even if the organizational
            # domain's record applies meanwhile.
            fallback = org if parent_records else ""
        else:
            where = f"_dmarc.{org}"
            records, malformed = parent_records, parent_malformed
            inherited = bool(records)
    found = "\n".join(records or malformed)

    def outcome(verdict: str, explanation: str, action: str = "", record: str = "") -> CheckResult:
        return result(Check.DMARC, subject, verdict, explanation, action, record, found)

    owner = org if where != subject else domain
    if not records and malformed:
        then = (
            f"fall back to {org}'s DMARC record"
            if fallback
            else f"apply no DMARC policy to {domain}'s mail"
        )
        return outcome(
            Verdict.FAIL,
            f"The record at {where} {_malformation(malformed[0])}, so receivers do not read it "
            f"as a DMARC record and {then}.",
            "Replace it with this record, which starts with v=DMARC1 (upper case) and a ';' "
            "as receivers require.",
            txt_record(where, _repaired(malformed[0], owner)),
        )
    if not records:
        return outcome(
            Verdict.FAIL,
            f"{domain} has no DMARC record (what receivers should do with mail that fails "
            "SPF and DKIM), which Google and Yahoo require from bulk senders since 2024, so "
            "your mail may be rejected or sent to spam.",
            "Publish this record to start receiving DMARC reports, then move to "
            "p=quarantine once the reports show only your own servers sending.",
            txt_record(subject, default_record(domain)),
        )
    if len(records) > 1:
        return outcome(
            Verdict.FAIL,
            f"{where} has {len(records)} DMARC records, so receivers ignore them all and "
            "apply no policy.",
            "Keep the one DMARC record with the policy you want and delete the others.",
        )
    tags = parse_tags(records[0])
    # A subdomain covered by its organizational domain's record gets sp= if there is one.
    name = "sp" if inherited and "sp" in tags else "p"
    policy = tags.get(name, "").lower()
    from_org = f" (inherited from {org})" if inherited else ""
    if policy not in POLICIES:
        main = tags.get("p", "").lower()
        fixed = {**tags, "p": main if main in POLICIES else "none"}
        if name == "sp":
            # Only sp= is wrong: it gets p='s policy, which subdomains have without sp=.
            return outcome(
                Verdict.FAIL,
                f"{domain}'s DMARC record{from_org} has an invalid sp= value {quoted(tags['sp'])} "
                f"(the policy for subdomains), so receivers ignore the record or apply "
                f"p={fixed['p']} to {domain} instead.",
                f"Set sp= to none, quarantine or reject in the DMARC record of {owner}, or "
                "remove it so that subdomains get the p= policy.",
                txt_record(where, _with_policy(fixed, "sp", fixed["p"], owner)),
            )
        problem = f"an invalid p= value {quoted(tags['p'])}" if "p" in tags else "no p= policy"
        return outcome(
            Verdict.FAIL,
            f"{domain}'s DMARC record{from_org} has {problem}, so receivers ignore it or treat "
            "it as p=none (monitoring only).",
            "Set p=none, p=quarantine or p=reject in the DMARC record.",
            txt_record(where, _with_policy(fixed, "p", "none", owner)),
        )
    if policy == "none":
        return outcome(
            Verdict.WARNING,
            f"{domain}'s DMARC policy{from_org} is {name}=none, {POLICY_MEANING['none']}.",
            "Once the DMARC reports show only your own servers sending, move the policy to "
            "p=quarantine.",
            txt_record(where, _with_policy(tags, name, "quarantine", owner)),
        )
    percent = _percent(tags.get("pct", ""))
    if percent is not None and percent < 100:
        return outcome(
            Verdict.WARNING,
            f"{domain}'s DMARC policy{from_org} is {name}={policy} but applies to only "
            f"{percent}% of failing mail (pct={percent}), so the rest is still delivered.",
            "Raise pct to 100 (or remove pct=) once the reports look clean.",
            txt_record(where, _with_policy(tags, name, policy, owner, drop=("pct",))),
        )
    return outcome(
        Verdict.PASS,
        f"{domain}'s DMARC policy{from_org} is {name}={policy}: {POLICY_MEANING[policy]}.",
    )


def _split_version(text: str) -> tuple[str, str]:
    """A malformed record's version as written ("v=dmarc1") and the rest of it."""
    text = text.strip()
    version = ALMOST.match(text)
    end = version.end() if version is not None else 0
    return text[:end], text[end:]


def _malformation(text: str) -> str:
    """What keeps a malformed record (see is_malformed_dmarc) from being DMARC."""
    version, rest = _split_version(text)
    if version.endswith("DMARC1"):
        return "has no ';' after v=DMARC1"
    wrong = f"starts with {quoted(version)} where it must be 'v=DMARC1' (upper case)"
    separated = re.match(r"\s*(?:;|$)", rest) is not None
    return wrong if separated else f"{wrong} and has no ';' after it"


def _repaired(text: str, domain: str) -> str:
    """A malformed record as DMARC: its version corrected, its tags separated by ";"."""
    tags = parse_tags(";".join(TAG_START.split(_split_version(text)[1])))
    policy = tags.get("p", "").lower()
    return _with_policy(tags, "p", policy if policy in POLICIES else "none", domain)


def _percent(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and int(text) <= 100 else None


def _with_policy(
    tags: dict[str, str], name: str, policy: str, domain: str, drop: tuple[str, ...] = ()
) -> str:
    """The record with its `name` (p or sp) tag set to `policy`, its other tags kept."""
    values = {tag: value for tag, value in tags.items() if tag not in ("v", *drop)}
    values[name] = policy
    first = values.pop("p", "none")
    parts = ["v=DMARC1", f"p={first}", *(f"{tag}={value}" for tag, value in values.items())]
    if "rua" not in values:
        parts.append(f"rua=mailto:dmarc-reports@{domain}")
    return "; ".join(parts)
