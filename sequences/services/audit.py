"""The audit log: who did what, when, to what."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import models

from sequences.models import AuditEntry, Membership


def audit_record(
    *,
    actor: AbstractBaseUser,
    organization_id: int,
    action: str,
    target: models.Model,
    **detail: object,
) -> AuditEntry:
    return AuditEntry.objects.create(
        organization_id=organization_id,
        actor=actor,
        actor_label=actor.get_full_name() or actor.get_username(),
        action=action,
        target_type=type(target).__name__,
        target_id=str(target.pk),
        target_label=str(target)[:500],
        detail=detail,
    )


def support_review_record(
    *, membership: Membership | None, organization_id: int, target: models.Model, page: str
) -> None:
    """Support staff read customers' data: each page they open is logged for the customer."""
    if membership is not None and membership.is_support:
        audit_record(
            actor=membership.user,
            organization_id=organization_id,
            action=AuditEntry.Action.REVIEW_ACCOUNT,
            target=target,
            page=page,
        )
