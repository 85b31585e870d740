"""Checking a mailbox's domain on demand, following a run, and the DKIM selectors to check.

The results themselves are shown on the mailbox's page (sequences.views.mailboxes) and in
the Emails tab's popover.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from deliverability import selectors, services
from deliverability.models import DomainCheckRun
from sequences import permissions
from sequences.views import access


@require_POST
def check_request(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox_for_user(request, pk)
    if not permissions.may_fix_mailbox(access.membership(request), mailbox):
        raise PermissionDenied("Your role may not check this mailbox's domain.")
    scope = request.POST.get("scope", DomainCheckRun.Scope.ALL)
    if scope not in DomainCheckRun.Scope.values:
        return HttpResponse("Unknown check.", status=400, content_type="text/plain")
    run = services.domain_check_request(actor=request.user, mailbox=mailbox, scope=scope)
    if not request.htmx:
        messages.info(request, f"Checking {run.domain}…")
        return redirect("sequences:mailbox_detail", mailbox.pk)
    return _run_status(request, run)


@require_GET
def check_status(request: HttpRequest, pk: int, run_pk: int) -> HttpResponse:
    mailbox = access.get_mailbox_for_user(request, pk)
    run = access.found(selectors.domain_check_run_for_mailbox(mailbox=mailbox, pk=run_pk))
    access.review_record(request, organization_id=mailbox.organization_id, target=run)
    return _run_status(request, run)


def _run_status(request: HttpRequest, run: DomainCheckRun) -> HttpResponse:
    # brief: counts only, for the mailbox page, which shows the results themselves.
    brief = bool(request.GET.get("brief") or request.POST.get("brief"))
    context = {"run": run, "brief": brief}
    if run.finished_at is not None:
        context["summary"] = selectors.domain_check_run_summary(run=run)
    response = render(request, "deliverability/_check_status.html", context)
    if run.finished_at is not None:
        # The mailbox page refreshes its table of latest results.
        trigger_client_event(response, "domain-checked")
    return response


@require_POST
def dkim_selectors(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = access.get_mailbox_for_user(request, pk)
    if not permissions.may_configure_mailbox(access.membership(request), mailbox):
        raise PermissionDenied("Only an admin may change what is checked for this mailbox.")
    try:
        services.mailbox_set_dkim_selectors(
            actor=request.user, mailbox=mailbox, selectors=request.POST.get("selectors", "")
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "DKIM selectors saved; they are checked from the next check.")
    return redirect("sequences:mailbox_detail", mailbox.pk)
