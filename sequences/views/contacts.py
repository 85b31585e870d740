"""Contacts: the list with its search, adding and editing one, suppressing or unsubscribing
one on request, CSV imports, enrollment into a sequence and the CSV exports."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from diagnostics.vocabulary import Fix
from sequences import permissions, selectors
from sequences.exports import csv_response
from sequences.forms import ContactForm, ContactImportMappingForm, ContactImportUploadForm
from sequences.models import AuditEntry, Contact, ContactImport
from sequences.services.audit import audit_record
from sequences.services.contacts import (
    DETAIL_FIELDS,
    contact_add,
    contact_suppress,
    contact_unsubscribe_on_request,
    contact_update,
)
from sequences.services.enrollment import enrollment_stop, enrollments_create
from sequences.services.errors import WrongState
from sequences.services.imports import (
    contact_import_preview,
    contact_import_start,
    contact_import_upload,
    guess_mapping,
)
from sequences.views import access


def _may_edit(request: HttpRequest) -> None:
    if not permissions.may_edit_contacts(access.membership(request)):
        raise PermissionDenied("Your role may not change contacts.")


def _contact(request: HttpRequest, pk: int) -> Contact:
    """One of the contacts the user sees, or 404."""
    return access.found(selectors.contacts_for_user(user=request.user).filter(pk=pk).first())


def _refused(error: WrongState) -> HttpResponse:
    return HttpResponse(error.message, status=400, content_type="text/plain")


@require_GET
def contact_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    contacts = selectors.contacts_search(
        contacts=selectors.contacts_for_user(user=request.user), query=query
    )
    page = Paginator(contacts, access.PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "q": query.strip()[:200],
        "may_edit": permissions.may_edit_contacts(access.membership(request)),
        "sequences": selectors.sequences_for_user(user=request.user).order_by("name"),
    }
    if request.htmx:
        return render(request, "sequences/contact_list.html#contact-table", context)
    return render(request, "sequences/contact_list.html", context)


@require_http_methods(["GET", "POST"])
def contact_add_view(request: HttpRequest) -> HttpResponse:
    _may_edit(request)
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            contact = contact_add(
                actor=request.user,
                organization_id=access.membership(request).organization_id,
                **form.cleaned_data,
            )
        except ValidationError as error:
            form.add_error("email", error)
        else:
            messages.success(request, f"{contact.email} added.")
            return redirect("sequences:contact_list")
    return render(request, "sequences/contact_form.html", {"form": form, "contact": None})


@require_http_methods(["GET", "POST"])
def contact_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    contact = _contact(request, pk)
    _may_edit(request)
    initial = {name: getattr(contact, name) for name in ("email", *DETAIL_FIELDS)}
    form = ContactForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            done = contact_update(
                actor=request.user,
                contact=contact,
                within=selectors.sequences_for_user(user=request.user),
                **form.cleaned_data,
            )
        except ValidationError as error:
            form.add_error("email", error)
        else:
            messages.success(request, f"{contact.email} saved; {len(done)} emails rescheduled.")
            return redirect("sequences:contact_list")
    return render(request, "sequences/contact_form.html", {"form": form, "contact": contact})


@require_POST
def contact_suppress_on_request(request: HttpRequest, pk: int) -> HttpResponse:
    contact = _contact(request, pk)
    if not permissions.may_fix_contact(access.membership(request), contact, Fix.SUPPRESS_CONTACT):
        raise PermissionDenied("Only an admin may suppress a contact.")
    try:
        cancelled = contact_suppress(actor=request.user, contact=contact)
    except WrongState as error:
        return _refused(error)
    messages.success(request, f"{contact.email} suppressed; {cancelled} pending emails cancelled.")
    return redirect("sequences:contact_edit", contact.pk)


@require_POST
def contact_unsubscribe(request: HttpRequest, pk: int) -> HttpResponse:
    contact = _contact(request, pk)
    _may_edit(request)
    try:
        cancelled = contact_unsubscribe_on_request(actor=request.user, contact=contact)
    except WrongState as error:
        return _refused(error)
    messages.success(
        request, f"{contact.email} unsubscribed; {cancelled} pending emails cancelled."
    )
    return redirect("sequences:contact_edit", contact.pk)


@require_POST
def contacts_enroll(request: HttpRequest) -> HttpResponse:
    """Enroll the selected contacts, or those of an import, into one of the user's
    sequences (a rep's own; support staff have none)."""
    ids = access.ids(request.POST.getlist("sequence"))
    sequence = access.found(
        selectors.sequences_for_user(user=request.user).filter(pk__in=ids[:1]).first()
    )
    contacts = selectors.contacts_for_user(user=request.user)
    imports = access.ids(request.POST.getlist("import"))
    if imports:
        contacts = contacts.filter(contact_import_id=imports[0])
    else:
        contacts = contacts.filter(pk__in=access.ids(request.POST.getlist("contact")))
    try:
        result = enrollments_create(actor=request.user, sequence=sequence, contacts=contacts)
    except WrongState as error:
        return _refused(error)
    messages.success(request, f"{sequence.name}: {result.summary()}")
    return redirect("sequences:contacts", sequence.pk)


@require_POST
def enrollment_unenroll(request: HttpRequest, pk: int, enrollment_pk: int) -> HttpResponse:
    sequence = access.get_sequence_for_user(request, pk)
    membership = access.membership(request)
    if membership is None or membership.is_support:
        raise PermissionDenied("Support staff review sequences, and change nothing.")
    enrollment = access.found(
        selectors.enrollment_for_sequence(sequence=sequence, pk=enrollment_pk)
    )
    try:
        cancelled = enrollment_stop(actor=request.user, enrollment=enrollment)
    except WrongState as error:
        return _refused(error)
    messages.success(
        request, f"{enrollment.contact.email} unenrolled; {cancelled} pending emails cancelled."
    )
    return redirect("sequences:contacts", sequence.pk)


@require_GET
def contacts_export(request: HttpRequest) -> StreamingHttpResponse:
    """The contacts the user sees, as CSV; audited, as every export of customer data."""
    membership = access.membership(request)
    if membership is None or membership.organization is None:
        raise PermissionDenied("Support staff review accounts: they export no contact list.")
    columns = ("email", *DETAIL_FIELDS, "state", "state_reason", "created_at")
    audit_record(
        actor=request.user,
        organization_id=membership.organization_id,
        action=AuditEntry.Action.EXPORT_CONTACTS,
        target=membership.organization,
    )
    rows = (
        selectors.contacts_for_user(user=request.user)
        .values_list(*columns)
        .iterator(chunk_size=2_000)
    )
    return csv_response(f"contacts-{timezone.now():%Y%m%d}.csv", columns, rows)


@require_GET
def sequence_emails_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The sequence's emails as CSV: whoever may read its Emails tab (support too, whose
    download is logged for the customer as an export besides the review)."""
    sequence = access.get_sequence_to_view(request, pk)
    audit_record(
        actor=request.user,
        organization_id=sequence.organization_id,
        action=AuditEntry.Action.EXPORT_EMAILS,
        target=sequence,
    )
    return csv_response(
        f"emails-{sequence.pk}-{timezone.now():%Y%m%d}.csv",
        selectors.EMAIL_EXPORT_COLUMNS.values(),
        selectors.emails_for_export(sequence=sequence),
    )


@require_http_methods(["GET", "POST"])
def contact_import_new(request: HttpRequest) -> HttpResponse:
    _may_edit(request)
    form = ContactImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            contact_import = contact_import_upload(
                actor=request.user,
                organization_id=access.membership(request).organization_id,
                upload=form.cleaned_data["file"],
            )
        except ValidationError as error:
            form.add_error("file", error)
        else:
            return redirect("sequences:contact_import", contact_import.pk)
    imports = selectors.contact_imports_for_user(user=request.user)[:20]
    return render(request, "sequences/contact_import_new.html", {"form": form, "imports": imports})


def _import(request: HttpRequest, pk: int) -> ContactImport:
    return access.found(selectors.contact_imports_for_user(user=request.user).filter(pk=pk).first())


@require_GET
def contact_import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The mapping form with a preview, then the progress, then what was refused."""
    contact_import = _import(request, pk)
    context = {"contact_import": contact_import}
    if contact_import.status == ContactImport.Status.UPLOADED:
        context["form"] = ContactImportMappingForm(
            headers=contact_import.headers, initial=guess_mapping(contact_import.headers)
        )
        context["preview"] = contact_import_preview(contact_import=contact_import)
    return _import_page(request, context)


def _import_page(request: HttpRequest, context: dict) -> HttpResponse:
    contact_import = context["contact_import"]
    if contact_import.status == ContactImport.Status.DONE:
        context["refusals"] = Paginator(contact_import.refusals.all(), 100).get_page(
            request.GET.get("page")
        )
        context["sequences"] = selectors.sequences_for_user(user=request.user).order_by("name")
    if request.htmx:
        return render(request, "sequences/contact_import.html#import-progress", context)
    return render(request, "sequences/contact_import.html", context)


@require_POST
def contact_import_start_view(request: HttpRequest, pk: int) -> HttpResponse:
    contact_import = _import(request, pk)
    _may_edit(request)
    if contact_import.status != ContactImport.Status.UPLOADED:
        return _refused(WrongState(f"{contact_import.file_name} is imported already."))
    form = ContactImportMappingForm(request.POST, headers=contact_import.headers)
    if not form.is_valid():
        context = {
            "contact_import": contact_import,
            "form": form,
            "preview": contact_import_preview(contact_import=contact_import),
        }
        return render(request, "sequences/contact_import.html", context, status=400)
    try:
        contact_import_start(
            actor=request.user, contact_import=contact_import, mapping=form.mapping()
        )
    except WrongState as error:
        return _refused(error)
    return redirect("sequences:contact_import", contact_import.pk)


@require_GET
def contact_import_refusals(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    contact_import = _import(request, pk)
    rows = contact_import.refusals.values_list("line", "email", "reason").iterator(chunk_size=2_000)
    return csv_response(f"refused-{contact_import.pk}.csv", ("Line", "Email", "Reason"), rows)
