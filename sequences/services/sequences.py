"""Sequences: the bounce-rate and complaint-rate guards that pause first steps, and lifting
them."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from diagnostics.vocabulary import MessageKind, Retry
from sequences.models import AuditEntry, InboundMessage, SendAttempt, Sequence
from sequences.services.audit import audit_record
from sequences.services.errors import WrongState
from sequences.services.pacing import DAY


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
