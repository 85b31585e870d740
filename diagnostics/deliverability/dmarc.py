"""DMARC (RFC 7489): what receivers do with mail that fails SPF and DKIM for the domain."""

from __future__ import annotations

import re

from diagnostics.deliverability.resolver import Lookups, unchecked_sentence
from diagnostics.deliverability.results import Check, CheckResult, Verdict, result, txt_record

VERSION = re.compile(r"v\s*=\s*DMARC1\s*(?:;|$)", re.IGNORECASE)
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


def organizational_domain(domain: str) -> str:
    """The last two labels of the domain.

    RFC 7489 3.2 finds the organizational domain with the Public Suffix List, which this
    does not ship: two labels is right for acme.com or mail.acme.com, wrong for acme.co.uk
    (where it gives co.uk, which publishes no DMARC record, so nothing is found there).
    """
    return ".".join(domain.split(".")[-2:])


def default_record(domain: str, policy: str = "none") -> str:
    return f"v=DMARC1; p={policy}; rua=mailto:dmarc-reports@{domain}"


def check_dmarc(lookups: Lookups, domain: str) -> CheckResult:
    subject = f"_dmarc.{domain}"
    answer = lookups.query(subject, "TXT")
    if answer.failed:
        return result(Check.DMARC, subject, Verdict.UNCHECKED, unchecked_sentence(answer.error))
    records = [text for text in answer.texts() if is_dmarc(text)]
    where, inherited = subject, False
    org = organizational_domain(domain)
    if not records and org != domain:
        where = f"_dmarc.{org}"
        parent = lookups.query(where, "TXT")
        if parent.failed:
            return result(
                Check.DMARC,
                subject,
                Verdict.UNCHECKED,
                unchecked_sentence(parent.error, where),
            )
        records = [text for text in parent.texts() if is_dmarc(text)]
        inherited = bool(records)
    found = "\n".join(records)

    def outcome(verdict: str, explanation: str, action: str = "", record: str = "") -> CheckResult:
        return result(Check.DMARC, subject, verdict, explanation, action, record, found)

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
    owner = org if inherited else domain
    if policy not in POLICIES:
        problem = f"an invalid {name}= value {tags[name]!r}" if name in tags else "no p= policy"
        return outcome(
            Verdict.FAIL,
            f"{domain}'s DMARC record{from_org} has {problem}, so receivers ignore it or treat "
            "it as p=none (monitoring only).",
            "Set p=none, p=quarantine or p=reject in the DMARC record.",
            txt_record(where, _with_policy(tags, "p", "none", owner)),
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
