"""Celery tasks: thin interfaces that take ids and call one service.

Retries declared here cover the infrastructure (a database that went away for a moment);
what an SMTP reply means is decided per email by its diagnosis, in the services. Every
task is acknowledged late (CELERY_TASK_ACKS_LATE): a worker that dies mid-task leaves it
to another, and each is safe to run twice.
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError

from sequences.services import imports, inbox, mailboxes, sending, sign_in

INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    autoretry_for=INFRASTRUCTURE_ERRORS, retry_backoff=True, retry_backoff_max=60, max_retries=3
)
def dispatch_due_emails() -> int:
    """Claim what is due, within one beat interval, and queue a send task per claim."""
    dispatched = sending.emails_dispatch(
        # Unstarted by then, it never runs: the recovery gives its claim back.
        handle=lambda claim: send_batch.apply_async(
            (claim.mailbox_id, list(claim.email_ids), claim.claimed_at.isoformat()),
            expires=settings.SEND_TASK_EXPIRES,
        ),
        for_seconds=settings.DISPATCH_INTERVAL_SECONDS,
    )
    return dispatched.claimed


@shared_task(
    autoretry_for=INFRASTRUCTURE_ERRORS,
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
    soft_time_limit=settings.SEND_BATCH_TIME_LIMIT - 30,
    time_limit=settings.SEND_BATCH_TIME_LIMIT,
)
def send_batch(mailbox_id: int, email_ids: list[int], claimed_at: str) -> dict[str, int]:
    result = sending.emails_send_batch(
        mailbox_id=mailbox_id,
        email_ids=email_ids,
        claimed_at=dt.datetime.fromisoformat(claimed_at),
    )
    return dict(result.by_status)


@shared_task(autoretry_for=INFRASTRUCTURE_ERRORS, retry_backoff=True, max_retries=3)
def resync_mailbox(mailbox_id: int, request_id: int | None = None) -> dict[str, object]:
    result = mailboxes.mailbox_resync(mailbox_id=mailbox_id, request_id=request_id)
    return result.as_json()


@shared_task(autoretry_for=INFRASTRUCTURE_ERRORS, retry_backoff=True, max_retries=3)
def recheck_mailboxes() -> int:
    """Try the mailboxes held as unreachable again; returns how many connected."""
    return sum(result.connected for result in mailboxes.mailboxes_recheck())


@shared_task(autoretry_for=INFRASTRUCTURE_ERRORS, retry_backoff=True, max_retries=3)
def purge_sign_in_counters() -> int:
    """Forget the sign-in counters whose window has passed; returns how many."""
    return sign_in.sign_in_counters_purge()


@shared_task(
    # A contact added meanwhile with an address of the batch: the batch is rolled back,
    # and the import resumes there, the new contact then reported as a duplicate.
    autoretry_for=(*INFRASTRUCTURE_ERRORS, IntegrityError),
    retry_backoff=True,
    max_retries=5,
)
def import_contacts(import_id: int) -> int:
    """Import a contact CSV (resumed where it stopped); returns the contacts imported."""
    return imports.contact_import_run(import_id=import_id).imported_count


@shared_task(autoretry_for=INFRASTRUCTURE_ERRORS, retry_backoff=True, max_retries=3)
def read_inboxes() -> int:
    """Queue a read of every mailbox that has an IMAP server and has sent something."""
    mailbox_ids = inbox.mailboxes_to_read()
    for mailbox_id in mailbox_ids:
        # Unstarted by the next beat, it is superseded by that one's.
        read_inbox.apply_async((mailbox_id,), expires=settings.INBOX_READ_INTERVAL_SECONDS)
    return len(mailbox_ids)


@shared_task(
    autoretry_for=INFRASTRUCTURE_ERRORS,
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=settings.INBOX_LEASE_SECONDS - 30,
    time_limit=settings.INBOX_LEASE_SECONDS,
)
def read_inbox(mailbox_id: int) -> dict[str, int] | None:
    """Read one mailbox; None when another reader holds it."""
    result = inbox.mailbox_read_inbox(mailbox_id=mailbox_id)
    return None if result is None else {"read": result.read, **result.applied}
