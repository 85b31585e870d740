"""Deliverability checks of a sender's domain: MX, SPF, DKIM, DMARC and DNS blocklists.

Pure functions of DNS answers: `check_dns_auth` and `check_blocklist` resolve through
`make_resolver()` (the DNS_* settings) unless given a resolver, and never raise for a DNS
problem (a lookup that fails gives an UNCHECKED result saying why).
"""

from __future__ import annotations

from deliverability.checks.resolver import make_resolver
from deliverability.checks.results import (
    AUTH_CHECKS,
    Check,
    CheckResult,
    Sender,
    Verdict,
)
from deliverability.checks.sender import check_blocklist, check_dns_auth

__all__ = [
    "AUTH_CHECKS",
    "Check",
    "CheckResult",
    "Sender",
    "Verdict",
    "check_blocklist",
    "check_dns_auth",
    "make_resolver",
]
