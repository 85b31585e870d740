from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from diagnostics.diagnosis import diagnose
from diagnostics.vocabulary import Category
from sequences import selectors
from sequences.models import Membership, ScheduledEmail

PAGE_SIZE = 50


def _page_size(request: HttpRequest) -> int:
    try:
        return min(max(int(request.GET.get("size", PAGE_SIZE)), 10), 200)
    except ValueError:
        return PAGE_SIZE


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


@require_GET
def sequence_overview(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = selectors.sequence_for_user(user=request.user, pk=pk)
    context = {"sequence": sequence, "tab": "overview", "steps": sequence.steps.all()}
    return render(request, "sequences/sequence_overview.html", context)


@require_GET
def sequence_emails(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = selectors.sequence_for_user(user=request.user, pk=pk)
    filters = selectors.EmailFilters.from_params(request.GET)
    page = selectors.emails_for_sequence(
        sequence=sequence,
        filters=filters,
        cursor=request.GET.get("after", ""),
        size=_page_size(request),
    )
    context = {
        "sequence": sequence,
        "tab": "emails",
        "filters": filters,
        "page": page,
        "statuses": ScheduledEmail.Status.choices,
        "categories": Category.choices,
    }
    template = "sequences/sequence_emails.html"
    if request.htmx and not request.htmx.boosted:
        template += "#emails-table"
    else:
        context["triage"] = selectors.email_triage(sequence=sequence)
    return render(request, template, context)


@require_GET
def email_timeline(request: HttpRequest, pk: int, email_pk: int) -> HttpResponse:
    sequence = selectors.sequence_for_user(user=request.user, pk=pk)
    email = get_object_or_404(
        sequence.emails.select_related("contact", "step", "mailbox"), pk=email_pk
    )
    attempts = list(email.attempts.order_by("number"))
    for attempt in attempts:
        attempt.diagnosis = diagnose(attempt.raw_error) if attempt.raw_error else None
    context = {"sequence": sequence, "tab": "emails", "email": email, "attempts": attempts}
    return render(request, "sequences/email_timeline.html", context)
