from __future__ import annotations

import datetime as dt
from collections import Counter
from urllib.parse import urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget, trigger_client_event

from diagnostics.deliverability import Verdict
from diagnostics.deliverability.dkim import PROVIDER_SELECTORS
from diagnostics.diagnosis import diagnose
from diagnostics.vocabulary import Category, Fix
from sequences import permissions, selectors
from sequences.models import Contact, DomainCheck, Membership, ScheduledEmail, Sequence
from sequences.services import fixes
from sequences.services.audit import support_review_record
from sequences.services.mailboxes import mailbox_held_emails

PAGE_SIZE = 50


def _page_size(params: QueryDict) -> int:
    try:
        return min(max(int(params.get("size", PAGE_SIZE)), 10), 200)
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
    mailboxes = selectors.mailboxes_with_failing_checks(
        selectors.mailboxes_for_user(user=request.user)
    )
    return render(request, "sequences/mailbox_list.html", {"mailboxes": mailboxes})


@require_GET
def mailbox_detail(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = selectors.mailbox_for_user(user=request.user, pk=pk)
    membership = selectors.membership_for_user(request.user)
    if not request.htmx:
        support_review_record(
            membership=membership,
            organization_id=mailbox.organization_id,
            target=mailbox,
            page=request.path,
        )
    checks = list(selectors.mailbox_domain_checks(mailbox=mailbox))
    if membership is not None and membership.role == Membership.Role.SUPPORT:
        back = (
            reverse("sequences:organization_detail", args=[mailbox.organization.slug]),
            mailbox.organization.name,
        )
    else:
        back = (reverse("sequences:mailbox_list"), "Mailboxes")
    context = {
        "mailbox": mailbox,
        "provider_selectors": ", ".join(PROVIDER_SELECTORS.get(mailbox.provider, ())),
        "back_url": back[0],
        "back_label": back[1],
        "results": selectors.mailbox_domain_results(mailbox=mailbox),
        "checks": checks,
        "running": [check for check in checks if check.in_progress],
        "may_check": permissions.may_fix_mailbox(membership, mailbox),
        "may_configure": permissions.may_configure_mailbox(membership, mailbox),
        "scopes": [
            (scope, Fix(scope).label) for scope in (Fix.CHECK_DNS_AUTH, Fix.CHECK_BLACKLIST)
        ],
    }
    return render(request, "sequences/mailbox_detail.html", context)


@require_POST
def mailbox_check(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = selectors.mailbox_for_user(user=request.user, pk=pk)
    if not permissions.may_fix_mailbox(selectors.membership_for_user(request.user), mailbox):
        raise PermissionDenied("Your role may not check this mailbox's domain.")
    scope = request.POST.get("scope", DomainCheck.Scope.ALL)
    if scope not in DomainCheck.Scope.values:
        return HttpResponse("Unknown check.", status=400)
    check = fixes.mailbox_check_request(actor=request.user, mailbox=mailbox, scope=scope)
    if not request.htmx:
        messages.info(request, f"Checking {check.domain}…")
        return redirect("sequences:mailbox_detail", mailbox.pk)
    return _check_status(request, check)


@require_GET
def mailbox_check_status(request: HttpRequest, pk: int, check_pk: int) -> HttpResponse:
    mailbox = selectors.mailbox_for_user(user=request.user, pk=pk)
    check = get_object_or_404(mailbox.domain_checks, pk=check_pk)
    return _check_status(request, check)


SEVERITY = (Verdict.FAIL, Verdict.WARNING, Verdict.UNCHECKED)


def _check_status(request: HttpRequest, check: DomainCheck) -> HttpResponse:
    # brief: counts only, for the mailbox page, which shows the results themselves.
    brief = bool(request.GET.get("brief") or request.POST.get("brief"))
    context = {"check": check, "brief": brief}
    if check.finished_at is not None:
        results = list(check.results.all())
        context["counts"] = Counter(result.verdict for result in results)
        # What to act on first; what passed, in one line.
        context["problems"] = sorted(
            (result for result in results if result.verdict != Verdict.PASS),
            key=lambda result: SEVERITY.index(result.verdict),
        )
        context["passed"] = [result for result in results if result.verdict == Verdict.PASS]
    response = render(request, "sequences/_domain_check_status.html", context)
    if check.finished_at is not None:
        # The mailbox page refreshes its table of latest results.
        trigger_client_event(response, "domain-checked")
    return response


@require_POST
def mailbox_dkim_selectors(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = selectors.mailbox_for_user(user=request.user, pk=pk)
    if not permissions.may_configure_mailbox(selectors.membership_for_user(request.user), mailbox):
        raise PermissionDenied("Only an admin may change what is checked for this mailbox.")
    try:
        fixes.mailbox_set_dkim_selectors(
            actor=request.user, mailbox=mailbox, selectors=request.POST.get("selectors", "")
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "DKIM selectors saved; they are checked from the next check.")
    return redirect("sequences:mailbox_detail", mailbox.pk)


@require_GET
def organization_list(request: HttpRequest) -> HttpResponse:
    _support_only(request)
    health = selectors.organizations_health(
        organizations=selectors.organizations_for_user(user=request.user), now=timezone.now()
    )
    return render(request, "sequences/organization_list.html", {"accounts": health})


@require_GET
def organization_detail(request: HttpRequest, slug: str) -> HttpResponse:
    _support_only(request)
    organization = get_object_or_404(selectors.organizations_for_user(user=request.user), slug=slug)
    support_review_record(
        membership=selectors.membership_for_user(request.user),
        organization_id=organization.pk,
        target=organization,
        page=request.path,
    )
    context = {
        "organization": organization,
        "sequences": selectors.sequences_with_counts(
            sequences=selectors.sequences_for_user(user=request.user, organization=organization)
        ),
        "mailboxes": selectors.mailboxes_with_failing_checks(
            selectors.mailboxes_for_user(user=request.user, organization=organization)
        ),
        "days": selectors.account_daily_attempts(organization=organization, now=timezone.now()),
        "errors": [
            {**row, "diagnosis": diagnose(row["raw_error"])}
            for row in selectors.account_frequent_errors(organization=organization)
        ],
        "fixes": selectors.account_fixes(organization=organization),
    }
    return render(request, "sequences/organization_detail.html", context)


def _sequence_to_view(request: HttpRequest, pk: int) -> Sequence:
    """The sequence, if the user may see it; a support review of it is logged."""
    sequence = selectors.sequence_for_user(user=request.user, pk=pk)
    if not request.htmx:  # the page, not its refreshes
        support_review_record(
            membership=selectors.membership_for_user(request.user),
            organization_id=sequence.organization_id,
            target=sequence,
            page=request.path,
        )
    return sequence


@require_GET
def sequence_overview(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = _sequence_to_view(request, pk)
    context = {"sequence": sequence, "tab": "overview", "steps": sequence.steps.all()}
    return render(request, "sequences/sequence_overview.html", context)


@require_GET
def sequence_contacts(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = _sequence_to_view(request, pk)
    enrollments = selectors.enrollments_for_sequence(sequence=sequence)
    page = Paginator(enrollments, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"sequence": sequence, "tab": "contacts", "page": page}
    return render(request, "sequences/sequence_contacts.html", context)


@require_GET
def sequence_emails(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = _sequence_to_view(request, pk)
    context = _table_context(request, sequence, request.GET)
    template = "sequences/sequence_emails.html"
    if request.htmx and not request.htmx.boosted:
        template += "#emails-table"
    else:
        context |= {
            "tab": "emails",
            "triage": selectors.email_triage(sequence=sequence),
            "statuses": ScheduledEmail.Status.choices,
            "categories": Category.choices,
        }
    return render(request, template, context)


@require_GET
def email_timeline(request: HttpRequest, pk: int, email_pk: int) -> HttpResponse:
    sequence = _sequence_to_view(request, pk)
    email = get_object_or_404(
        sequence.emails.select_related("contact", "step", "mailbox"), pk=email_pk
    )
    attempts = list(email.attempts.order_by("number"))
    for attempt in attempts:
        attempt.diagnosis = diagnose(attempt.raw_error) if attempt.raw_error else None
    context = {"sequence": sequence, "tab": "emails", "email": email, "attempts": attempts}
    return render(request, "sequences/email_timeline.html", context)


def _fix_allowed(request: HttpRequest, sequence: Sequence, fix: str) -> None:
    membership = selectors.membership_for_user(request.user)
    if fix not in permissions.allowed_fixes(membership, sequence):
        raise PermissionDenied("Your role may not apply this fix.")


def _table_context(request: HttpRequest, sequence: Sequence, params: QueryDict) -> dict:
    membership = selectors.membership_for_user(request.user)
    return {
        "sequence": sequence,
        "filters": (filters := selectors.EmailFilters.from_params(params)),
        "page": selectors.emails_for_sequence(
            sequence=sequence,
            filters=filters,
            cursor=params.get("after", ""),
            size=_page_size(params),
        ),
        "fixes": permissions.allowed_fixes(membership, sequence),
        "held": mailbox_held_emails(mailbox=sequence.mailbox).count(),
        "reschedulable": fixes.RESCHEDULABLE,
        # Read only if a popover shows a refusal that DNS records or blocklists explain.
        "domain_failing": selectors.mailbox_failing_checks(mailbox=sequence.mailbox),
    }


def _after_fix(request: HttpRequest, sequence: Sequence, message: str) -> HttpResponse:
    """The table again, with the filters the user had, and the fix's confirmation."""
    if not request.htmx:
        messages.success(request, message)
        return redirect("sequences:emails", sequence.pk)
    params = QueryDict(urlsplit(request.htmx.current_url or "").query)
    context = _table_context(request, sequence, params)
    response = render(request, "sequences/sequence_emails.html#emails-table", context)
    return trigger_client_event(response, "toast", {"message": message})


def _refused(request: HttpRequest, sequence: Sequence, target: str, error: str) -> HttpResponse:
    if not request.htmx:
        messages.error(request, error)
        return redirect("sequences:emails", sequence.pk)
    response = render(request, "sequences/_fix_error.html", {"error": error})
    return reswap(retarget(response, target), "innerHTML")


def _when(emails: list[ScheduledEmail]) -> str:
    times = sorted(timezone.localtime(e.next_attempt_at) for e in emails)
    if not times:
        return "nothing to reschedule"
    if times[0].date() == times[-1].date():
        return f"going out from {times[0]:%b %-d, %H:%M}"
    return f"going out between {times[0]:%b %-d, %H:%M} and {times[-1]:%b %-d, %H:%M}"


@require_POST
def emails_reschedule(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = selectors.sequence_for_user(user=request.user, pk=pk)
    _fix_allowed(request, sequence, Fix.RESCHEDULE)
    emails = sequence.emails.filter(
        pk__in=[i for i in request.POST.getlist("email") if i.isdigit()]
    )
    if request.POST.get("status"):
        emails = sequence.emails.filter(
            status=request.POST["status"], error_category=request.POST.get("category", "")
        )
    done = fixes.emails_reschedule(actor=request.user, emails=emails)
    return _after_fix(request, sequence, f"{len(done)} rescheduled, {_when(done)}.")


def _contact_to_fix(
    request: HttpRequest, pk: int, contact_pk: int, fix: str
) -> tuple[Sequence, Contact]:
    """The sequence (seen from) and its organization's contact, if the user may `fix` it."""
    sequence = selectors.sequence_for_user(user=request.user, pk=pk)
    contact = get_object_or_404(sequence.organization.contacts, pk=contact_pk)
    if not permissions.may_fix_contact(selectors.membership_for_user(request.user), contact, fix):
        raise PermissionDenied("Your role may not apply this fix to contacts.")
    return sequence, contact


@require_POST
def contact_edit_email(request: HttpRequest, pk: int, contact_pk: int) -> HttpResponse:
    sequence, contact = _contact_to_fix(request, pk, contact_pk, Fix.EDIT_CONTACT)
    try:
        done = fixes.contact_update_email(
            actor=request.user, contact=contact, address=request.POST.get("address", "")
        )
    except ValidationError as error:
        return _refused(request, sequence, f"#contact-error-{contact.pk}", error.messages[0])
    message = f"{contact.email} saved: {len(done)} email{'s' if len(done) != 1 else ''} "
    return _after_fix(request, sequence, message + f"rescheduled, {_when(done)}.")


@require_POST
def contact_suppress(request: HttpRequest, pk: int, contact_pk: int) -> HttpResponse:
    sequence, contact = _contact_to_fix(request, pk, contact_pk, Fix.SUPPRESS_CONTACT)
    cancelled = fixes.contact_suppress(actor=request.user, contact=contact)
    return _after_fix(
        request, sequence, f"{contact.email} suppressed; {cancelled} pending emails cancelled."
    )


@require_POST
def mailbox_resync(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = get_object_or_404(selectors.mailboxes_for_user(user=request.user), pk=pk)
    if not permissions.may_fix_mailbox(selectors.membership_for_user(request.user), mailbox):
        raise PermissionDenied("Your role may not resynchronize this mailbox.")
    # Taken before the task is queued: a fast worker may finish before the next line.
    since = timezone.now()
    fixes.mailbox_resync_request(actor=request.user, mailbox=mailbox)
    if not request.htmx:
        messages.info(request, f"Checking {mailbox.email}…")
        return redirect("sequences:mailbox_list")
    context = {"mailbox": mailbox, "since": since.isoformat()}
    return render(request, "sequences/_resync_status.html", context)


@require_GET
def mailbox_resync_status(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = get_object_or_404(selectors.mailboxes_for_user(user=request.user), pk=pk)
    try:
        since = dt.datetime.fromisoformat(request.GET.get("since", ""))
    except ValueError:
        since = timezone.now()
    context = {"mailbox": mailbox, "since": since.isoformat()}
    if mailbox.last_checked_at and mailbox.last_checked_at >= since:
        context["done"] = True
        context["diagnosis"] = diagnose(mailbox.last_error) if mailbox.last_error else None
        rescheduled = list(
            mailbox.emails.filter(status=ScheduledEmail.Status.SCHEDULED, updated_at__gte=since)
        )
        context["rescheduled"] = len(rescheduled)
        context["when"] = _when(rescheduled)
    return render(request, "sequences/_resync_status.html", context)


@require_POST
def sequence_resume(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = selectors.sequence_for_user(user=request.user, pk=pk)
    membership = selectors.membership_for_user(request.user)
    if not permissions.may_manage_sequence(membership, sequence):
        raise PermissionDenied("Only an admin may resume a paused sequence.")
    fixes.sequence_resume_first_steps(actor=request.user, sequence=sequence)
    messages.success(request, "First emails to new contacts resume.")
    return redirect("sequences:emails", sequence.pk)
