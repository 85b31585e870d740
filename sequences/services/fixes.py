"""The one-click fixes: each changes state, reschedules what it unblocks, and is audited."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from email_validator import EmailNotValidError, validate_email

from diagnostics.vocabulary import Category
from sequences.models import (
    AuditEntry,
    Contact,
    DomainCheck,
    Enrollment,
    Mailbox,
    ScheduledEmail,
    Sequence,
)
from sequences.services.audit import audit_record
from sequences.services.deliverability import domain_check_running, domain_check_start
from sequences.services.pacing import next_sending_time
from sequences.tasks import check_mailbox_domain, resync_mailbox

Status = ScheduledEmail.Status
# Failures that a corrected address can cure.
RECIPIENT_CATEGORIES = (
    Category.RECIPIENT_ADDRESS_INVALID,
    Category.RECIPIENT_UNKNOWN,
    Category.RECIPIENT_MAILBOX_FULL,
)
RESCHEDULABLE = (Status.SCHEDULED, Status.RETRYING, Status.BLOCKED, Status.FAILED)


def normalize_contact_email(address: str) -> str:
    """The address as we will send to it, or a ValidationError that says why not."""
    address = address.strip()
    if not address.isascii():
        raise ValidationError(
            "This address contains non-ASCII characters. Our sending path cannot deliver to "
            "such addresses: use the contact's plain ASCII address."
        )
    try:
        result = validate_email(
            address,
            check_deliverability=False,
            allow_smtputf8=False,
            test_environment=settings.CONTACT_ALLOW_TEST_DOMAINS,
        )
    except EmailNotValidError as error:
        raise ValidationError(f"This is not a valid email address: {error}") from error
    return result.normalized


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


def contact_update_email(
    *, actor: AbstractBaseUser, contact: Contact, address: str
) -> list[ScheduledEmail]:
    """Correct a contact's address and reschedule the emails the old one blocked.

    Refuses (ValidationError) an invalid address, a non-ASCII one, or one that another
    contact of the organization already has.
    """
    normalized = normalize_contact_email(address)
    duplicate = (
        Contact.objects.filter(organization_id=contact.organization_id, email__iexact=normalized)
        .exclude(pk=contact.pk)
        .first()
    )
    if duplicate is not None:
        raise ValidationError(
            f"{duplicate} already has this address in your organization: edit or suppress "
            "that contact instead."
        )
    with transaction.atomic():
        old = contact.email
        was_bounced = contact.state == Contact.State.BOUNCED
        contact.email = normalized
        if was_bounced:
            contact.state, contact.state_reason = Contact.State.ACTIVE, ""
        contact.save(update_fields=["email", "state", "state_reason"])
        if was_bounced:
            Enrollment.objects.filter(
                contact=contact, state=Enrollment.State.STOPPED, stopped_reason__startswith="Hard"
            ).update(state=Enrollment.State.ACTIVE, stopped_reason="")
        audit_record(
            actor=actor,
            organization_id=contact.organization_id,
            action=AuditEntry.Action.EDIT_CONTACT,
            target=contact,
            old=old,
            new=normalized,
        )
        blocked = contact.emails.filter(status=Status.BLOCKED) | contact.emails.filter(
            status=Status.FAILED, error_category__in=RECIPIENT_CATEGORIES
        )
        return emails_reschedule(actor=actor, emails=blocked)


def contact_suppress(*, actor: AbstractBaseUser, contact: Contact) -> int:
    """Never email the contact again: stop its enrollments, cancel its pending emails."""
    reason = f"Suppressed by {actor.get_full_name() or actor.get_username()}"
    with transaction.atomic():
        contact.state, contact.state_reason = Contact.State.SUPPRESSED, reason
        contact.save(update_fields=["state", "state_reason"])
        contact.enrollments.filter(
            state__in=[Enrollment.State.ACTIVE, Enrollment.State.PAUSED]
        ).update(state=Enrollment.State.STOPPED, stopped_reason=reason)
        cancelled = contact.emails.filter(
            status__in=[Status.SCHEDULED, Status.RETRYING, Status.BLOCKED]
        ).update(status=Status.CANCELLED, status_reason="Contact suppressed", next_attempt_at=None)
        audit_record(
            actor=actor,
            organization_id=contact.organization_id,
            action=AuditEntry.Action.SUPPRESS_CONTACT,
            target=contact,
            cancelled=cancelled,
        )
    return cancelled


def mailbox_resync_request(*, actor: AbstractBaseUser, mailbox: Mailbox) -> None:
    """Ask a worker to reconnect the mailbox; the page then follows the outcome."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            organization_id=mailbox.organization_id,
            action=AuditEntry.Action.RESYNC_MAILBOX,
            target=mailbox,
        )
        resync_mailbox.delay_on_commit(mailbox.pk)


def mailbox_check_request(*, actor: AbstractBaseUser, mailbox: Mailbox, scope: str) -> DomainCheck:
    """Ask a worker to check the mailbox's domain now; the page then follows the run.

    While the same check of the mailbox is still running, that run is the answer: a
    second click does not queue a second one.
    """
    with transaction.atomic():
        # Two clicks at once: the second waits here, then finds the first's run.
        Mailbox.objects.select_for_update().filter(pk=mailbox.pk).first()
        running = domain_check_running(mailbox=mailbox, scope=scope)
        if running is not None:
            return running
        check = domain_check_start(
            mailbox=mailbox, scope=scope, trigger=DomainCheck.Trigger.PERSON, actor=actor
        )
        audit_record(
            actor=actor,
            organization_id=mailbox.organization_id,
            action=AuditEntry.Action.CHECK_DOMAIN,
            target=mailbox,
            scope=scope,
            domain=check.domain,
        )
        check_mailbox_domain.delay_on_commit(check.pk)
    return check


def mailbox_set_dkim_selectors(
    *, actor: AbstractBaseUser, mailbox: Mailbox, selectors: str
) -> None:
    """Save the DKIM selectors to check besides the provider's; raises ValidationError."""
    field = Mailbox._meta.get_field("dkim_selectors")
    before = mailbox.dkim_selectors
    mailbox.dkim_selectors = field.clean(" ".join(selectors.split()), mailbox)
    with transaction.atomic():
        mailbox.save(update_fields=["dkim_selectors"])
        audit_record(
            actor=actor,
            organization_id=mailbox.organization_id,
            action=AuditEntry.Action.SET_DKIM_SELECTORS,
            target=mailbox,
            before=before,
            after=mailbox.dkim_selectors,
        )


def sequence_resume_first_steps(*, actor: AbstractBaseUser, sequence: Sequence) -> bool:
    """Lift the bounce-rate guard once someone has checked the contact list."""
    with transaction.atomic():
        lifted = Sequence.objects.filter(
            pk=sequence.pk, first_steps_paused_at__isnull=False
        ).update(first_steps_paused_at=None, first_steps_paused_reason="")
        if lifted:
            audit_record(
                actor=actor,
                organization_id=sequence.organization_id,
                action=AuditEntry.Action.RESUME_SEQUENCE,
                target=sequence,
            )
    return bool(lifted)
