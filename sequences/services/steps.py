"""Steps: adding, editing, reordering and deleting a sequence's emails, and previewing one.

A step's subject and body are read when each of its emails is written (sending), so an
edit changes the emails not sent yet and never one already sent: a sent email keeps the
subject it went with (ScheduledEmail.subject), and its body went with it. Positions stay
1…n: every change of them locks the sequence first.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from sequences import selectors
from sequences.models import (
    AuditEntry,
    Contact,
    Enrollment,
    Mailbox,
    ScheduledEmail,
    Sequence,
    Step,
)
from sequences.services.audit import audit_record
from sequences.services.emails import emails_release_waiting, enrollments_finish
from sequences.services.errors import WrongState
from sequences.services.sending import prepare_message, render_subject
from sequences.services.sequences import sequence_check_editable
from sequences.services.smtp import SmtpFailure

Status = ScheduledEmail.Status
# The enrollments a new step is added to: those still going through the sequence.
RUNNING = (Enrollment.State.ACTIVE, Enrollment.State.PAUSED)


def step_emails_affected(*, step: Step) -> int:
    """How many of the step's emails are still to be written: what an edit changes."""
    return step.emails.filter(status__in=ScheduledEmail.UNSENT_STATUSES).count()


def _locked(sequence: Sequence) -> None:
    """Hold the sequence's row, so that two changes of its positions go one after the other."""
    sequence_check_editable(sequence)
    Sequence.objects.select_for_update().filter(pk=sequence.pk).first()


def _retime(emails: QuerySet[ScheduledEmail]) -> None:
    """Emails never tried are timed again from their step as it now is (its wait, its
    previous step): back to waiting, then released when their previous step was sent."""
    emails.filter(status=Status.SCHEDULED, attempt_count=0).update(
        status=Status.WAITING, next_attempt_at=None
    )
    emails_release_waiting(emails=emails)


def _audit(actor: AbstractBaseUser, step: Step, action: str, **detail: object) -> None:
    audit_record(
        actor=actor,
        organization_id=step.sequence.organization_id,
        action=action,
        target=step.sequence,
        step=step.position,
        **detail,
    )


def step_add(
    *, actor: AbstractBaseUser, sequence: Sequence, subject: str, body: str, wait_days: int
) -> tuple[Step, int]:
    """A new last step. Contacts still going through the sequence get it too, as a
    follow-up of their current last step (waiting for it, or scheduled `wait_days` after
    it was sent); finished ones do not. Audited. Returns the step and how many got it."""
    with transaction.atomic():
        _locked(sequence)
        last = sequence.steps.aggregate(last=Max("position"))["last"] or 0
        step = Step(
            sequence=sequence, position=last + 1, subject=subject, body=body, wait_days=wait_days
        )
        step.full_clean()
        step.save()
        now = timezone.now()
        emails = ScheduledEmail.objects.bulk_create(
            ScheduledEmail(
                enrollment_id=enrollment_id,
                contact_id=contact_id,
                step=step,
                sequence=sequence,
                mailbox_id=sequence.mailbox_id,
                status=Status.WAITING,
                scheduled_for=now,
            )
            for enrollment_id, contact_id in sequence.enrollments.filter(
                state__in=RUNNING
            ).values_list("pk", "contact_id")
        )
        emails_release_waiting(emails=step.emails.all(), now=now)
        _audit(actor, step, AuditEntry.Action.ADD_STEP, enrolled=len(emails))
    return step, len(emails)


def step_update(
    *, actor: AbstractBaseUser, step: Step, subject: str, body: str, wait_days: int
) -> int:
    """Change a step's subject, body or wait. Its emails not sent yet are written with the
    new text; sent ones are untouched; with a new wait, those not tried yet are timed
    again. Audited with the fields changed. Returns how many emails the change affects."""
    sequence_check_editable(step.sequence)
    new = {"subject": subject, "body": body, "wait_days": wait_days}
    changed = [name for name, value in new.items() if getattr(step, name) != value]
    for name, value in new.items():
        setattr(step, name, value)
    step.full_clean()
    with transaction.atomic():
        step.save(update_fields=changed or ["subject"])
        # A first step goes out on enrollment, whatever its wait: its times stay.
        if "wait_days" in changed and step.position > 1:
            _retime(step.emails.all())
        affected = step_emails_affected(step=step)
        _audit(actor, step, AuditEntry.Action.EDIT_STEP, fields=changed, emails=affected)
    return affected


def step_move(*, actor: AbstractBaseUser, step: Step, up: bool) -> Step:
    """Swap the step with the one before (`up`) or after it. Refused for a step whose
    email may have reached someone, on either side: that contact would get the steps out
    of order. The emails not tried yet are timed again. Audited. Returns the other step."""
    sequence = step.sequence
    with transaction.atomic():
        _locked(sequence)
        step.refresh_from_db(fields=["position"])
        other = sequence.steps.filter(position=step.position + (-1 if up else 1)).first()
        if other is None:
            raise WrongState(f"Step {step.position} is already the {'first' if up else 'last'}.")
        pair = ScheduledEmail.objects.filter(step__in=[step, other])
        if pair.filter(selectors.reached_contact()).exists():
            raise WrongState(
                f"Steps {min(step.position, other.position)} and "
                f"{max(step.position, other.position)} cannot swap: contacts already got one "
                "of them, and would get the steps out of order."
            )
        here, there = step.position, other.position
        # The positions are unique at every row: the step steps aside first.
        free = (sequence.steps.aggregate(last=Max("position"))["last"] or 0) + 1
        Step.objects.filter(pk=step.pk).update(position=free)
        Step.objects.filter(pk=other.pk).update(position=here)
        Step.objects.filter(pk=step.pk).update(position=there)
        step.position, other.position = there, here
        _retime(pair)
        _audit(actor, step, AuditEntry.Action.MOVE_STEP, before=here)
    return other


def step_delete(*, actor: AbstractBaseUser, step: Step) -> int:
    """Delete a step that reached no one, with its emails (and their attempts); later
    steps move up one, and their emails are timed from their new previous step. Audited.
    Returns how many emails were deleted with it."""
    sequence = step.sequence
    with transaction.atomic():
        _locked(sequence)
        step.refresh_from_db(fields=["position"])
        if step.emails.filter(selectors.reached_contact()).exists():
            raise WrongState(
                f"Step {step.position} was sent to contacts: it stays, as their emails show. "
                "Edit it instead: the emails not sent yet take the change."
            )
        position, subject = step.position, step.subject
        deleted = step.emails.count()
        step.delete()
        # One at a time, upwards: each position is free when a step moves into it.
        for later in sequence.steps.filter(position__gt=position).order_by("position"):
            Step.objects.filter(pk=later.pk).update(position=later.position - 1)
        _retime(sequence.emails.filter(step__position=position))
        enrollments_finish(sequence.enrollments.all())
        audit_record(
            actor=actor,
            organization_id=sequence.organization_id,
            action=AuditEntry.Action.DELETE_STEP,
            target=sequence,
            step=position,
            subject=subject,
            emails=deleted,
        )
    return deleted


# Whom a step is previewed for when the sequence has no contact yet.
SAMPLE_CONTACT = Contact(
    first_name="Alex",
    last_name="Morgan",
    company="Example Corp",
    job_title="Head of Sales",
    email="alex.morgan@example.com",
)
PREVIEW_MESSAGE_ID = "<preview@sequence-status.invalid>"


@dataclass(frozen=True)
class Preview:
    subject: str = ""
    body: str = ""
    # Why this contact would get no email from it (a variable they have no value for…).
    refusal: str = ""


def step_preview(
    *,
    sequence: Sequence,
    mailbox: Mailbox,
    position: int,
    subject: str,
    body: str,
    contact: Contact,
) -> Preview:
    """The email a step would be for `contact`, written by the sender's own code (the
    checks, the rendering, the reply subject of a follow-up), never sent nor saved."""
    step = Step(sequence=sequence, position=position, subject=subject, body=body)
    email = ScheduledEmail(step=step, sequence=sequence, contact=contact, mailbox=mailbox)
    first = sequence.steps.filter(position=1).first() if position > 1 else None
    if first is not None:
        email.first_subject = render_subject(
            ScheduledEmail(step=first, sequence=sequence, contact=contact, mailbox=mailbox)
        )
    try:
        message, _ = prepare_message(email, PREVIEW_MESSAGE_ID)
    except SmtpFailure as failure:
        return Preview(refusal=failure.raw)
    return Preview(subject=str(message["Subject"]), body=message.get_content())
