"""Who is asking, and what they may see: the access helpers every view starts with."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest, QueryDict

from sequences import selectors
from sequences.models import Mailbox, Membership, Sequence
from sequences.selectors import MAX_ID
from sequences.services.audit import support_review_record

PAGE_SIZE = 50


def membership(request: HttpRequest) -> Membership | None:
    return selectors.membership_for_user(request.user)


def page_size(params: QueryDict) -> int:
    try:
        return min(max(int(params.get("size", PAGE_SIZE)), 10), 200)
    except ValueError:
        return PAGE_SIZE


def ids(values: list[str]) -> list[int]:
    """The database ids among `values`: ASCII digits that a key can hold ("²" is a digit to
    str.isdigit, not to int), anything else dropped."""
    return [int(v) for v in values if v.isascii() and v.isdigit() and 0 < int(v) <= MAX_ID]


def support_only(request: HttpRequest) -> None:
    found = membership(request)
    if found is None or not found.is_support:
        raise PermissionDenied("Only support staff review organizations.")


def found(thing: models.Model | None) -> models.Model:
    """The object a selector found for the user, or 404: not theirs to know about."""
    if thing is None:
        raise Http404("Not found.")
    return thing


def review_record(request: HttpRequest, *, organization_id: int, target: models.Model) -> None:
    """A page support staff read is logged for the customer (sequences.services.audit)."""
    support_review_record(
        membership=membership(request),
        organization_id=organization_id,
        target=target,
        page=request.get_full_path(),
    )


def get_sequence_for_user(request: HttpRequest, pk: int) -> Sequence:
    """The sequence, if the user may see it, or 404."""
    return found(selectors.sequence_for_user(user=request.user, pk=pk))


def get_sequence_to_view(request: HttpRequest, pk: int) -> Sequence:
    """The sequence, if the user may see it; a support review of its page is logged."""
    sequence = get_sequence_for_user(request, pk)
    review_record(request, organization_id=sequence.organization_id, target=sequence)
    return sequence


def get_mailbox_for_user(request: HttpRequest, pk: int) -> Mailbox:
    """The mailbox, if the user may see it (support: to review), or 404."""
    return found(selectors.mailbox_for_user(user=request.user, pk=pk))


def get_own_mailbox(request: HttpRequest, pk: int) -> Mailbox:
    """The mailbox, within the user's own scope (never support's review), or 404."""
    return found(selectors.own_mailbox_for_user(user=request.user, pk=pk))
