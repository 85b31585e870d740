"""Mailbox connection checks, and putting back what a broken connection held."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from diagnostics.diagnosis import Diagnosis, diagnose
from diagnostics.vocabulary import Category
from sequences.models import Mailbox, ScheduledEmail
from sequences.services.pacing import next_sending_time
from sequences.services.smtp import MailboxSession, SmtpFailure


@dataclass(frozen=True)
class ResyncResult:
    connected: bool
    rescheduled: int
    diagnosis: Diagnosis | None = None
    first_send_at: dt.datetime | None = None


def mailbox_held_emails(*, mailbox: Mailbox):
    """The emails a broken connection of this mailbox is holding back."""
    return ScheduledEmail.objects.filter(
        mailbox=mailbox,
        status=ScheduledEmail.Status.BLOCKED,
        error_category=Category.MAILBOX_CONNECTION,
    )


def mailbox_resync(*, mailbox_id: int) -> ResyncResult:
    """Connect and authenticate for real; on success reschedule what the failure held.

    On failure the mailbox keeps (or gets) its broken state with the server's reply.
    """
    mailbox = Mailbox.objects.get(pk=mailbox_id)
    now = timezone.now()
    try:
        with MailboxSession(mailbox) as session:
            session.open()
    except SmtpFailure as failure:
        diagnosis = diagnose(failure.raw)
        Mailbox.objects.filter(pk=mailbox.pk).update(
            state=Mailbox.State.INVALID_CREDENTIALS
            if diagnosis.category == Category.MAILBOX_CONNECTION
            else Mailbox.State.SYNC_ERROR,
            last_error=diagnosis.raw,
            last_error_code=diagnosis.code,
            last_checked_at=now,
        )
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
        rescheduled = mailbox_held_emails(mailbox=mailbox).update(
            status=ScheduledEmail.Status.SCHEDULED,
            next_attempt_at=Greatest(F("scheduled_for"), Value(slot)),
            status_reason="",
            updated_at=now,
        )
    return ResyncResult(connected=True, rescheduled=rescheduled, first_send_at=slot)
