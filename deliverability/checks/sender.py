"""The two entry points: a domain's mail authentication, and its blocklist listings.

Neither raises for a DNS problem: a lookup that fails makes its result UNCHECKED, with the
reason. The checks of one call run side by side, so that a domain whose servers never
answer costs about one DNS timeout, not one per lookup.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import dns.exception
import dns.resolver
from django.conf import settings

from deliverability.checks.blocklists import blocklist_subject, lookup_blocklists
from deliverability.checks.dkim import check_dkim
from deliverability.checks.dmarc import check_dmarc
from deliverability.checks.mx import check_mx
from deliverability.checks.resolver import (
    Lookups,
    failure_reason,
    make_resolver,
    parallel,
    unchecked_sentence,
)
from deliverability.checks.results import (
    Check,
    CheckResult,
    Sender,
    Verdict,
    normalize_domain,
    result,
)
from deliverability.checks.spf import check_spf

log = logging.getLogger(__name__)


def check_dns_auth(
    sender: Sender, resolver: dns.resolver.Resolver | None = None
) -> list[CheckResult]:
    """MX, SPF, DKIM (one result per selector tried) and DMARC results, in that order."""
    domain = normalize_domain(sender.domain)
    subjects = {
        Check.MX: domain,
        Check.SPF: domain,
        Check.DKIM: f"_domainkey.{domain}",
        Check.DMARC: f"_dmarc.{domain}",
    }
    if not domain:
        return [_unchecked(check, "", "the mailbox has no domain") for check in subjects]
    resolver, problem = _resolver(resolver)
    if resolver is None:
        return [_unchecked(check, subject, problem) for check, subject in subjects.items()]
    lookups = Lookups(resolver)
    checks: list[tuple[str, Callable[[], list[CheckResult]]]] = [
        (Check.MX, lambda: [check_mx(lookups, sender, domain)]),
        (Check.SPF, lambda: [check_spf(lookups, sender, domain)]),
        (Check.DKIM, lambda: check_dkim(lookups, sender, domain)),
        (Check.DMARC, lambda: [check_dmarc(lookups, domain)]),
    ]
    outcomes = parallel(
        lambda item: _guarded(item[0], subjects[item[0]], item[1]),
        checks,
    )
    return [checked for outcome in outcomes for checked in outcome]


def check_blocklist(
    sender: Sender, resolver: dns.resolver.Resolver | None = None
) -> list[CheckResult]:
    """The SMTP server's IPv4 addresses on DNSBL_IP_ZONES, the domain on DNSBL_DOMAIN_ZONES.

    The server is not looked up for Google Workspace and Microsoft 365 mailboxes, whose mail
    leaves from the provider's shared servers (see blocklists.SHARED_OUTBOUND_PROVIDERS).
    """
    domain = normalize_domain(sender.domain)
    subject = blocklist_subject(sender, domain)
    resolver, problem = _resolver(resolver)
    if resolver is None:
        return [_unchecked(Check.BLOCKLIST, subject, problem)]
    lookups = Lookups(resolver)
    return _guarded(
        Check.BLOCKLIST,
        subject,
        lambda: lookup_blocklists(
            lookups,
            sender,
            domain,
            list(settings.DNSBL_IP_ZONES),
            list(settings.DNSBL_DOMAIN_ZONES),
        ),
    )


def _resolver(
    resolver: dns.resolver.Resolver | None,
) -> tuple[dns.resolver.Resolver | None, str]:
    if resolver is not None:
        return resolver, ""
    try:
        return make_resolver(), ""
    except dns.exception.DNSException as exc:  # e.g. no /etc/resolv.conf
        return None, failure_reason(exc, float(settings.DNS_TIMEOUT))


def _guarded(check: str, subject: str, run: Callable[[], list[CheckResult]]) -> list[CheckResult]:
    """The check's results; a bug met on strange DNS data is logged, not raised."""
    try:
        return run()
    except Exception:
        log.exception("The %s check of %s failed", check, subject)
        return [_unchecked(check, subject, "an unexpected error in the check (logged)")]


def _unchecked(check: str, subject: str, reason: str) -> CheckResult:
    return result(check, subject, Verdict.UNCHECKED, unchecked_sentence(reason))
