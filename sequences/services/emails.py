"""Scheduled emails: putting them back in the queue, and follow-ups that wait for their step.

A sequence's step k+1 goes out `wait_days` after step k was sent, never before: until then
it is `waiting`. When step k fails for good, its follow-ups are cancelled with the reason.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from sequences.models import AuditEntry, Contact, Enrollment, Mailbox, ScheduledEmail
from sequences.services.audit import audit_record
from sequences.services.pacing import next_sending_time

Status = ScheduledEmail.Status
# A bounce read later is put back too: the servers on the way gave up on one that was only
# unreachable for a while (a hard bounce's contact is no longer active).
RESCHEDULABLE = (
    Status.SCHEDULED,
    Status.RETRYING,
    Status.BLOCKED,
    Status.FAILED,
    Status.BOUNCED,
)


def email_reschedulable(email: ScheduledEmail) -> bool:
    """Whether emails_reschedule would put this email back (an admin's "Send again anyway"
    aside): the same three conditions, for one email already loaded with its contact."""
    return (
        email.status in RESCHEDULABLE
        and email.contact.state == Contact.State.ACTIVE
        and email.error_code != ScheduledEmail.DELIVERY_UNCERTAIN
    )


def emails_reschedule(
    *,
    actor: AbstractBaseUser,
    emails: QuerySet[ScheduledEmail],
    now: dt.datetime | None = None,
    uncertain: bool = False,
) -> list[ScheduledEmail]:
    """Put emails back at the next free moment of their mailbox's sending window.

    Sent, sending and cancelled emails, and emails to contacts who are not active, are
    left as they are; so are uncertain deliveries (probably delivered: a resend may be a
    second copy), unless `uncertain`, an admin's "Send again anyway", audited as such.
    Returns the rescheduled ones.
    """
    now = now or timezone.now()
    if not uncertain:
        emails = emails.exclude(error_code=ScheduledEmail.DELIVERY_UNCERTAIN)
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
                action=AuditEntry.Action.RESEND_UNCERTAIN
                if uncertain
                else AuditEntry.Action.RESCHEDULE,
                target=sequence,
                emails=ids,
            )
    return list(ScheduledEmail.objects.filter(pk__in=[e.pk for e in chosen]))


def emails_release_waiting(
    *, emails: QuerySet[ScheduledEmail], now: dt.datetime | None = None
) -> list[ScheduledEmail]:
    """Schedule the waiting emails whose turn has come: a first step, or the step after one
    that was sent (`wait_days` after it was sent, in the mailbox's window). Returns them.
    """
    now = now or timezone.now()
    waiting = list(emails.filter(status=Status.WAITING).select_related("step", "mailbox"))
    if not waiting:
        return []
    previous = {
        (email.enrollment_id, email.step.position): email
        for email in ScheduledEmail.objects.filter(
            enrollment_id__in={email.enrollment_id for email in waiting}
        ).select_related("step")
    }
    released = []
    for email in waiting:
        before = previous.get((email.enrollment_id, email.step.position - 1))
        if email.step.position == 1 or before is None:
            after = now
        elif before.status == Status.SENT:
            after = max(now, before.sent_at + dt.timedelta(days=email.step.wait_days))
        else:
            continue
        email.status, email.status_reason, email.updated_at = Status.SCHEDULED, "", now
        email.scheduled_for = email.next_attempt_at = next_sending_time(email.mailbox, after)
        released.append(email)
    ScheduledEmail.objects.bulk_update(
        released, ["status", "status_reason", "scheduled_for", "next_attempt_at", "updated_at"]
    )
    return released


def emails_cancel_followers(*, email: ScheduledEmail, reason: str) -> int:
    """Step `email` will never be sent: its waiting follow-ups are cancelled, saying why."""
    return ScheduledEmail.objects.filter(
        enrollment_id=email.enrollment_id, status=Status.WAITING
    ).update(status=Status.CANCELLED, status_reason=reason[:500], next_attempt_at=None)


def enrollments_finish(enrollments: QuerySet[Enrollment]) -> None:
    """Those of the enrollments that are active and have nothing left to send are finished."""
    enrollments.filter(state=Enrollment.State.ACTIVE).exclude(
        emails__status__in=[*ScheduledEmail.PENDING_STATUSES, Status.BLOCKED]
    ).update(state=Enrollment.State.FINISHED)


def emails_postpone(*, emails: QuerySet[ScheduledEmail], until: dt.datetime) -> int:
    """Due emails not sent before `until` (a contact away until then): each moves to its
    mailbox's first sending moment after it. Returns how many moved."""
    moved = list(
        emails.filter(
            status__in=ScheduledEmail.DUE_STATUSES, next_attempt_at__lt=until
        ).select_related("mailbox")
    )
    for email in moved:
        email.scheduled_for = email.next_attempt_at = next_sending_time(email.mailbox, until)
        email.updated_at = timezone.now()
    ScheduledEmail.objects.bulk_update(moved, ["scheduled_for", "next_attempt_at", "updated_at"])
    return len(moved)
