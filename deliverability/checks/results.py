"""What the deliverability checks return: a verdict per check and per name looked up."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.db import models
from publicsuffixlist import PublicSuffixList


class Verdict(models.TextChoices):
    PASS = "pass", "Pass"
    WARNING = "warning", "Warning"
    FAIL = "fail", "Fail"
    UNCHECKED = "unchecked", "Could not be checked"


class Check(models.TextChoices):
    MX = "mx", "MX records"
    SPF = "spf", "SPF"
    DKIM = "dkim", "DKIM"
    DMARC = "dmarc", "DMARC"
    BLOCKLIST = "blocklist", "Blocklists"


# What check_dns_auth covers, in the order of its results.
AUTH_CHECKS = (Check.MX, Check.SPF, Check.DKIM, Check.DMARC)

SUBJECT_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Sender:
    """The mailbox whose domain is checked."""

    domain: str  # the mailbox address's domain, e.g. "acme.com"
    provider: str  # "gmail" | "microsoft" | "smtp" (Google Workspace, Microsoft 365, other)
    smtp_host: str = ""  # host name or IP literal of the mailbox's SMTP server
    dkim_selectors: tuple[str, ...] = ()  # selectors an admin entered, tried besides the provider's


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check of one name.

    `explanation` is one plain sentence for a sales admin, `action` one sentence on what to
    change ("" when nothing), `record` the record to add or replace in zone-file form ("" when
    none), `found` the record(s) as served, untrusted, one per line.
    """

    check: str
    subject: str
    verdict: str
    explanation: str
    action: str = ""
    record: str = ""
    found: str = ""


def result(
    check: str,
    subject: str,
    verdict: str,
    explanation: str,
    action: str = "",
    record: str = "",
    found: str = "",
) -> CheckResult:
    """A CheckResult whose subject fits its column."""
    return CheckResult(
        check=check,
        subject=subject[:SUBJECT_LENGTH],
        verdict=verdict,
        explanation=explanation,
        action=action,
        record=record,
        found=found,
    )


def fqdn(name: str) -> str:
    """A name with its final dot, as zone files write absolute names."""
    return name if name.endswith(".") else f"{name}."


def txt_record(name: str, text: str) -> str:
    """`name. TXT "text"`, split in strings of at most 255 characters as DNS requires."""
    chunks = [text[start : start + 255] for start in range(0, len(text), 255)] or [""]
    quoted = " ".join(
        '"' + chunk.replace("\\", "\\\\").replace('"', '\\"') + '"' for chunk in chunks
    )
    return f"{fqdn(name)} TXT {quoted}"


def quoted(text: str) -> str:
    """Text from DNS in single quotes, as written (its control characters already escaped)."""
    return f"'{text}'"


def menu(*steps: str) -> str:
    """A path through an admin console's menus, its steps joined by a single right angle quote."""
    return " \u203a ".join(steps)


def normalize_domain(domain: str) -> str:
    """Lower case, without surrounding spaces or a final dot."""
    return domain.strip().rstrip(".").lower()


@cache
def _public_suffixes() -> PublicSuffixList:
    # The list ships with the package: nothing is fetched.
    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """The registered domain: acme.com for mail.acme.com, acme.co.uk for mail.acme.co.uk.

    RFC 7489 3.2 finds it with the Public Suffix List (publicsuffixlist, which ships the
    list). A name that is itself a public suffix is its own.
    """
    return _public_suffixes().privatesuffix(domain) or domain
