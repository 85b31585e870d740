"""Mailboxes: every change of a mailbox's state, and what it holds back or puts back.

A mailbox is connected, broken (its sign-in refused: `invalid_credentials`; another
connection failure: `sync_error`), or paused until a time a provider gave (rate limits,
quotas). Only the functions here set those.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from diagnostics.diagnosis import Diagnosis, diagnose
from diagnostics.vocabulary import Category
from sequences import selectors
from sequences.models import AuditEntry, Mailbox, ScheduledEmail, SendAttempt
from sequences.services.audit import audit_record
from sequences.services.pacing import next_sending_time
from sequences.services.smtp import MailboxSession, SmtpFailure

Status = ScheduledEmail.Status
# What a broken mailbox holds: everything not yet handed to a server.
HOLDABLE = (Status.SCHEDULED, Status.RETRYING, Status.SENDING)


@dataclass(frozen=True)
class ResyncResult:
    connected: bool
    rescheduled: int
    diagnosis: Diagnosis | None = None
    first_send_at: dt.datetime | None = None

    def as_json(self) -> dict[str, object]:
        """What the resync did, as its request's audit entry keeps it for the page."""
        return {
            "connected": self.connected,
            "rescheduled": self.rescheduled,
            "first_send_at": self.first_send_at.isoformat() if self.first_send_at else None,
            "error_code": self.diagnosis.code if self.diagnosis else None,
        }


def mailbox_mark_broken(*, mailbox_id: int, diagnosis: Diagnosis, now: dt.datetime) -> None:
    """The mailbox cannot send: a refused sign-in, or another connection failure."""
    Mailbox.objects.filter(pk=mailbox_id).update(
        state=Mailbox.State.INVALID_CREDENTIALS
        if diagnosis.category == Category.MAILBOX_CONNECTION
        else Mailbox.State.SYNC_ERROR,
        last_error=diagnosis.raw,
        last_error_code=diagnosis.code,
        last_checked_at=now,
    )


def mailbox_hold(*, mailbox_id: int, diagnosis: Diagnosis, now: dt.datetime) -> int:
    """Mark the mailbox broken and block its pending emails until a resync succeeds.

    They are not each tried and failed against a mailbox known to be broken. Emails whose
    send has started are left to the pipeline, which knows whether the server has them.
    """
    mailbox_mark_broken(mailbox_id=mailbox_id, diagnosis=diagnosis, now=now)
    return (
        ScheduledEmail.objects.filter(mailbox_id=mailbox_id, status__in=HOLDABLE)
        .exclude(attempts__outcome=SendAttempt.Outcome.STARTED)
        .update(
            status=Status.BLOCKED,
            next_attempt_at=None,
            claimed_at=None,
            status_reason=diagnosis.title,
            last_error=diagnosis.raw,
            error_code=diagnosis.code,
            error_category=diagnosis.category,
            updated_at=now,
        )
    )


def mailbox_pause(*, mailbox_id: int, until: dt.datetime) -> None:
    """Send nothing from the mailbox before `until` (the provider said too many, or quota)."""
    Mailbox.objects.filter(pk=mailbox_id).update(paused_until=until)


def mailbox_resync_request(*, actor: AbstractBaseUser, mailbox: Mailbox) -> AuditEntry:
    """Ask a worker to reconnect the mailbox; the page then follows the outcome.

    The request is the audit entry: the worker adds what the resync did to it.
    """
    from sequences.tasks import resync_mailbox  # tasks call the services: import at use

    with transaction.atomic():
        entry = audit_record(
            actor=actor,
            organization_id=mailbox.organization_id,
            action=AuditEntry.Action.RESYNC_MAILBOX,
            target=mailbox,
        )
        resync_mailbox.delay_on_commit(mailbox.pk, entry.pk)
    return entry


def mailbox_resync(*, mailbox_id: int, request_id: int | None = None) -> ResyncResult:
    """Connect and authenticate for real; on success reschedule what the failure held.

    On failure the mailbox keeps (or gets) its broken state with the server's reply. The
    outcome is added to the request's audit entry (`request_id`), where the page reads it.
    """
    result = _resync(Mailbox.objects.get(pk=mailbox_id))
    if request_id is not None:
        entry = AuditEntry.objects.filter(
            pk=request_id, action=AuditEntry.Action.RESYNC_MAILBOX, target_id=str(mailbox_id)
        ).first()
        if entry is not None:
            entry.detail = {**entry.detail, "outcome": result.as_json()}
            entry.save(update_fields=["detail"])
    return result


def _resync(mailbox: Mailbox) -> ResyncResult:
    now = timezone.now()
    try:
        with MailboxSession(mailbox) as session:
            session.open()
    except SmtpFailure as failure:
        diagnosis = diagnose(failure.raw)
        mailbox_mark_broken(mailbox_id=mailbox.pk, diagnosis=diagnosis, now=now)
        return ResyncResult(connected=False, rescheduled=0, diagnosis=diagnosis)
    slot = next_sending_time(mailbox, now)
    with transaction.atomic():
        Mailbox.objects.filter(pk=mailbox.pk).update(
            state=Mailbox.State.CONNECTED,
            last_error="",
            last_error_code="",
            last_checked_at=now,
            paused_until=None,
        )
        rescheduled = selectors.mailbox_held_emails(mailbox=mailbox).update(
            status=Status.SCHEDULED,
            next_attempt_at=Greatest(F("scheduled_for"), Value(slot)),
            status_reason="",
            updated_at=now,
        )
    return ResyncResult(connected=True, rescheduled=rescheduled, first_send_at=slot)
