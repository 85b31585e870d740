"""Celery tasks: thin interfaces that take ids and call one service.

Retries declared here cover the infrastructure (a database that went away for a moment);
what an SMTP reply means is decided per email by its diagnosis, in the services.
"""

from __future__ import annotations

import datetime as dt
import time

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from sequences.models import DomainCheck
from sequences.services.deliverability import (
    domain_check_run,
    domain_check_start,
    mailboxes_due_for_check,
)
from sequences.services.mailboxes import mailbox_resync
from sequences.services.sending import emails_claim_due, emails_recover_stale, emails_send_batch

INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    autoretry_for=INFRASTRUCTURE_ERRORS, retry_backoff=True, retry_backoff_max=60, max_retries=3
)
def dispatch_due_emails() -> int:
    """Claim what is due and hand each mailbox's share to a send task.

    Claims repeat while there is something to claim, within one beat interval.
    """
    emails_recover_stale()
    deadline = time.monotonic() + settings.DISPATCH_INTERVAL_SECONDS
    claimed = 0
    while claims := emails_claim_due(per_mailbox=settings.SEND_BATCH_SIZE):
        for claim in claims:
            send_batch.delay(claim.mailbox_id, list(claim.email_ids), claim.claimed_at.isoformat())
            claimed += len(claim.email_ids)
        if time.monotonic() > deadline:
            break
    return claimed


@shared_task(
    acks_late=True,
    autoretry_for=INFRASTRUCTURE_ERRORS,
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
    soft_time_limit=settings.SEND_BATCH_TIME_LIMIT - 30,
    time_limit=settings.SEND_BATCH_TIME_LIMIT,
)
def send_batch(mailbox_id: int, email_ids: list[int], claimed_at: str) -> dict[str, int]:
    result = emails_send_batch(
        mailbox_id=mailbox_id,
        email_ids=email_ids,
        claimed_at=dt.datetime.fromisoformat(claimed_at),
    )
    return dict(result.by_status)


@shared_task(autoretry_for=INFRASTRUCTURE_ERRORS, retry_backoff=True, max_retries=3)
def resync_mailbox(mailbox_id: int) -> bool:
    return mailbox_resync(mailbox_id=mailbox_id).connected


@shared_task(acks_late=True, autoretry_for=INFRASTRUCTURE_ERRORS, retry_backoff=True, max_retries=3)
def check_mailbox_domain(check_id: int) -> None:
    domain_check_run(check_id=check_id)


@shared_task(autoretry_for=INFRASTRUCTURE_ERRORS, retry_backoff=True, max_retries=3)
def check_stale_domains() -> int:
    """Start the daily check of mailboxes whose domain was not checked in a day.

    At most DOMAIN_CHECK_BATCH_SIZE a scan: the day's checks spread over the scans instead
    of flooding the blocklists' rate limits, and a check someone asks for waits behind a
    short queue.
    """
    now = timezone.now()
    started = 0
    for mailbox in mailboxes_due_for_check(now=now)[: settings.DOMAIN_CHECK_BATCH_SIZE]:
        with transaction.atomic():
            check = domain_check_start(
                mailbox=mailbox,
                scope=DomainCheck.Scope.ALL,
                trigger=DomainCheck.Trigger.SCHEDULE,
                now=now,
            )
            check_mailbox_domain.delay_on_commit(check.pk)
        started += 1
    return started
