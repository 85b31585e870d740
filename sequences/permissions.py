"""Who may apply which fix. Views ask here; templates show only what is allowed."""

from __future__ import annotations

from diagnostics.vocabulary import Fix
from sequences.models import Contact, Mailbox, Membership, Sequence

# What a rep may do to their own sequences, emails and mailbox.
# Fixes on the sequence's mailbox, which a rep may apply only to a mailbox of their own.
MAILBOX_FIXES = {Fix.RESYNC_MAILBOX, Fix.CHECK_DNS_AUTH, Fix.CHECK_BLACKLIST}
REP_FIXES = {Fix.RESCHEDULE, Fix.EDIT_CONTACT, *MAILBOX_FIXES}
ADMIN_FIXES = {Fix.RESCHEDULE, Fix.EDIT_CONTACT, Fix.SUPPRESS_CONTACT, *MAILBOX_FIXES}


def allowed_fixes(membership: Membership | None, sequence: Sequence) -> set[str]:
    """The fixes this member may apply on this sequence's emails (support: none, ever)."""
    if membership is None or membership.organization_id != sequence.organization_id:
        return set()
    if membership.is_admin:
        return set(ADMIN_FIXES)
    if membership.is_rep and sequence.owner_id == membership.user_id:
        fixes = set(REP_FIXES)
        if not membership.organization.reps_may_edit_contacts:
            fixes.discard(Fix.EDIT_CONTACT)
        if sequence.mailbox.owner_id != membership.user_id:
            fixes -= MAILBOX_FIXES
        return fixes
    return set()


def fixes_for_an_admin(mine: set[str], wanted: tuple[str, ...]) -> list[str]:
    """Of the fixes `wanted` (a diagnosis's), those an admin would apply and a member who
    may apply `mine` may not: what a rep asks an admin for."""
    return [fix for fix in wanted if fix in ADMIN_FIXES and fix not in mine]


def may_fix_mailbox(membership: Membership | None, mailbox: Mailbox) -> bool:
    """Resynchronize it, or check its domain: admins, and the rep whose mailbox it is."""
    if membership is None or membership.organization_id != mailbox.organization_id:
        return False
    return membership.is_admin or (membership.is_rep and mailbox.owner_id == membership.user_id)


def may_configure_mailbox(membership: Membership | None, mailbox: Mailbox) -> bool:
    """Change what is checked for it (its DKIM selectors): the organization's admins."""
    return _is_admin_of(membership, mailbox.organization_id)


def may_fix_contact(membership: Membership | None, contact: Contact, fix: str) -> bool:
    """Edit or suppress a contact: admins; reps editing, where the organization allows."""
    if membership is None or membership.organization_id != contact.organization_id:
        return False
    if membership.is_admin:
        return fix in ADMIN_FIXES
    return (
        membership.is_rep
        and fix == Fix.EDIT_CONTACT
        and membership.organization.reps_may_edit_contacts
        and contact.enrollments.filter(sequence__owner_id=membership.user_id).exists()
    )


def may_edit_contacts(membership: Membership | None) -> bool:
    """Add, import, edit or unsubscribe the contacts one sees: admins, and reps where the
    organization allows it (support staff review, never change)."""
    if membership is None or membership.organization_id is None:
        return False
    return membership.is_admin or (
        membership.is_rep and membership.organization.reps_may_edit_contacts
    )


def may_resend_uncertain(membership: Membership | None, sequence: Sequence) -> bool:
    """Send again an email that was probably delivered (a second copy, perhaps): admins."""
    return _is_admin_of(membership, sequence.organization_id)


def may_manage_sequence(membership: Membership | None, sequence: Sequence) -> bool:
    """Lift the bounce-rate guard's hold on a sequence's first emails: the organization's
    admins, once the contact list is checked."""
    return _is_admin_of(membership, sequence.organization_id)


def may_edit_sequence(membership: Membership | None, sequence: Sequence) -> bool:
    """Rename it, change its mailbox, pause, resume or archive it, write its steps: the
    organization's admins, and the rep who owns it (support: never)."""
    if membership is None or membership.organization_id != sequence.organization_id:
        return False
    return membership.is_admin or (membership.is_rep and sequence.owner_id == membership.user_id)


def may_create_sequence(membership: Membership | None) -> bool:
    """Reps and admins, for their organization."""
    return membership is not None and (membership.is_admin or membership.is_rep)


def _is_admin_of(membership: Membership | None, organization_id: int) -> bool:
    return (
        membership is not None
        and membership.is_admin
        and membership.organization_id == organization_id
    )
