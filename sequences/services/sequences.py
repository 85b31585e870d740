"""Sequences: the bounce-rate guard that pauses first steps, and lifting it."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from diagnostics.vocabulary import Retry
from sequences.models import AuditEntry, SendAttempt, Sequence
from sequences.services.audit import audit_record
from sequences.services.errors import WrongState
from sequences.services.pacing import DAY


def sequence_check_bounce_rate(*, sequence_id: int, now: dt.datetime | None = None) -> bool:
    """Pause first steps when the last 24 hours' hard bounces pass the threshold.

    A bad contact list then cannot burn the sender's reputation, while follow-ups to
    contacts who already received mail continue.
    """
    now = now or timezone.now()
    counts = SendAttempt.objects.filter(
        email__sequence_id=sequence_id,
        started_at__gt=now - DAY,
        outcome__in=[SendAttempt.Outcome.SENT, SendAttempt.Outcome.FAILED],
    ).aggregate(total=Count("id"), hard=Count("id", filter=Q(retry=Retry.NEVER)))
    total, hard = counts["total"], counts["hard"]
    if total < settings.BOUNCE_GUARD_MIN_SENDS or hard / total < settings.BOUNCE_GUARD_RATE:
        return False
    reason = (
        f"Paused automatically: {hard} of the last {total} emails in 24 hours bounced "
        f"({hard / total:.0%}, over the {settings.BOUNCE_GUARD_RATE:.0%} limit). Check the "
        "contact list, then resume. Follow-ups to contacts already reached continue."
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
