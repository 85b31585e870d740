"""A sequence's pages (overview, contacts, Emails tab, an email's timeline) and its fixes."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget, trigger_client_event

from deliverability.selectors import mailbox_failing_checks
from diagnostics.vocabulary import Category, Fix
from sequences import permissions, selectors
from sequences.models import Contact, ScheduledEmail, Sequence
from sequences.services.contacts import contact_suppress, contact_update_email
from sequences.services.emails import emails_reschedule
from sequences.services.errors import WrongState
from sequences.services.sequences import sequence_resume_first_steps
from sequences.views import access


@require_GET
def sequence_list(request: HttpRequest) -> HttpResponse:
    membership = access.membership(request)
    if membership is not None and membership.is_support:
        return redirect("sequences:organization_list")
    archived = request.GET.get("archived") == "1"
    sequences = selectors.sequences_with_counts(
        sequences=selectors.sequences_listed(user=request.user, archived=archived)
    )
    context = {
        "sequences": sequences,
        "archived": archived,
        "may_create": permissions.may_create_sequence(membership),
    }
    return render(request, "sequences/sequence_list.html", context)


def _page_context(request: HttpRequest, sequence: Sequence, tab: str) -> dict:
    """What every tab of a sequence shows: its header, whether the user may lift the bounce
    guard (`may_manage`) and change the sequence (`may_edit`)."""
    membership = access.membership(request)
    return {
        "sequence": sequence,
        "tab": tab,
        "may_manage": permissions.may_manage_sequence(membership, sequence),
        "may_edit": permissions.may_edit_sequence(membership, sequence),
    }


@require_GET
def sequence_overview(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = access.get_sequence_to_view(request, pk)
    context = _page_context(request, sequence, "overview") | {
        "steps": selectors.steps_for_sequence(sequence=sequence),
        "outcomes": selectors.sequence_outcomes(sequence=sequence),
    }
    return render(request, "sequences/sequence_overview.html", context)


@require_GET
def sequence_contacts(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = access.get_sequence_to_view(request, pk)
    enrollments = selectors.enrollments_for_sequence(sequence=sequence)
    page = Paginator(enrollments, access.PAGE_SIZE).get_page(request.GET.get("page"))
    context = _page_context(request, sequence, "contacts") | {"page": page}
    return render(request, "sequences/sequence_contacts.html", context)


@require_GET
def sequence_emails(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = access.get_sequence_to_view(request, pk)
    context = _table_context(request, sequence, request.GET)
    if request.htmx:
        return render(request, "sequences/sequence_emails.html#emails-table", context)
    context |= _page_context(request, sequence, "emails") | {
        "statuses": ScheduledEmail.Status.choices,
        "categories": Category.choices,
    }
    return render(request, "sequences/sequence_emails.html", context)


@require_GET
def email_timeline(request: HttpRequest, pk: int, email_pk: int) -> HttpResponse:
    sequence = access.get_sequence_to_view(request, pk)
    email = access.found(selectors.email_for_sequence(sequence=sequence, pk=email_pk))
    context = _page_context(request, sequence, "emails") | {
        "email": email,
        "attempts": email.diagnosed_attempts,
        # Back to the emails as they were filtered when the timeline was opened.
        "filter_query": _filters(request.GET).query_string(),
    }
    return render(request, "sequences/email_timeline.html", context)


def _filters(params: QueryDict) -> selectors.EmailFilters:
    return selectors.EmailFilters.clean(
        status=params.get("status", ""),
        category=params.get("category", ""),
        query=params.get("q", ""),
        view=params.get("view", ""),
    )


def _fix_allowed(request: HttpRequest, sequence: Sequence, fix: str) -> None:
    if fix not in permissions.allowed_fixes(access.membership(request), sequence):
        raise PermissionDenied("Your role may not apply this fix.")


def _table_context(request: HttpRequest, sequence: Sequence, params: QueryDict) -> dict:
    now = timezone.now()
    membership = access.membership(request)
    triage = selectors.email_triage(sequence=sequence, now=now)
    # The emails the "Needs attention" view lists (a stuck send is the next dispatch's).
    attention = sum(group.count for group in triage if not group.stuck)
    filters = _filters(params).resolved(problems=attention > 0)
    # The page's own URL with its filters and the view it resolved to, which the table
    # polls (a fix's POST URL answers nothing to a GET) without switching views under the
    # reader once the problems are fixed.
    polled = params.copy()
    if filters.stated_view:
        polled["view"] = filters.stated_view
    return {
        "sequence": sequence,
        # Whom a rep asks for an admin's fix: read once, and only if a row needs one.
        "ask_admins": functools.cache(
            lambda: selectors.organization_admins(organization_id=sequence.organization_id)
        )
        if membership is not None and membership.is_rep
        else "",
        "filters": filters,
        "filter_query": filters.query_string(),
        "views": selectors.EMAIL_VIEWS,
        "attention": attention,
        "table_url": f"{reverse('sequences:emails', args=[sequence.pk])}?{polled.urlencode()}",
        "live": selectors.sequence_in_flight(sequence=sequence, now=now),
        # Redrawn with the table (out of band, for htmx), so that it never contradicts it.
        "triage": triage,
        "page": selectors.emails_for_sequence(
            sequence=sequence,
            filters=filters,
            cursor=params.get("after", ""),
            before=params.get("before", ""),
            size=access.page_size(params),
        ),
        "fixes": permissions.allowed_fixes(access.membership(request), sequence),
        "may_resend_uncertain": permissions.may_resend_uncertain(
            access.membership(request), sequence
        ),
        "held": selectors.mailbox_held_emails(mailbox=sequence.mailbox).count(),
        # Read only if a popover shows a refusal that DNS records or blocklists explain.
        "domain_failing": mailbox_failing_checks(mailbox=sequence.mailbox),
    }


def _after_fix(request: HttpRequest, sequence: Sequence, message: str) -> HttpResponse:
    """The table again, with the filters the user had, and the fix's confirmation."""
    if not request.htmx:
        messages.success(request, message)
        return redirect("sequences:emails", sequence.pk)
    try:  # the filters of the page the fix was made on; a header is the client's to set
        params = QueryDict(urlsplit(request.htmx.current_url or "").query)
    except ValueError:
        params = QueryDict()
    context = _table_context(request, sequence, params)
    response = render(request, "sequences/sequence_emails.html#emails-table", context)
    return trigger_client_event(response, "toast", {"message": message})


def _refused(request: HttpRequest, sequence: Sequence, target: str, error: str) -> HttpResponse:
    if not request.htmx:
        messages.error(request, error)
        return redirect("sequences:emails", sequence.pk)
    response = render(request, "sequences/_fix_error.html", {"error": error})
    return reswap(retarget(response, target), "innerHTML")


def when(emails: list[ScheduledEmail]) -> str:
    """When rescheduled emails go out, in words: "going out from Dec 2, 14:00"."""
    times = sorted(timezone.localtime(e.next_attempt_at) for e in emails)
    if not times:
        return "nothing to reschedule"
    if times[0].date() == times[-1].date():
        return f"going out from {times[0]:%b %-d, %H:%M}"
    return f"going out between {times[0]:%b %-d, %H:%M} and {times[-1]:%b %-d, %H:%M}"


@require_POST
def emails_reschedule_view(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = access.get_sequence_for_user(request, pk)
    _fix_allowed(request, sequence, Fix.RESCHEDULE)
    emails = selectors.emails_to_reschedule(
        sequence=sequence,
        ids=access.ids(request.POST.getlist("email")),
        status=request.POST.get("status", ""),
        category=request.POST.get("category", ""),
    )
    done = emails_reschedule(actor=request.user, emails=emails)
    return _after_fix(request, sequence, f"{len(done)} rescheduled, {when(done)}.")


@require_POST
def email_resend_uncertain(request: HttpRequest, pk: int, email_pk: int) -> HttpResponse:
    """An admin's "Send again anyway" for an email that was probably delivered."""
    sequence = access.get_sequence_for_user(request, pk)
    if not permissions.may_resend_uncertain(access.membership(request), sequence):
        raise PermissionDenied("Only an admin may send an uncertain email again.")
    email = access.found(
        sequence.emails.filter(
            pk=email_pk,
            status=ScheduledEmail.Status.BLOCKED,
            error_code=ScheduledEmail.DELIVERY_UNCERTAIN,
        ).first()
    )
    done = emails_reschedule(
        actor=request.user, emails=ScheduledEmail.objects.filter(pk=email.pk), uncertain=True
    )
    return _after_fix(
        request,
        sequence,
        f"Sent again anyway, {when(done)}: if the first one arrived, {email.contact.email} "
        "gets two copies.",
    )


def _contact_to_fix(
    request: HttpRequest, pk: int, contact_pk: int, fix: str
) -> tuple[Sequence, Contact]:
    """The sequence (seen from) and its organization's contact, if the user may `fix` it."""
    sequence = access.get_sequence_for_user(request, pk)
    contact = access.found(selectors.contact_for_sequence(sequence=sequence, pk=contact_pk))
    if not permissions.may_fix_contact(access.membership(request), contact, fix):
        raise PermissionDenied("Your role may not apply this fix to contacts.")
    return sequence, contact


@require_POST
def contact_edit_email(request: HttpRequest, pk: int, contact_pk: int) -> HttpResponse:
    sequence, contact = _contact_to_fix(request, pk, contact_pk, Fix.EDIT_CONTACT)
    try:
        done = contact_update_email(
            actor=request.user,
            contact=contact,
            address=request.POST.get("address", ""),
            within=selectors.sequences_for_user(user=request.user),
        )
    except ValidationError as error:
        return _refused(request, sequence, f"#contact-error-{contact.pk}", error.messages[0])
    message = f"{contact.email} saved: {len(done)} email{'s' if len(done) != 1 else ''} "
    return _after_fix(request, sequence, message + f"rescheduled, {when(done)}.")


@require_POST
def contact_suppress_view(request: HttpRequest, pk: int, contact_pk: int) -> HttpResponse:
    sequence, contact = _contact_to_fix(request, pk, contact_pk, Fix.SUPPRESS_CONTACT)
    try:
        cancelled = contact_suppress(actor=request.user, contact=contact)
    except WrongState as error:
        return HttpResponse(error.message, status=400, content_type="text/plain")
    return _after_fix(
        request, sequence, f"{contact.email} suppressed; {cancelled} pending emails cancelled."
    )


@require_POST
def sequence_resume(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = access.get_sequence_for_user(request, pk)
    if not permissions.may_manage_sequence(access.membership(request), sequence):
        raise PermissionDenied("Only an admin may resume a paused sequence.")
    try:
        sequence_resume_first_steps(actor=request.user, sequence=sequence)
    except WrongState as error:
        return HttpResponse(error.message, status=400, content_type="text/plain")
    messages.success(request, "First emails to new contacts resume.")
    return redirect("sequences:emails", sequence.pk)
