"""Deliverability checks of each mailbox's domain: run them, keep their results and history.

The checks themselves (DNS lookups and what the answers mean) are in
`diagnostics.deliverability`; here they are run for a mailbox and recorded, with the
results of the previous run compared, so that a check that starts failing stands out.
"""

from __future__ import annotations

import datetime as dt

import dns.resolver
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from diagnostics.deliverability import (
    CheckResult,
    Sender,
    Verdict,
    check_blacklist,
    check_dns_auth,
)
from diagnostics.deliverability.resolver import parallel
from sequences.models import DOMAIN_CHECK_TIMEOUT, DomainCheck, DomainCheckResult, Mailbox


def sender_for(mailbox: Mailbox) -> Sender:
    return Sender(
        domain=mailbox.domain,
        provider=mailbox.provider,
        smtp_host=mailbox.smtp_host,
        dkim_selectors=tuple(mailbox.dkim_selectors.split()),
    )


def sender_check(
    sender: Sender, scope: str, resolver: dns.resolver.Resolver | None = None
) -> list[CheckResult]:
    """What the checks of a scope find for a sender: DNS records, blocklists, or both."""
    checks = []
    if scope != DomainCheck.Scope.BLACKLIST:
        checks.append(check_dns_auth)
    if scope != DomainCheck.Scope.DNS_AUTH:
        checks.append(check_blacklist)
    # Side by side: a domain whose servers never answer costs one DNS timeout, not two.
    outcomes = parallel(lambda run: run(sender, resolver), checks)
    return [result for results in outcomes for result in results]


def domain_check_start(
    *,
    mailbox: Mailbox,
    scope: str,
    trigger: str,
    actor: AbstractBaseUser | None = None,
    now: dt.datetime | None = None,
) -> DomainCheck:
    """A run waiting for a worker (see `domain_check_run`)."""
    return DomainCheck.objects.create(
        mailbox=mailbox,
        domain=mailbox.domain,
        scope=scope,
        trigger=trigger,
        requested_by=actor,
        started_at=now or timezone.now(),
    )


def domain_check_running(*, mailbox: Mailbox, scope: str) -> DomainCheck | None:
    """The run of this check of the mailbox in progress (see DomainCheck.in_progress)."""
    return (
        mailbox.domain_checks.filter(
            scope=scope, finished_at=None, started_at__gt=timezone.now() - DOMAIN_CHECK_TIMEOUT
        )
        .order_by("-started_at")
        .first()
    )


def domain_check_run(
    *, check_id: int, resolver: dns.resolver.Resolver | None = None
) -> DomainCheck | None:
    """Look the domain up and record what each check found, once per run.

    None when the mailbox (and so the run) was deleted meanwhile.
    """
    check = DomainCheck.objects.select_related("mailbox").filter(pk=check_id).first()
    if check is None or check.finished_at is not None:  # deleted, or a redelivered task
        return check
    looked_up_at = timezone.now()
    found = sender_check(sender_for(check.mailbox), check.scope, resolver)
    with transaction.atomic():
        # One run of a mailbox records at a time, and each run only once.
        Mailbox.objects.select_for_update().filter(pk=check.mailbox_id).first()
        check = DomainCheck.objects.select_for_update().filter(pk=check_id).first()
        if check is not None and check.finished_at is None:
            domain_check_record(check, found, looked_up_at)
    return check


# How far back a check's verdict is compared with the last conclusive one.
HISTORY_COMPARED = dt.timedelta(days=90)


def domain_check_record(
    check: DomainCheck, found: list[CheckResult], looked_up_at: dt.datetime
) -> None:
    """Keep the results; they become current unless a later lookup was recorded first.

    A result is newly failing when the last conclusive verdict for the same name (one that
    was not "could not be checked"), read before it, was not a failure.
    """
    results = DomainCheckResult.objects.filter(mailbox_id=check.mailbox_id, kind__in=check.checks)
    # Runs finish out of order (a slow daily run after a quick one asked for later).
    newer = set(
        results.filter(current=True, checked_at__gt=looked_up_at).values_list("kind", flat=True)
    )
    before: dict[tuple[str, str], str] = {}
    for kind, subject, verdict in (
        results.filter(
            checked_at__lt=looked_up_at,
            checked_at__gte=looked_up_at - HISTORY_COMPARED,
            subject__in={result.subject for result in found},
        )
        .exclude(verdict=Verdict.UNCHECKED)
        .order_by("-checked_at", "-pk")
        .values_list("kind", "subject", "verdict")
    ):
        before.setdefault((kind, subject), verdict)
    results.filter(current=True).exclude(kind__in=newer).update(current=False)
    DomainCheckResult.objects.bulk_create(
        DomainCheckResult(
            run=check,
            mailbox_id=check.mailbox_id,
            kind=result.check,
            subject=result.subject[:255],
            verdict=result.verdict,
            explanation=result.explanation,
            action=result.action,
            record=result.record,
            found=result.found,
            newly_failing=result.verdict == Verdict.FAIL
            and before.get((result.check, result.subject)) != Verdict.FAIL,
            current=result.check not in newer,
            checked_at=looked_up_at,
        )
        for result in found
    )
    check.finished_at = timezone.now()
    check.save(update_fields=["finished_at"])


def mailboxes_due_for_check(*, now: dt.datetime) -> QuerySet[Mailbox]:
    """Mailboxes whose domain had no full check within DOMAIN_CHECK_EVERY_SECONDS.

    Never checked first, then the longest unchecked.
    """
    since = now - dt.timedelta(seconds=settings.DOMAIN_CHECK_EVERY_SECONDS)
    full = Q(domain_checks__scope=DomainCheck.Scope.ALL)
    recent = DomainCheck.objects.filter(
        mailbox=OuterRef("pk"), scope=DomainCheck.Scope.ALL, started_at__gte=since
    )
    return (
        Mailbox.objects.filter(~Exists(recent))
        .annotate(last_checked=Max("domain_checks__started_at", filter=full))
        .order_by(F("last_checked").asc(nulls_first=True), "pk")
    )
