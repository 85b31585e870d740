"""Support staff's review of customer accounts: read-only, and audited for the customer."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from deliverability.selectors import mailboxes_with_failing_checks
from sequences import selectors
from sequences.views import access


@require_GET
def organization_list(request: HttpRequest) -> HttpResponse:
    access.support_only(request)
    health = selectors.organizations_health(
        organizations=selectors.organizations_for_user(user=request.user), now=timezone.now()
    )
    return render(request, "sequences/organization_list.html", {"accounts": health})


@require_GET
def organization_detail(request: HttpRequest, slug: str) -> HttpResponse:
    access.support_only(request)
    organization = access.found(selectors.organization_for_user(user=request.user, slug=slug))
    access.review_record(request, organization_id=organization.pk, target=organization)
    context = {
        "organization": organization,
        "sequences": selectors.sequences_with_counts(
            sequences=selectors.sequences_for_user(user=request.user, organization=organization)
        ),
        "mailboxes": mailboxes_with_failing_checks(
            mailboxes=selectors.mailboxes_for_user(user=request.user, organization=organization)
        ),
        "days": selectors.account_daily_attempts(organization=organization, now=timezone.now()),
        "errors": selectors.account_frequent_errors(organization=organization),
        "fixes": selectors.account_fixes(organization=organization),
        "search": request.GET.get("q", ""),
        "found": selectors.emails_found(organization=organization, query=request.GET.get("q", "")),
    }
    return render(request, "sequences/organization_detail.html", context)
