"""The audit log: who did what, when, to what."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.utils import timezone

from sequences.models import AuditEntry, Membership


def audit_record(
    *,
    actor: AbstractBaseUser | None,
    organization_id: int,
    action: str,
    target: models.Model,
    actor_label: str = "",
    **detail: object,
) -> AuditEntry:
    """`actor` None is someone outside the product (a contact's one-click unsubscribe),
    named by `actor_label`."""
    return AuditEntry.objects.create(
        organization_id=organization_id,
        actor=actor,
        actor_label=actor_label or actor.get_full_name() or actor.get_username(),
        action=action,
        target_type=type(target).__name__,
        target_id=str(target.pk),
        target_label=str(target)[:500],
        detail=detail,
    )


# Support's htmx refreshes of a page they have open (the Emails tab polls) fold into the
# entry of that page's view: one entry per page and minute, never none.
REVIEW_FOLD_SECONDS = 60


def support_review_record(
    *, membership: Membership | None, organization_id: int, target: models.Model, page: str
) -> None:
    """Support staff read customers' data: each page they read is logged for the customer,
    whatever the request's headers (they are the client's to set)."""
    if membership is None or not membership.is_support:
        return
    page = page[:1000]
    recent = AuditEntry.objects.filter(
        organization_id=organization_id,
        actor=membership.user,
        action=AuditEntry.Action.REVIEW_ACCOUNT,
        detail__page=page,
        created_at__gte=timezone.now() - dt.timedelta(seconds=REVIEW_FOLD_SECONDS),
    )
    if not recent.exists():
        audit_record(
            actor=membership.user,
            organization_id=organization_id,
            action=AuditEntry.Action.REVIEW_ACCOUNT,
            target=target,
            page=page,
        )
