"""Deliverability checks of each mailbox's domain: run them, keep their results and history.

The checks themselves (DNS lookups and what the answers mean) are in
`deliverability.checks`; here they are run for a mailbox and recorded, with the
results of the previous run compared, so that a check that starts failing stands out.
Reads are in `deliverability.selectors`.
"""

from __future__ import annotations

import datetime as dt

import dns.resolver
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from deliverability import selectors, tasks
from deliverability.checks import (
    CheckResult,
    Sender,
    Verdict,
    check_blocklist,
    check_dns_auth,
)
from deliverability.checks.resolver import parallel
from deliverability.models import DomainCheckResult, DomainCheckRun
from sequences.models import AuditEntry, Mailbox
from sequences.services.audit import audit_record


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
    if scope != DomainCheckRun.Scope.BLOCKLIST:
        checks.append(check_dns_auth)
    if scope != DomainCheckRun.Scope.DNS_AUTH:
        checks.append(check_blocklist)
    # Side by side: a domain whose servers never answer costs one DNS timeout, not two.
    outcomes = parallel(lambda check: check(sender, resolver), checks)
    return [result for results in outcomes for result in results]


def domain_check_start(
    *,
    mailbox: Mailbox,
    scope: str,
    trigger: str,
    actor: AbstractBaseUser | None = None,
    now: dt.datetime | None = None,
) -> DomainCheckRun:
    """A run waiting for a worker (see `domain_check_run`)."""
    return DomainCheckRun.objects.create(
        mailbox=mailbox,
        domain=mailbox.domain,
        scope=scope,
        trigger=trigger,
        requested_by=actor,
        started_at=now or timezone.now(),
    )


def domain_check_run(
    *, run_id: int, resolver: dns.resolver.Resolver | None = None
) -> DomainCheckRun | None:
    """Look the domain up and record what each check found, once per run.

    None when the mailbox (and so the run) was deleted meanwhile.
    """
    run = DomainCheckRun.objects.select_related("mailbox").filter(pk=run_id).first()
    if run is None or run.finished_at is not None:  # deleted, or a redelivered task
        return run
    looked_up_at = timezone.now()
    found = sender_check(sender_for(run.mailbox), run.scope, resolver)
    with transaction.atomic():
        # One run of a mailbox records at a time, and each run only once.
        Mailbox.objects.select_for_update().filter(pk=run.mailbox_id).first()
        run = DomainCheckRun.objects.select_for_update().filter(pk=run_id).first()
        if run is not None and run.finished_at is None:
            domain_check_record(run, found, looked_up_at)
    return run


# How far back a check's verdict is compared with the last conclusive one.
HISTORY_COMPARED = dt.timedelta(days=90)


def domain_check_record(
    run: DomainCheckRun, found: list[CheckResult], looked_up_at: dt.datetime
) -> None:
    """Keep the results; they become current unless a later lookup was recorded first.

    A result is newly failing when the last conclusive verdict for the same name (one that
    was not "could not be checked"), read before it, was not a failure.
    """
    results = DomainCheckResult.objects.filter(mailbox_id=run.mailbox_id, kind__in=run.checks)
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
            run=run,
            mailbox_id=run.mailbox_id,
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
    run.finished_at = timezone.now()
    run.save(update_fields=["finished_at"])


def domain_checks_start_due(*, now: dt.datetime | None = None) -> int:
    """Start the daily check of mailboxes whose domain was not checked in a day.

    At most DOMAIN_CHECK_BATCH_SIZE at a time: the day's checks spread over the scans
    instead of flooding the blocklists' rate limits, and a check someone asks for waits
    behind a short queue.
    """
    now = now or timezone.now()
    started = 0
    for mailbox in selectors.mailboxes_due_for_check(now=now)[: settings.DOMAIN_CHECK_BATCH_SIZE]:
        with transaction.atomic():
            run = domain_check_start(
                mailbox=mailbox,
                scope=DomainCheckRun.Scope.ALL,
                trigger=DomainCheckRun.Trigger.SCHEDULE,
                now=now,
            )
            tasks.check_mailbox_domain.delay_on_commit(run.pk)
        started += 1
    return started


def domain_check_request(
    *, actor: AbstractBaseUser, mailbox: Mailbox, scope: str
) -> DomainCheckRun:
    """Ask a worker to check the mailbox's domain now; the page then follows the run.

    While the same check of the mailbox is still running, that run is the answer: a
    second click does not queue a second one.
    """
    with transaction.atomic():
        # Two clicks at once: the second waits here, then finds the first's run.
        Mailbox.objects.select_for_update().filter(pk=mailbox.pk).first()
        running = selectors.domain_check_running(mailbox=mailbox, scope=scope)
        if running is not None:
            return running
        run = domain_check_start(
            mailbox=mailbox, scope=scope, trigger=DomainCheckRun.Trigger.PERSON, actor=actor
        )
        audit_record(
            actor=actor,
            organization_id=mailbox.organization_id,
            action=AuditEntry.Action.CHECK_DOMAIN,
            target=mailbox,
            scope=scope,
            domain=run.domain,
        )
        tasks.check_mailbox_domain.delay_on_commit(run.pk)
    return run


def mailbox_set_dkim_selectors(
    *, actor: AbstractBaseUser, mailbox: Mailbox, selectors: str
) -> None:
    """Save the DKIM selectors to check besides the provider's; raises ValidationError."""
    field = Mailbox._meta.get_field("dkim_selectors")
    before = mailbox.dkim_selectors
    mailbox.dkim_selectors = field.clean(" ".join(selectors.split()), mailbox)
    with transaction.atomic():
        mailbox.save(update_fields=["dkim_selectors"])
        audit_record(
            actor=actor,
            organization_id=mailbox.organization_id,
            action=AuditEntry.Action.SET_DKIM_SELECTORS,
            target=mailbox,
            before=before,
            after=mailbox.dkim_selectors,
        )
