"""Scheduled emails: putting them back in the queue, at the mailbox's next free moment."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from sequences.models import AuditEntry, Contact, Mailbox, ScheduledEmail
from sequences.services.audit import audit_record
from sequences.services.pacing import next_sending_time

Status = ScheduledEmail.Status
RESCHEDULABLE = (Status.SCHEDULED, Status.RETRYING, Status.BLOCKED, Status.FAILED)


def emails_reschedule(
    *, actor: AbstractBaseUser, emails: QuerySet[ScheduledEmail], now: dt.datetime | None = None
) -> list[ScheduledEmail]:
    """Put emails back at the next free moment of their mailbox's sending window.

    Sent, sending and cancelled emails, and emails to contacts who are not active, are
    left as they are. Returns the rescheduled ones.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # Never back to an address that bounced, or a contact who asked not to be emailed.
        chosen = list(
            emails.filter(status__in=RESCHEDULABLE, contact__state=Contact.State.ACTIVE)
            .select_related("mailbox", "sequence")
            .select_for_update(of=("self",))
        )
        by_mailbox: dict[Mailbox, list[ScheduledEmail]] = defaultdict(list)
        for email in chosen:
            by_mailbox[email.mailbox].append(email)
        for mailbox, group in by_mailbox.items():
            ScheduledEmail.objects.filter(pk__in=[e.pk for e in group]).update(
                status=Status.SCHEDULED,
                next_attempt_at=next_sending_time(mailbox, now),
                status_reason="",
                updated_at=now,
            )
        for sequence in {email.sequence for email in chosen}:
            ids = [e.pk for e in chosen if e.sequence_id == sequence.pk]
            audit_record(
                actor=actor,
                organization_id=sequence.organization_id,
                action=AuditEntry.Action.RESCHEDULE,
                target=sequence,
                emails=ids,
            )
    return list(ScheduledEmail.objects.filter(pk__in=[e.pk for e in chosen]))
