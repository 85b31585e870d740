from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from sequences import selectors
from sequences.models import Membership

PAGE_SIZE = 50


def _support_only(request: HttpRequest) -> None:
    membership = selectors.membership_for_user(request.user)
    if membership is None or membership.role != Membership.Role.SUPPORT:
        raise PermissionDenied("Only support staff review organizations.")


@require_GET
def sequence_list(request: HttpRequest) -> HttpResponse:
    membership = selectors.membership_for_user(request.user)
    if membership is not None and membership.role == Membership.Role.SUPPORT:
        return redirect("sequences:organization_list")
    sequences = selectors.sequences_with_counts(
        sequences=selectors.sequences_for_user(user=request.user)
    )
    return render(request, "sequences/sequence_list.html", {"sequences": sequences})


@require_GET
def contact_list(request: HttpRequest) -> HttpResponse:
    contacts = selectors.contacts_for_user(user=request.user).order_by(
        "last_name", "first_name", "pk"
    )
    page = Paginator(contacts, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "sequences/contact_list.html", {"page": page})


@require_GET
def mailbox_list(request: HttpRequest) -> HttpResponse:
    mailboxes = selectors.mailboxes_for_user(user=request.user)
    return render(request, "sequences/mailbox_list.html", {"mailboxes": mailboxes})


@require_GET
def organization_list(request: HttpRequest) -> HttpResponse:
    _support_only(request)
    organizations = selectors.organizations_for_user(user=request.user)
    return render(request, "sequences/organization_list.html", {"organizations": organizations})


@require_GET
def organization_detail(request: HttpRequest, slug: str) -> HttpResponse:
    _support_only(request)
    organization = get_object_or_404(selectors.organizations_for_user(user=request.user), slug=slug)
    context = {
        "organization": organization,
        "sequences": selectors.sequences_with_counts(
            sequences=selectors.sequences_for_user(user=request.user, organization=organization)
        ),
        "mailboxes": selectors.mailboxes_for_user(user=request.user, organization=organization),
    }
    return render(request, "sequences/organization_detail.html", context)
