"""Contacts: the one rule for an address, and every change of a contact's state.

A contact is active, bounced (a hard bounce: the address is dead), suppressed (a person
said never again) or unsubscribed. Each change stops or restarts its enrollments and
cancels its pending emails here, and nowhere else.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from diagnostics.diagnosis import Diagnosis
from diagnostics.vocabulary import Category
from sequences.addresses import recipient
from sequences.models import AuditEntry, Contact, Enrollment, ScheduledEmail, Sequence
from sequences.services.audit import audit_record
from sequences.services.emails import emails_release_waiting, emails_reschedule
from sequences.services.errors import WrongState

Status = ScheduledEmail.Status
# Emails that would still go out to the contact, unless cancelled.
PENDING_STATUSES = ScheduledEmail.UNSENT_STATUSES
# Why a bounce cancelled an email: what a corrected address brings back.
BOUNCED = "Contact bounced"
# Failures that a corrected address can cure.
RECIPIENT_CATEGORIES = (
    Category.RECIPIENT_ADDRESS_INVALID,
    Category.RECIPIENT_UNKNOWN,
    Category.RECIPIENT_MAILBOX_FULL,
)


def contact_normalize_email(address: str) -> str:
    """The address as we will send to it, or a ValidationError that says why not."""
    return recipient(address).address


def _refuse_duplicate(*, organization_id: int, address: str, exclude: int | None = None) -> None:
    """A ValidationError when another contact of the organization has this address."""
    duplicate = Contact.objects.filter(organization_id=organization_id, email__iexact=address)
    if exclude is not None:
        duplicate = duplicate.exclude(pk=exclude)
    found = duplicate.first()
    if found is not None:
        raise ValidationError(
            f"{found} already has this address in your organization: edit or suppress "
            "that contact instead."
        )


# What a person may change on a contact besides its address.
DETAIL_FIELDS = ("first_name", "last_name", "company", "job_title", "time_zone")


def contact_add(
    *, actor: AbstractBaseUser, organization_id: int, email: str, **details: str
) -> Contact:
    """A new contact, its address by the one rule. Refuses (ValidationError) an address
    that is not one valid recipient, or one another contact of the organization has."""
    normalized = contact_normalize_email(email)
    _refuse_duplicate(organization_id=organization_id, address=normalized)
    with transaction.atomic():
        contact = Contact.objects.create(
            organization_id=organization_id,
            email=normalized,
            added_by=actor,
            **{name: details[name] for name in DETAIL_FIELDS if name in details},
        )
        audit_record(
            actor=actor,
            organization_id=organization_id,
            action=AuditEntry.Action.ADD_CONTACT,
            target=contact,
        )
    return contact


def contact_update(
    *,
    actor: AbstractBaseUser,
    contact: Contact,
    within: QuerySet[Sequence],
    email: str,
    **details: str,
) -> list[ScheduledEmail]:
    """Change a contact's details and, if it changed, its address (contact_update_email:
    the emails the old one blocked are rescheduled, and returned)."""
    with transaction.atomic():
        changed = [name for name in DETAIL_FIELDS if getattr(contact, name) != details[name]]
        if changed:
            for name in changed:
                setattr(contact, name, details[name])
            contact.save(update_fields=changed)
            audit_record(
                actor=actor,
                organization_id=contact.organization_id,
                action=AuditEntry.Action.UPDATE_CONTACT,
                target=contact,
                fields=changed,
            )
        if email.strip() == contact.email:
            return []
        return contact_update_email(actor=actor, contact=contact, address=email, within=within)


def contact_unsubscribe_on_request(*, actor: AbstractBaseUser, contact: Contact) -> int:
    """The contact asked someone of the organization not to be emailed again.

    Refuses (WrongState) a contact already unsubscribed. Returns the emails cancelled.
    """
    if contact.state == Contact.State.UNSUBSCRIBED:
        raise WrongState(f"{contact.email} is already unsubscribed.")
    who = actor.get_full_name() or actor.get_username()
    with transaction.atomic():
        cancelled = contacts_unsubscribe(
            contacts=Contact.objects.filter(pk=contact.pk), reason=f"On request, noted by {who}"
        )
        audit_record(
            actor=actor,
            organization_id=contact.organization_id,
            action=AuditEntry.Action.UNSUBSCRIBE_CONTACT,
            target=contact,
            cancelled=cancelled,
        )
    return cancelled


def _stop(
    contacts: QuerySet[Contact], *, cause: str, reason: str, cancel_reason: str, keep: int | None
) -> int:
    """Stop the contacts' running enrollments and cancel their pending emails (but `keep`)."""
    Enrollment.objects.filter(
        contact__in=contacts, state__in=[Enrollment.State.ACTIVE, Enrollment.State.PAUSED]
    ).update(state=Enrollment.State.STOPPED, stop_cause=cause, stopped_reason=reason)
    pending = ScheduledEmail.objects.filter(contact__in=contacts, status__in=PENDING_STATUSES)
    if keep is not None:
        pending = pending.exclude(pk=keep)
    return pending.update(
        status=Status.CANCELLED, status_reason=cancel_reason, next_attempt_at=None
    )


def contact_bounce(*, contact_id: int, diagnosis: Diagnosis, email_id: int | None = None) -> int:
    """A hard bounce: no later step goes to this address, in any sequence.

    `email_id` is the email that bounced, which keeps its own failed status. Returns how
    many pending emails were cancelled.
    """
    reason = f"Hard bounce: {diagnosis.title}"
    contacts = Contact.objects.filter(pk=contact_id)
    contacts.update(state=Contact.State.BOUNCED, state_reason=reason)
    return _stop(
        contacts,
        cause=Enrollment.StopCause.BOUNCED,
        reason=reason,
        cancel_reason=BOUNCED,
        keep=email_id,
    )


def contact_complained(*, contact_id: int, reason: str) -> int:
    """The contact reported an email as spam (a feedback report): never email it again, as
    a suppression does. Returns how many pending emails were cancelled."""
    contacts = Contact.objects.filter(pk=contact_id)
    contacts.update(state=Contact.State.SUPPRESSED, state_reason=reason[:500])
    return _stop(
        contacts,
        cause=Enrollment.StopCause.SUPPRESSED,
        reason=reason[:500],
        cancel_reason="Contact reported an email as spam",
        keep=None,
    )


def enrollment_replied(*, email: ScheduledEmail, reason: str) -> int:
    """The contact answered `email`: it shows replied, its enrollment stops as replied and
    the steps still to go are cancelled. Other sequences of the contact go on. Returns how
    many emails were cancelled."""
    ScheduledEmail.objects.filter(pk=email.pk, status=Status.SENT).update(
        status=Status.REPLIED, status_reason=reason[:500]
    )
    Enrollment.objects.filter(
        pk=email.enrollment_id, state__in=[Enrollment.State.ACTIVE, Enrollment.State.PAUSED]
    ).update(
        state=Enrollment.State.STOPPED,
        stop_cause=Enrollment.StopCause.REPLIED,
        stopped_reason=reason[:500],
    )
    return ScheduledEmail.objects.filter(
        enrollment_id=email.enrollment_id, status__in=PENDING_STATUSES
    ).update(status=Status.CANCELLED, status_reason="Contact replied", next_attempt_at=None)


def contacts_unsubscribe(*, contacts: QuerySet[Contact], reason: str) -> int:
    """The contacts asked not to be emailed again (`reason`: how they said so)."""
    ids = list(contacts.values_list("pk", flat=True))
    Contact.objects.filter(pk__in=ids).update(state=Contact.State.UNSUBSCRIBED, state_reason=reason)
    return _stop(
        Contact.objects.filter(pk__in=ids),
        cause=Enrollment.StopCause.UNSUBSCRIBED,
        reason=f"Contact unsubscribed: {reason}",
        cancel_reason="Contact unsubscribed",
        keep=None,
    )


def contact_unsubscribe_one_click(*, email: ScheduledEmail) -> int:
    """The contact used `email`'s unsubscribe link (RFC 8058): unsubscribed, its enrollments
    stopped and its pending emails cancelled, audited for its organization.

    Idempotent: a contact already unsubscribed or suppressed is left as it is (a second
    click, a mail client posting twice). Returns how many emails it cancelled.
    """
    with transaction.atomic():
        # Locked, so that two posts at once unsubscribe and audit once.
        contact = Contact.objects.select_for_update().get(pk=email.contact_id)
        if contact.state in (Contact.State.UNSUBSCRIBED, Contact.State.SUPPRESSED):
            return 0
        # The subject as sent, cut short: the reason is shown beside the contact's state.
        of = f" of “{email.subject[:200]}”" if email.subject else ""
        cancelled = contacts_unsubscribe(
            contacts=Contact.objects.filter(pk=contact.pk), reason=f"One-click link{of}"
        )
        audit_record(
            actor=None,
            actor_label=f"{contact.email} (one-click unsubscribe)",
            organization_id=contact.organization_id,
            action=AuditEntry.Action.UNSUBSCRIBE_CONTACT,
            target=contact,
            email=email.pk,
            cancelled=cancelled,
        )
    return cancelled


def contact_suppress(*, actor: AbstractBaseUser, contact: Contact) -> int:
    """Never email the contact again: stop its enrollments, cancel its pending emails.

    Refuses (WrongState) a contact already suppressed. Returns how many emails it cancelled.
    """
    if contact.state == Contact.State.SUPPRESSED:
        raise WrongState(f"{contact.email} is already suppressed.")
    reason = f"Suppressed by {actor.get_full_name() or actor.get_username()}"
    with transaction.atomic():
        contact.state, contact.state_reason = Contact.State.SUPPRESSED, reason
        contact.save(update_fields=["state", "state_reason"])
        cancelled = _stop(
            Contact.objects.filter(pk=contact.pk),
            cause=Enrollment.StopCause.SUPPRESSED,
            reason=reason,
            cancel_reason="Contact suppressed",
            keep=None,
        )
        audit_record(
            actor=actor,
            organization_id=contact.organization_id,
            action=AuditEntry.Action.SUPPRESS_CONTACT,
            target=contact,
            cancelled=cancelled,
        )
    return cancelled


def contact_update_email(
    *, actor: AbstractBaseUser, contact: Contact, address: str, within: QuerySet[Sequence]
) -> list[ScheduledEmail]:
    """Correct a contact's address and reschedule the emails the old one blocked.

    A bounced contact becomes active again, and the enrollments its bounce stopped resume.
    Only the emails and enrollments of the sequences `within` are touched: those the asker
    manages (a rep's own, never a teammate's). Refuses (ValidationError) an address that is
    not one valid recipient (sequences.addresses), or one that another contact of the
    organization already has.
    """
    normalized = contact_normalize_email(address)
    _refuse_duplicate(
        organization_id=contact.organization_id, address=normalized, exclude=contact.pk
    )
    with transaction.atomic():
        old = contact.email
        was_bounced = contact.state == Contact.State.BOUNCED
        contact.email = normalized
        if was_bounced:
            contact.state, contact.state_reason = Contact.State.ACTIVE, ""
        contact.save(update_fields=["email", "state", "state_reason"])
        emails = contact.emails.filter(sequence__in=within)
        if was_bounced:
            contact.enrollments.filter(
                sequence__in=within,
                state=Enrollment.State.STOPPED,
                stop_cause=Enrollment.StopCause.BOUNCED,
            ).update(state=Enrollment.State.ACTIVE, stop_cause="", stopped_reason="")
            # What the bounce cancelled comes back, each follow-up waiting for its step.
            bounced = emails.filter(status=Status.CANCELLED, status_reason=BOUNCED)
            bounced.update(status=Status.WAITING, status_reason="")
            emails_release_waiting(emails=emails)
        audit_record(
            actor=actor,
            organization_id=contact.organization_id,
            action=AuditEntry.Action.EDIT_CONTACT,
            target=contact,
            old=old,
            new=normalized,
        )
        blocked = emails.filter(status=Status.BLOCKED) | emails.filter(
            status=Status.FAILED, error_category__in=RECIPIENT_CATEGORIES
        )
        return emails_reschedule(actor=actor, emails=blocked)
