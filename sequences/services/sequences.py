"""Sequences: creating and changing them (name, mailbox, pause, archive), and the
bounce-rate and complaint-rate guards that pause first steps, and lifting them.

A sequence's own pause (`state` paused, by a person) and the guard's (`first_steps_paused_at`,
by the bounce rate) are kept apart: resuming one never lifts the other.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from diagnostics.vocabulary import MessageKind, Retry
from sequences.models import (
    AuditEntry,
    Enrollment,
    InboundMessage,
    Mailbox,
    ScheduledEmail,
    SendAttempt,
    Sequence,
)
from sequences.services.audit import audit_record
from sequences.services.emails import enrollments_finish
from sequences.services.errors import WrongState
from sequences.services.mailboxes import emails_movable, emails_move
from sequences.services.pacing import DAY

State = Sequence.State
ARCHIVED_REASON = "Sequence archived"


def sequence_check_bounce_rate(*, sequence_id: int, now: dt.datetime | None = None) -> bool:
    """Pause first steps when the last 24 hours' hard bounces pass the threshold.

    A bad contact list then cannot burn the sender's reputation, while follow-ups to
    contacts who already received mail continue. Bounces are the refusals at send time and
    the bounces read from the mailbox since (sequences.services.inbox).
    """
    now = now or timezone.now()
    counts = _last_day_sends(sequence_id, now).aggregate(
        total=Count("id"), hard=Count("id", filter=Q(retry=Retry.NEVER))
    )
    hard = (
        counts["hard"]
        + _last_day_inbound(sequence_id, now, MessageKind.BOUNCE).filter(retry=Retry.NEVER).count()
    )
    return _guard(sequence_id, now, counts["total"], hard, settings.BOUNCE_GUARD_RATE, "bounced")


def sequence_check_complaint_rate(*, sequence_id: int, now: dt.datetime | None = None) -> bool:
    """Pause first steps when the last 24 hours' complaints (feedback reports: a contact
    marked the email as spam) pass COMPLAINT_GUARD_RATE of the emails sent; Gmail's sender
    rules ask to stay under 0.3 %."""
    now = now or timezone.now()
    total = _last_day_sends(sequence_id, now).count()
    complaints = _last_day_inbound(sequence_id, now, MessageKind.FEEDBACK).count()
    return _guard(
        sequence_id,
        now,
        total,
        complaints,
        settings.COMPLAINT_GUARD_RATE,
        "were reported as spam",
    )


def _last_day_sends(sequence_id: int, now: dt.datetime) -> QuerySet[SendAttempt]:
    return SendAttempt.objects.filter(
        email__sequence_id=sequence_id,
        started_at__gt=now - DAY,
        outcome__in=[SendAttempt.Outcome.SENT, SendAttempt.Outcome.FAILED],
    )


def _last_day_inbound(sequence_id: int, now: dt.datetime, kind: str) -> QuerySet[InboundMessage]:
    return InboundMessage.objects.filter(
        kind=kind, read_at__gt=now - DAY, email__sequence_id=sequence_id
    )


def _guard(
    sequence_id: int, now: dt.datetime, total: int, bad: int, rate: float, what: str
) -> bool:
    if total < settings.BOUNCE_GUARD_MIN_SENDS or bad / total < rate:
        return False
    reason = (
        f"Paused automatically: {bad} of the last {total} emails in 24 hours {what} "
        f"({bad / total:.1%}, over the {rate:.1%} limit). Check the contact list, then "
        "resume. Follow-ups to contacts already reached continue."
    )
    return bool(
        Sequence.objects.filter(pk=sequence_id, first_steps_paused_at__isnull=True).update(
            first_steps_paused_at=now, first_steps_paused_reason=reason
        )
    )


def sequence_resume_first_steps(*, actor: AbstractBaseUser, sequence: Sequence) -> None:
    """Lift the bounce-rate guard once someone has checked the contact list.

    Refuses (WrongState) a sequence whose first steps are not paused.
    """
    with transaction.atomic():
        lifted = Sequence.objects.filter(
            pk=sequence.pk, first_steps_paused_at__isnull=False
        ).update(first_steps_paused_at=None, first_steps_paused_reason="")
        if not lifted:
            raise WrongState(f"The first emails of {sequence.name} are not paused.")
        audit_record(
            actor=actor,
            organization_id=sequence.organization_id,
            action=AuditEntry.Action.RESUME_SEQUENCE,
            target=sequence,
        )


def _check_mailbox(sequence: Sequence, mailbox: Mailbox) -> None:
    if mailbox.organization_id != sequence.organization_id:
        raise WrongState("A sequence sends from a mailbox of its own organization.")


def sequence_create(
    *,
    actor: AbstractBaseUser,
    organization_id: int,
    owner: AbstractBaseUser,
    mailbox: Mailbox,
    name: str,
) -> Sequence:
    """A new, empty sequence (steps come next), active. Audited."""
    sequence = Sequence(organization_id=organization_id, owner=owner, mailbox=mailbox, name=name)
    _check_mailbox(sequence, mailbox)
    sequence.full_clean()
    with transaction.atomic():
        sequence.save()
        audit_record(
            actor=actor,
            organization_id=organization_id,
            action=AuditEntry.Action.CREATE_SEQUENCE,
            target=sequence,
            mailbox=mailbox.email,
        )
    return sequence


def sequence_check_editable(sequence: Sequence) -> None:
    """Refuse (WrongState) any change to an archived sequence."""
    if sequence.state == State.ARCHIVED:
        raise WrongState(f"{sequence.name} is archived: it changes no more.")


def sequence_rename(*, actor: AbstractBaseUser, sequence: Sequence, name: str) -> None:
    sequence_check_editable(sequence)
    before, sequence.name = sequence.name, name
    sequence.full_clean()
    with transaction.atomic():
        sequence.save(update_fields=["name"])
        audit_record(
            actor=actor,
            organization_id=sequence.organization_id,
            action=AuditEntry.Action.RENAME_SEQUENCE,
            target=sequence,
            before=before,
        )


def sequence_movable_emails(*, sequence: Sequence) -> int:
    """How many of its emails a change of mailbox takes along (mailboxes.MOVABLE)."""
    return emails_movable(sequence.emails.all()).count()


def sequence_change_mailbox(
    *, actor: AbstractBaseUser, sequence: Sequence, mailbox: Mailbox
) -> tuple[int, list[ScheduledEmail]]:
    """Send from `mailbox` from now on: the sequence's emails not yet handed to a server go
    with it, rescheduled within its window and caps. Audited. Returns how many moved, and
    those rescheduled (follow-ups still wait for their step)."""
    sequence_check_editable(sequence)
    _check_mailbox(sequence, mailbox)
    if mailbox.pk == sequence.mailbox_id:
        raise WrongState(f"{sequence.name} already sends from {mailbox.email}.")
    if mailbox.state != Mailbox.State.CONNECTED and sequence_movable_emails(sequence=sequence):
        raise WrongState(
            f"{mailbox.email} is not connected: connect it first, or the emails moving with "
            "the sequence would be held there."
        )
    with transaction.atomic():
        before = sequence.mailbox.email
        Sequence.objects.filter(pk=sequence.pk).update(mailbox=mailbox)
        sequence.mailbox = mailbox
        moved, rescheduled = emails_move(actor=actor, emails=sequence.emails.all(), target=mailbox)
        audit_record(
            actor=actor,
            organization_id=sequence.organization_id,
            action=AuditEntry.Action.CHANGE_SEQUENCE_MAILBOX,
            target=sequence,
            before=before,
            to=mailbox.email,
            emails=moved,
        )
    return moved, rescheduled


def _change_state(
    *,
    actor: AbstractBaseUser,
    sequence: Sequence,
    start: tuple[str, ...],
    to: str,
    reason: str,
    action: str,
    refusal: str,
    **detail: object,
) -> None:
    """The one way a sequence's own state changes: from `start` only, audited."""
    with transaction.atomic():
        changed = Sequence.objects.filter(pk=sequence.pk, state__in=start).update(
            state=to, paused_reason=reason
        )
        if not changed:
            raise WrongState(refusal)
        sequence.state, sequence.paused_reason = to, reason
        audit_record(
            actor=actor,
            organization_id=sequence.organization_id,
            action=action,
            target=sequence,
            state=to,
            **detail,
        )


def sequence_pause(*, actor: AbstractBaseUser, sequence: Sequence) -> None:
    """Hold every email of the sequence until someone resumes it (not the bounce guard's
    pause, which holds first emails only and stays as it is)."""
    who = actor.get_full_name() or actor.get_username()
    _change_state(
        actor=actor,
        sequence=sequence,
        start=(State.ACTIVE,),
        to=State.PAUSED,
        reason=f"Paused by {who} on {timezone.localdate():%b %-d}.",
        action=AuditEntry.Action.PAUSE_SEQUENCE,
        refusal=f"{sequence.name} is not active: only an active sequence pauses.",
    )


def sequence_resume(*, actor: AbstractBaseUser, sequence: Sequence) -> None:
    """Lift a pause made by hand: its emails go out again, within the mailbox's caps. The
    bounce guard's hold on first emails, if any, stays (sequence_resume_first_steps)."""
    _change_state(
        actor=actor,
        sequence=sequence,
        start=(State.PAUSED,),
        to=State.ACTIVE,
        reason="",
        action=AuditEntry.Action.RESUME_SEQUENCE,
        refusal=f"{sequence.name} is not paused.",
    )


def sequence_archive(*, actor: AbstractBaseUser, sequence: Sequence) -> int:
    """Archive the sequence: it sends nothing more. Its pending emails are cancelled with
    the reason (one being sent finishes with its worker) and enrollments with nothing left
    are finished. Audited. Returns how many emails were cancelled."""
    with transaction.atomic():
        # Cancelled first, so that the audit says how many; a refusal below undoes it.
        cancelled = sequence.emails.filter(status__in=ScheduledEmail.UNSENT_STATUSES).update(
            status=ScheduledEmail.Status.CANCELLED,
            status_reason=ARCHIVED_REASON,
            next_attempt_at=None,
        )
        _change_state(
            actor=actor,
            sequence=sequence,
            start=(State.ACTIVE, State.PAUSED),
            to=State.ARCHIVED,
            reason="",
            action=AuditEntry.Action.ARCHIVE_SEQUENCE,
            refusal=f"{sequence.name} is already archived.",
            emails_cancelled=cancelled,
        )
        enrollments_finish(Enrollment.objects.filter(sequence=sequence))
    return cancelled
