"""Deliverability checks of a sender's domain: MX, SPF, DKIM, DMARC and DNS blocklists.

Pure functions of DNS answers: `check_dns_auth` and `check_blacklist` resolve through
`make_resolver()` (the DNS_* settings) unless given a resolver, and never raise for a DNS
problem (a lookup that fails gives an UNCHECKED result saying why).
"""

from __future__ import annotations

from diagnostics.deliverability.checks import check_blacklist, check_dns_auth
from diagnostics.deliverability.resolver import make_resolver
from diagnostics.deliverability.results import (
    AUTH_CHECKS,
    Check,
    CheckResult,
    Sender,
    Verdict,
)

__all__ = [
    "AUTH_CHECKS",
    "Check",
    "CheckResult",
    "Sender",
    "Verdict",
    "check_blacklist",
    "check_dns_auth",
    "make_resolver",
]
