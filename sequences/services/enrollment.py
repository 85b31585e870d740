"""Enrollment: contacts into a sequence, their first email paced within the mailbox's caps,
and taking one out again.

A contact is refused when it would be mailed against its state (bounced, suppressed,
unsubscribed), twice by one sequence, or by two sequences of one mailbox at once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.db.models.functions import TruncDate, TruncMinute
from django.utils import timezone

from sequences.models import (
    AuditEntry,
    Contact,
    Enrollment,
    Mailbox,
    ScheduledEmail,
    SendAttempt,
    Sequence,
    Step,
)
from sequences.services.audit import audit_record
from sequences.services.contacts import PENDING_STATUSES
from sequences.services.errors import WrongState
from sequences.services.pacing import sending_slots

Status = ScheduledEmail.Status
RUNNING = (Enrollment.State.ACTIVE, Enrollment.State.PAUSED)
BATCH = 2_000

# Why a contact was not enrolled, in the order the counts are reported.
ALREADY_ENROLLED = "already in this sequence"
ELSEWHERE = "active in another sequence of this mailbox"
REFUSED_STATES = {
    Contact.State.BOUNCED: "bounced",
    Contact.State.SUPPRESSED: "suppressed",
    Contact.State.UNSUBSCRIBED: "unsubscribed",
}


@dataclass(frozen=True)
class EnrollmentResult:
    enrolled: int
    refused: dict[str, int] = field(default_factory=dict)
    first_send: dt.datetime | None = None
    last_send: dt.datetime | None = None

    def summary(self) -> str:
        """In words: "12 enrolled, first emails from Dec 3, 09:00; not enrolled: 2 bounced"."""
        text = f"{self.enrolled} enrolled"
        if self.first_send is not None:
            first, last = timezone.localtime(self.first_send), timezone.localtime(self.last_send)
            text += f", first emails going out {first:%b %-d, %H:%M} to {last:%b %-d, %H:%M}"
        if self.refused:
            text += "; not enrolled: " + ", ".join(f"{n} {why}" for why, n in self.refused.items())
        return text + "."


def _planned(mailbox: Mailbox, after: dt.datetime) -> tuple[Counter, Counter]:
    """What the mailbox has planned from `after` on, by UTC minute and by local day,
    today's sends already started included."""
    zone = ZoneInfo(mailbox.time_zone)
    due = ScheduledEmail.objects.filter(
        mailbox=mailbox,
        status__in=ScheduledEmail.DUE_STATUSES,
        next_attempt_at__gte=after.replace(second=0, microsecond=0),
    )
    minutes = Counter(
        {
            row["minute"]: row["n"]
            for row in due.annotate(minute=TruncMinute("next_attempt_at", tzinfo=dt.UTC))
            .values("minute")
            .annotate(n=Count("id"))
        }
    )
    days = Counter(
        {
            row["day"]: row["n"]
            for row in due.annotate(day=TruncDate("next_attempt_at", tzinfo=zone))
            .values("day")
            .annotate(n=Count("id"))
        }
    )
    local = after.astimezone(zone)
    midnight = dt.datetime.combine(local.date(), dt.time(0), zone)
    days[local.date()] += SendAttempt.objects.filter(
        mailbox=mailbox, started_at__gte=midnight
    ).count()
    return minutes, days


def enrollments_create(
    *,
    actor: AbstractBaseUser,
    sequence: Sequence,
    contacts: QuerySet[Contact],
    now: dt.datetime | None = None,
) -> EnrollmentResult:
    """Enroll `contacts` (of the sequence's organization) into the sequence, in bulk.

    Step 1 of each goes out at the next free moment of the mailbox's window, spread so that
    no minute passes its per_minute_limit and no day its daily_limit (what is planned
    already counts); later steps wait for the one before (WAITING), planned `wait_days`
    after it. Enrollments of one mailbox are serialized (its row is locked), so two at
    once cannot fill the same minute. Refuses (WrongState) a sequence without steps.
    """
    now = now or timezone.now()
    steps = list(sequence.steps.order_by("position"))
    if not steps:
        raise WrongState(f"{sequence.name} has no steps yet: add its first email first.")
    with transaction.atomic():
        mailbox = Mailbox.objects.select_for_update().get(pk=sequence.mailbox_id)
        candidates = contacts.filter(organization_id=sequence.organization_id).annotate(
            enrolled=Exists(Enrollment.objects.filter(sequence=sequence, contact=OuterRef("pk"))),
            elsewhere=Exists(
                Enrollment.objects.filter(
                    contact=OuterRef("pk"), state__in=RUNNING, sequence__mailbox_id=mailbox.pk
                ).exclude(sequence=sequence)
            ),
        )
        refused: Counter[str] = Counter()
        accepted = []
        for pk, state, enrolled, elsewhere in candidates.values_list(
            "pk", "state", "enrolled", "elsewhere"
        ):
            why = (
                ALREADY_ENROLLED
                if enrolled
                else REFUSED_STATES.get(state) or (ELSEWHERE if elsewhere else "")
            )
            if why:
                refused[why] += 1
            else:
                accepted.append(pk)
        start = max(now, mailbox.paused_until or now)
        minutes, days = _planned(mailbox, start)
        slots = sending_slots(mailbox, after=start, count=len(accepted), minutes=minutes, days=days)
        enrollments = Enrollment.objects.bulk_create(
            (Enrollment(sequence=sequence, contact_id=pk, enrolled_at=now) for pk in accepted),
            batch_size=BATCH,
        )
        ScheduledEmail.objects.bulk_create(
            _emails(sequence, steps, enrollments, slots), batch_size=BATCH
        )
        result = EnrollmentResult(
            enrolled=len(accepted),
            refused={why: refused[why] for why in _ORDER if refused[why]},
            first_send=slots[0] if slots else None,
            last_send=slots[-1] if slots else None,
        )
        audit_record(
            actor=actor,
            organization_id=sequence.organization_id,
            action=AuditEntry.Action.ENROLL_CONTACTS,
            target=sequence,
            enrolled=result.enrolled,
            refused=result.refused,
        )
    return result


_ORDER = (ALREADY_ENROLLED, *REFUSED_STATES.values(), ELSEWHERE)


def _emails(
    sequence: Sequence, steps: list[Step], enrollments: list[Enrollment], slots: list[dt.datetime]
) -> Iterator[ScheduledEmail]:
    for enrollment, first in zip(enrollments, slots, strict=True):
        planned = first
        for step in steps:
            if step.position > 1:
                planned += dt.timedelta(days=step.wait_days)
            yield ScheduledEmail(
                enrollment=enrollment,
                step=step,
                sequence=sequence,
                contact_id=enrollment.contact_id,
                mailbox_id=sequence.mailbox_id,
                status=Status.SCHEDULED if step.position == 1 else Status.WAITING,
                scheduled_for=planned,
                next_attempt_at=first if step.position == 1 else None,
            )


def enrollment_stop(*, actor: AbstractBaseUser, enrollment: Enrollment) -> int:
    """Take a contact out of a sequence: its pending emails are cancelled, saying by whom
    (one being sent now is left to finish). Refuses (WrongState) an enrollment that is not
    running. Returns how many emails it cancelled."""
    who = actor.get_full_name() or actor.get_username()
    reason = f"Unenrolled by {who}"
    with transaction.atomic():
        stopped = Enrollment.objects.filter(pk=enrollment.pk, state__in=RUNNING).update(
            state=Enrollment.State.STOPPED,
            stop_cause=Enrollment.StopCause.UNENROLLED,
            stopped_reason=reason,
        )
        if not stopped:
            raise WrongState(f"{enrollment.contact.email} is not running in this sequence.")
        cancelled = ScheduledEmail.objects.filter(
            enrollment=enrollment, status__in=PENDING_STATUSES
        ).update(status=Status.CANCELLED, status_reason=reason, next_attempt_at=None)
        audit_record(
            actor=actor,
            organization_id=enrollment.sequence.organization_id,
            action=AuditEntry.Action.UNENROLL_CONTACT,
            target=enrollment,
            cancelled=cancelled,
        )
    return cancelled
