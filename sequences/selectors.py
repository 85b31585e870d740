"""Reads, scoped to who is asking.

Every view reads through these functions, so the rule "a user sees only what their
role and organization allow" lives in one place and is not re-implemented per view.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Model, Q, QuerySet

from sequences.models import (
    Contact,
    Enrollment,
    Mailbox,
    Membership,
    Organization,
    ScheduledEmail,
    Sequence,
)

_UNSET = object()


def membership_for_user(user: AbstractBaseUser) -> Membership | None:
    """The user's role and organization, read once per request (the user object caches it)."""
    if not user.is_authenticated:
        return None
    membership = getattr(user, "_membership_cache", _UNSET)
    if membership is _UNSET:
        membership = Membership.objects.select_related("organization").filter(user=user).first()
        user._membership_cache = membership
    return membership


def _scoped(
    objects: QuerySet[Model], *, user: AbstractBaseUser, organization: Organization | None, rep: Q
) -> QuerySet[Model]:
    """Rows of the user's organization (a rep's: those matching `rep`); support's chosen one."""
    membership = membership_for_user(user)
    if membership is None:
        return objects.none()
    if membership.role == Membership.Role.SUPPORT:
        return objects.filter(organization=organization) if organization else objects.none()
    objects = objects.filter(organization_id=membership.organization_id)
    if membership.role == Membership.Role.REP:
        objects = objects.filter(rep)
    return objects


def sequences_for_user(
    *, user: AbstractBaseUser, organization: Organization | None = None
) -> QuerySet[Sequence]:
    """Sequences the user may see: a rep's own, an admin's organization's, any for support.

    Support staff review one organization at a time: pass it as `organization`.
    """
    return _scoped(
        Sequence.objects.select_related("mailbox", "owner"),
        user=user,
        organization=organization,
        rep=Q(owner=user),
    )


def sequences_with_counts(*, sequences: QuerySet[Sequence]) -> QuerySet[Sequence]:
    """The sequence list's figures, in the same single query."""
    status = ScheduledEmail.Status
    return sequences.annotate(
        contact_count=Count("emails__enrollment", distinct=True),
        sent_count=Count("emails", filter=Q(emails__status=status.SENT)),
        scheduled_count=Count("emails", filter=Q(emails__status__in=ScheduledEmail.DUE_STATUSES)),
        problem_count=Count(
            "emails", filter=Q(emails__status__in=[status.BLOCKED, status.FAILED, status.RETRYING])
        ),
    ).order_by("name")


def contacts_for_user(
    *, user: AbstractBaseUser, organization: Organization | None = None
) -> QuerySet[Contact]:
    """Contacts the user may see: a rep sees those enrolled in the rep's own sequences."""
    return _scoped(
        Contact.objects.all(),
        user=user,
        organization=organization,
        rep=Q(pk__in=Enrollment.objects.filter(sequence__owner=user).values("contact_id")),
    )


def mailboxes_for_user(
    *, user: AbstractBaseUser, organization: Organization | None = None
) -> QuerySet[Mailbox]:
    """Mailboxes the user may see: a rep sees their own."""
    return _scoped(
        Mailbox.objects.select_related("owner"),
        user=user,
        organization=organization,
        rep=Q(owner=user),
    )


def organizations_for_user(*, user: AbstractBaseUser) -> QuerySet[Organization]:
    """Organizations the user may review: all for support staff, none for anyone else."""
    membership = membership_for_user(user)
    if membership is None or membership.role != Membership.Role.SUPPORT:
        return Organization.objects.none()
    return Organization.objects.annotate(
        sequence_count=Count("sequences", distinct=True),
        mailbox_count=Count("mailboxes", distinct=True),
    )
