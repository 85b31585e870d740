"""Writing sequences: creating one, its settings (name, mailbox), pausing, resuming and
archiving it, and its Steps tab (add, edit with a live preview, reorder, delete)."""

from __future__ import annotations

import copy
from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.forms import model_to_dict
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from sequences import permissions, selectors
from sequences.forms import SequenceCreateForm, SequenceMailboxForm, SequenceNameForm, StepForm
from sequences.models import ScheduledEmail, Sequence, Step
from sequences.services import steps as step_services
from sequences.services.errors import WrongState
from sequences.services.sequences import (
    sequence_archive,
    sequence_change_mailbox,
    sequence_create,
    sequence_movable_emails,
    sequence_pause,
    sequence_rename,
    sequence_resume,
)
from sequences.templating import VARIABLES
from sequences.views import access
from sequences.views.sequences import _page_context


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _done(request: HttpRequest, url: str, message: str) -> HttpResponse:
    """The change's confirmation, on the page it leads to (htmx: the browser goes there)."""
    messages.success(request, message)
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _refused(error: WrongState) -> HttpResponse:
    return HttpResponse(error.message, status=400, content_type="text/plain")


def _sequence_to_edit(request: HttpRequest, pk: int) -> Sequence:
    """The sequence, if the user may change it: 404 if not theirs to see, 403 if only to see."""
    sequence = access.get_sequence_for_user(request, pk)
    if not permissions.may_edit_sequence(access.membership(request), sequence):
        raise PermissionDenied("Only the sequence's owner or an admin may change it.")
    return sequence


@require_http_methods(["GET", "POST"])
def sequence_create_view(request: HttpRequest) -> HttpResponse:
    membership = access.membership(request)
    if not permissions.may_create_sequence(membership):
        raise PermissionDenied("Sequences are created by reps and admins.")
    form = SequenceCreateForm(
        request.POST or None,
        instance=Sequence(organization_id=membership.organization_id, owner=request.user),
        mailboxes=selectors.mailboxes_for_user(user=request.user),
        owners=selectors.sequence_owner_choices(user=request.user),
    )
    if request.method == "POST" and form.is_valid():
        sequence = sequence_create(
            actor=request.user,
            organization_id=membership.organization_id,
            owner=form.cleaned_data.get("owner") or request.user,
            mailbox=form.cleaned_data["mailbox"],
            name=form.cleaned_data["name"],
        )
        url = reverse("sequences:step_add", args=[sequence.pk])
        return _done(request, url, f"{sequence.name} created: write its first step.")
    return render(request, "sequences/sequence_create.html", {"form": form})


def _settings_page(
    request: HttpRequest,
    sequence: Sequence,
    name_form: SequenceNameForm | None = None,
    mailbox_form: SequenceMailboxForm | None = None,
) -> HttpResponse:
    mailboxes = selectors.mailboxes_for_user(user=request.user)
    context = _page_context(request, sequence, "settings") | {
        "name_form": name_form or SequenceNameForm(instance=sequence),
        "mailbox_form": mailbox_form
        or SequenceMailboxForm(initial={"mailbox": sequence.mailbox_id}, mailboxes=mailboxes),
        "movable": sequence_movable_emails(sequence=sequence),
    }
    return render(request, "sequences/sequence_settings.html", context)


@require_GET
def sequence_settings(request: HttpRequest, pk: int) -> HttpResponse:
    return _settings_page(request, _sequence_to_edit(request, pk))


@require_POST
def sequence_rename_view(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = _sequence_to_edit(request, pk)
    # A copy: an invalid name must not become the page's title.
    form = SequenceNameForm(request.POST, instance=copy.copy(sequence))
    if not form.is_valid():
        return _settings_page(request, sequence, name_form=form)
    before = sequence.name
    try:
        sequence_rename(actor=request.user, sequence=sequence, name=form.cleaned_data["name"])
    except WrongState as error:
        return _refused(error)
    url = reverse("sequences:settings", args=[sequence.pk])
    return _done(request, url, f"{before} renamed {sequence.name}.")


@require_POST
def sequence_mailbox_view(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = _sequence_to_edit(request, pk)
    mailboxes = selectors.mailboxes_for_user(user=request.user)
    form = SequenceMailboxForm(request.POST, mailboxes=mailboxes)
    if form.is_valid():
        try:
            moved, rescheduled = sequence_change_mailbox(
                actor=request.user, sequence=sequence, mailbox=form.cleaned_data["mailbox"]
            )
        except WrongState as error:
            form.add_error("mailbox", error.message)
        else:
            message = (
                f"{sequence.name} now sends from {sequence.mailbox.email}: "
                f"{_plural(moved, 'pending email')} moved with it, {len(rescheduled)} "
                "rescheduled within its window and caps."
            )
            return _done(request, reverse("sequences:settings", args=[sequence.pk]), message)
    return _settings_page(request, sequence, mailbox_form=form)


def _state_change(
    request: HttpRequest, pk: int, change: Callable[..., None], message: str
) -> HttpResponse:
    sequence = _sequence_to_edit(request, pk)
    try:
        change(actor=request.user, sequence=sequence)
    except WrongState as error:
        return _refused(error)
    return _done(request, reverse("sequences:overview", args=[sequence.pk]), message)


@require_POST
def sequence_pause_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _state_change(request, pk, sequence_pause, "Paused: none of its emails goes out.")


@require_POST
def sequence_unpause_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _state_change(
        request, pk, sequence_resume, "Resumed: its emails go out again, within the caps."
    )


@require_POST
def sequence_archive_view(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = _sequence_to_edit(request, pk)
    try:
        cancelled = sequence_archive(actor=request.user, sequence=sequence)
    except WrongState as error:
        return _refused(error)
    message = f"{sequence.name} archived: {_plural(cancelled, 'pending email')} cancelled."
    return _done(request, f"{reverse('sequences:list')}?archived=1", message)


@require_GET
def sequence_steps(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = access.get_sequence_to_view(request, pk)
    context = _page_context(request, sequence, "steps") | {
        "steps": selectors.steps_with_counts(sequence=sequence)
    }
    return render(request, "sequences/sequence_steps.html", context)


def _preview_context(
    sequence: Sequence, form: StepForm | None, position: int, contact_id: str
) -> dict:
    """The preview of the step as `form` has it (none for an empty form), for the contact
    chosen among the sequence's, or a sample one."""
    contacts = selectors.sequence_contacts_to_preview(sequence=sequence)
    contact = next((c for c in contacts if str(c.pk) == contact_id), None)
    problems, preview = [], None
    if form is not None:
        form.is_valid()
        problems = [error for name in ("subject", "body") for error in form.errors.get(name, [])]
    if form is not None and not problems:
        preview = step_services.step_preview(
            sequence=sequence,
            mailbox=sequence.mailbox,
            position=position,
            subject=form.cleaned_data["subject"],
            body=form.cleaned_data["body"],
            contact=contact or step_services.SAMPLE_CONTACT,
        )
    return {
        "preview": preview,
        "problems": problems,
        "contacts": contacts,
        "contact": contact,
        "sample": step_services.SAMPLE_CONTACT,
    }


def _step_page(
    request: HttpRequest, sequence: Sequence, form: StepForm, step: Step | None
) -> HttpResponse:
    position = step.position if step else sequence.steps.count() + 1
    # Previewed: what was posted, or the step as saved.
    shown = form if form.is_bound else None
    if step is not None and shown is None:
        shown = StepForm(data=model_to_dict(step, fields=StepForm.Meta.fields))
    context = _page_context(request, sequence, "steps") | {
        "form": form,
        "step": step,
        "position": position,
        "variables": VARIABLES.items(),
        "running": sequence.enrollments.filter(state__in=step_services.RUNNING).count(),
        "affected": step_services.step_emails_affected(step=step) if step else 0,
        "sent": step.emails.filter(status=ScheduledEmail.Status.SENT).count() if step else 0,
    }
    context |= _preview_context(sequence, shown, position, request.POST.get("contact", ""))
    return render(request, "sequences/step_form.html", context)


@require_http_methods(["GET", "POST"])
def step_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    sequence = _sequence_to_edit(request, pk)
    form = StepForm(request.POST or None, instance=Step(sequence=sequence))
    if request.method == "POST" and form.is_valid():
        try:
            step, enrolled = step_services.step_add(
                actor=request.user, sequence=sequence, **form.cleaned_data
            )
        except WrongState as error:
            return _refused(error)
        message = f"Step {step.position} added."
        if enrolled:
            message += f" {_plural(enrolled, 'contact')} still in the sequence get it next."
        return _done(request, reverse("sequences:steps", args=[sequence.pk]), message)
    return _step_page(request, sequence, form, None)


def _step_of(request: HttpRequest, pk: int, step_pk: int) -> Step:
    sequence = _sequence_to_edit(request, pk)
    step = access.found(sequence.steps.filter(pk=step_pk).first())
    step.sequence = sequence
    return step


@require_http_methods(["GET", "POST"])
def step_edit_view(request: HttpRequest, pk: int, step_pk: int) -> HttpResponse:
    step = _step_of(request, pk, step_pk)
    # A copy: what an invalid form holds must not show as the step's.
    form = StepForm(request.POST or None, instance=copy.copy(step))
    if request.method == "POST" and form.is_valid():
        try:
            affected = step_services.step_update(actor=request.user, step=step, **form.cleaned_data)
        except WrongState as error:
            return _refused(error)
        message = (
            f"Step {step.position} saved: {_plural(affected, 'email')} not sent yet go out "
            "with it; emails already sent keep what they were sent with."
        )
        return _done(request, reverse("sequences:steps", args=[step.sequence_id]), message)
    return _step_page(request, step.sequence, form, step)


@require_POST
def step_move_view(request: HttpRequest, pk: int, step_pk: int) -> HttpResponse:
    step = _step_of(request, pk, step_pk)
    direction = request.POST.get("direction", "")
    if direction not in ("up", "down"):
        return HttpResponse("Move a step up or down.", status=400, content_type="text/plain")
    try:
        step_services.step_move(actor=request.user, step=step, up=direction == "up")
    except WrongState as error:
        return _refused(error)
    url = reverse("sequences:steps", args=[step.sequence_id])
    return _done(request, url, f"{step.subject} is now step {step.position}.")


@require_POST
def step_delete_view(request: HttpRequest, pk: int, step_pk: int) -> HttpResponse:
    step = _step_of(request, pk, step_pk)
    try:
        deleted = step_services.step_delete(actor=request.user, step=step)
    except WrongState as error:
        return _refused(error)
    url = reverse("sequences:steps", args=[step.sequence_id])
    return _done(request, url, f"Step deleted, with {_plural(deleted, 'email')} not sent.")


@require_POST
def step_preview_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The live preview (htmx, as the author types): the step as written, for a contact."""
    sequence = _sequence_to_edit(request, pk)
    form = StepForm(request.POST)
    positions = access.ids([request.POST.get("position", "")])
    position = positions[0] if positions else sequence.steps.count() + 1
    context = {"sequence": sequence} | _preview_context(
        sequence, form, position, request.POST.get("contact", "")
    )
    return render(request, "sequences/step_form.html#step-preview", context)
