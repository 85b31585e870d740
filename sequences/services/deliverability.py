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
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from diagnostics.deliverability import (
    CheckResult,
    Sender,
    Verdict,
    check_blacklist,
    check_dns_auth,
)
from diagnostics.deliverability.resolver import parallel
from sequences.models import DomainCheck, DomainCheckResult, Mailbox

# A run not finished after this long is shown as interrupted (its worker died).
RUN_TIMEOUT = dt.timedelta(minutes=5)


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
    """The run of this check of the mailbox that a worker has yet to finish, if any."""
    return (
        mailbox.domain_checks.filter(
            scope=scope, finished_at=None, started_at__gt=timezone.now() - RUN_TIMEOUT
        )
        .order_by("-started_at")
        .first()
    )


def domain_check_run(
    *, check_id: int, resolver: dns.resolver.Resolver | None = None
) -> DomainCheck:
    """Look the domain up and record what each check found, once per run."""
    check = DomainCheck.objects.select_related("mailbox").get(pk=check_id)
    if check.finished_at is not None:  # a redelivered task
        return check
    found = sender_check(sender_for(check.mailbox), check.scope, resolver)
    with transaction.atomic():
        # One run of a mailbox records at a time, and each run only once.
        Mailbox.objects.select_for_update().filter(pk=check.mailbox_id).first()
        check = DomainCheck.objects.select_for_update().get(pk=check_id)
        if check.finished_at is None:
            _record(check, found)
    return check


def _record(check: DomainCheck, found: list[CheckResult]) -> None:
    now = timezone.now()
    current = DomainCheckResult.objects.filter(
        mailbox_id=check.mailbox_id, current=True, kind__in=check.checks
    )
    before = {(result.kind, result.subject): result.verdict for result in current}
    current.update(current=False)
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
            checked_at=now,
        )
        for result in found
    )
    check.finished_at = now
    check.save(update_fields=["finished_at"])


def mailboxes_due_for_check(*, now: dt.datetime) -> QuerySet[Mailbox]:
    """Mailboxes whose domain had no full check within DOMAIN_CHECK_EVERY_SECONDS."""
    since = now - dt.timedelta(seconds=settings.DOMAIN_CHECK_EVERY_SECONDS)
    recent = DomainCheck.objects.filter(
        mailbox=OuterRef("pk"), scope=DomainCheck.Scope.ALL, started_at__gte=since
    )
    return Mailbox.objects.filter(~Exists(recent)).order_by("pk")
