"""The Steps tab: adding, editing, previewing, reordering and deleting a sequence's steps."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from sequences.models import AuditEntry, Contact, Enrollment, ScheduledEmail, Step
from sequences.services.sending import render_subject

Status = ScheduledEmail.Status
Action = AuditEntry.Action


@pytest.fixture
def sequence(rep, make_sequence):
    return make_sequence(rep, name="Outbound", steps=2)


@pytest.fixture
def sent(sequence, make_email):
    """Pat got step 1 (its subject recorded as sent) two days ago; step 2 waits."""

    def make(address: str = "pat@example.test") -> ScheduledEmail:
        at = timezone.now() - dt.timedelta(days=2)
        first = make_email(
            sequence,
            email=address,
            status=Status.SENT,
            sent_at=at,
            message_id=f"<{address}>",
            subject="Step 1 for Pat",
            next_attempt_at=None,
        )
        make_email(sequence, email=address, position=2, status=Status.WAITING, next_attempt_at=None)
        return first

    return make


def _positions(sequence):
    return list(sequence.steps.order_by("position").values_list("subject", "position"))


def _message(response):
    return [m.message for m in response.wsgi_request._messages][-1]


def test_the_steps_tab_lists_steps_with_their_counts_in_few_queries(
    client, rep, make_sequence, make_email, django_assert_max_num_queries
):
    sequence = make_sequence(rep, steps=12)
    for n in range(5):
        make_email(sequence, email=f"c{n}@example.test")
    client.force_login(rep)
    url = reverse("sequences:steps", args=[sequence.pk])

    with django_assert_max_num_queries(5):
        response = client.get(url)

    page = response.content.decode()
    assert page.count('<tr id="step-') == 12
    assert "3 days after step 1" in page
    assert reverse("sequences:step_add", args=[sequence.pk]) in page


def test_support_reads_the_steps_and_is_offered_no_change(client, support, sequence):
    client.force_login(support)

    page = client.get(reverse("sequences:steps", args=[sequence.pk])).content.decode()

    assert "Step 1 for" in page
    assert reverse("sequences:step_add", args=[sequence.pk]) not in page
    assert "/move/" not in page
    assert "/delete/" not in page
    step = sequence.steps.first()
    assert (
        client.get(reverse("sequences:step_edit", args=[sequence.pk, step.pk])).status_code == 403
    )


def test_it_adds_a_last_step_for_the_contacts_still_in_the_sequence(
    client, rep, sequence, sent, make_email
):
    first = sent()  # step 2 waits for Pat: step 3 waits too
    Step.objects.filter(sequence=sequence, position=2).delete()  # Sue's step 2 is next
    sue = make_email(sequence, email="sue@example.test")
    done = make_email(sequence, email="dan@example.test")
    Enrollment.objects.filter(pk=done.enrollment_id).update(state=Enrollment.State.FINISHED)
    client.force_login(rep)

    page = client.get(reverse("sequences:step_add", args=[sequence.pk])).content.decode()
    response = client.post(
        reverse("sequences:step_add", args=[sequence.pk]),
        {"subject": "Still there, {{ first_name }}?", "body": "Hi", "wait_days": 4},
    )

    assert "2 contacts still in this sequence get this step too" in page
    step = sequence.steps.get(position=2)
    assert "2 contacts still in the sequence get it next" in _message(response)
    pats = step.emails.get(enrollment=first.enrollment)
    assert pats.status == Status.SCHEDULED  # step 1 was sent two days ago: in 2 days
    assert pats.next_attempt_at >= first.sent_at + dt.timedelta(days=4)
    assert step.emails.get(enrollment=sue.enrollment).status == Status.WAITING
    assert not step.emails.filter(enrollment=done.enrollment).exists()
    entry = AuditEntry.objects.get(action=Action.ADD_STEP)
    assert entry.detail == {"step": 2, "enrolled": 2}


@pytest.mark.parametrize(
    ("subject", "body", "error"),
    [
        ("", "Hello", "A step needs a subject."),
        ("Hi {{ nickname }}", "Hello", "{{ nickname }} is not a variable a step can use"),
        ("Hi", "{% include 'x.html' %}", "cannot be used in a step"),
        ("Hi", "", "A step needs a body."),
    ],
)
def test_it_refuses_a_step_it_cannot_write_with_a_clear_error(
    client, rep, sequence, subject, body, error
):
    client.force_login(rep)

    response = client.post(
        reverse("sequences:step_add", args=[sequence.pk]),
        {"subject": subject, "body": body, "wait_days": 1},
    )

    assert response.status_code == 200
    assert error in response.content.decode()
    assert sequence.steps.count() == 2
    assert not AuditEntry.objects.exists()


def test_editing_a_step_changes_the_emails_not_sent_and_never_a_sent_one(
    client, rep, sequence, sent, make_email
):
    first = sent()
    pending = make_email(sequence, email="sue@example.test")
    step = sequence.steps.get(position=1)
    url = reverse("sequences:step_edit", args=[sequence.pk, step.pk])
    client.force_login(rep)

    page = client.get(url).content.decode()
    response = client.post(
        url, {"subject": "New subject for {{ first_name }}", "body": "New", "wait_days": 0}
    )

    assert "Saving changes the 1 email of this step not sent yet" in page
    assert "The 1 already sent keeps the subject and text it was sent with" in page
    assert "1 email not sent yet go out with it" in _message(response)
    first.refresh_from_db()
    assert (first.status, first.subject) == (Status.SENT, "Step 1 for Pat")
    pending = ScheduledEmail.objects.select_related("step", "contact", "mailbox").get(pk=pending.pk)
    assert render_subject(pending) == "New subject for Pat"
    entry = AuditEntry.objects.get(action=Action.EDIT_STEP)
    assert entry.detail == {"step": 1, "fields": ["subject", "body"], "emails": 1}


def test_a_new_wait_times_again_the_follow_ups_not_tried(client, rep, sequence, sent):
    first = sent()
    follow_up = ScheduledEmail.objects.get(enrollment=first.enrollment, step__position=2)
    follow_up.status, follow_up.next_attempt_at = Status.SCHEDULED, timezone.now()
    follow_up.save()
    step = sequence.steps.get(position=2)
    client.force_login(rep)

    client.post(
        reverse("sequences:step_edit", args=[sequence.pk, step.pk]),
        {"subject": step.subject, "body": step.body, "wait_days": 10},
    )

    follow_up.refresh_from_db()
    assert follow_up.status == Status.SCHEDULED
    assert follow_up.next_attempt_at >= first.sent_at + dt.timedelta(days=10)


def test_an_invalid_edit_saves_nothing_and_shows_the_step_as_it_was(client, rep, sequence):
    step = sequence.steps.get(position=1)
    url = reverse("sequences:step_edit", args=[sequence.pk, step.pk])
    client.force_login(rep)

    response = client.post(url, {"subject": "{{ first_name.upper }}", "body": "x", "wait_days": 0})

    assert "is not a variable a step can use" in response.content.decode()
    step.refresh_from_db()
    assert step.subject == "Step 1 for {{ first_name }}"


def test_it_reorders_steps_and_keeps_positions_contiguous(client, rep, make_sequence):
    sequence = make_sequence(rep, steps=3)
    third = sequence.steps.get(position=3)
    client.force_login(rep)

    url = reverse("sequences:step_move", args=[sequence.pk, third.pk])
    response = client.post(url, {"direction": "up"})
    assert response.status_code == 302
    assert "is now step 2" in _message(response)
    subjects = [subject[:6] for subject, _ in _positions(sequence)]
    assert subjects == ["Step 1", "Step 3", "Step 2"]

    client.post(url, {"direction": "up"})
    client.post(url, {"direction": "up"})  # already first: refused
    assert [p for _, p in _positions(sequence)] == [1, 2, 3]
    assert [s[:6] for s, _ in _positions(sequence)] == ["Step 3", "Step 1", "Step 2"]
    first = sequence.steps.get(position=1)
    down = client.post(
        reverse("sequences:step_move", args=[sequence.pk, first.pk]), {"direction": "down"}
    )
    assert down.status_code == 302
    assert [s[:6] for s, _ in _positions(sequence)] == ["Step 1", "Step 3", "Step 2"]
    assert AuditEntry.objects.filter(action=Action.MOVE_STEP).count() == 3


def test_it_refuses_to_move_a_step_that_reached_contacts(client, rep, sequence, sent):
    sent()
    second = sequence.steps.get(position=2)
    client.force_login(rep)

    response = client.post(
        reverse("sequences:step_move", args=[sequence.pk, second.pk]), {"direction": "up"}
    )

    assert response.status_code == 400
    assert "out of order" in response.content.decode()
    assert [s[:6] for s, _ in _positions(sequence)] == ["Step 1", "Step 2"]


def test_moving_steps_times_the_emails_by_their_new_order(client, rep, make_sequence, make_email):
    sequence = make_sequence(rep, steps=2)
    first = make_email(sequence, email="pat@example.test")
    second = make_email(
        sequence, email="pat@example.test", position=2, status=Status.WAITING, next_attempt_at=None
    )
    client.force_login(rep)

    client.post(
        reverse("sequences:step_move", args=[sequence.pk, second.step_id]), {"direction": "up"}
    )

    first.refresh_from_db()
    second.refresh_from_db()
    # The old second step now goes first, on enrollment; the old first waits for it.
    assert (second.status, first.status) == (Status.SCHEDULED, Status.WAITING)


def test_it_deletes_a_step_that_reached_no_one_and_closes_the_gap(
    client, rep, make_sequence, make_email
):
    sequence = make_sequence(rep, steps=3)
    second = sequence.steps.get(position=2)
    make_email(sequence, email="pat@example.test", position=2)
    client.force_login(rep)

    response = client.post(reverse("sequences:step_delete", args=[sequence.pk, second.pk]))

    assert "with 1 email not sent" in _message(response)
    assert [(s[:6], p) for s, p in _positions(sequence)] == [("Step 1", 1), ("Step 3", 2)]
    assert not ScheduledEmail.objects.filter(step_id=second.pk).exists()
    entry = AuditEntry.objects.get(action=Action.DELETE_STEP)
    assert entry.detail["step"] == 2
    assert entry.detail["emails"] == 1


def test_it_refuses_to_delete_a_step_that_was_sent(client, rep, sequence, sent):
    first = sent()
    client.force_login(rep)

    response = client.post(
        reverse("sequences:step_delete", args=[sequence.pk, first.step_id]),
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 400
    assert "was sent to contacts" in response.content.decode()
    assert sequence.steps.count() == 2


def _preview(client, sequence, **data):
    return client.post(
        reverse("sequences:step_preview", args=[sequence.pk]),
        {"wait_days": 0, **data},
        headers={"HX-Request": "true"},
    ).content.decode()


def test_the_preview_writes_the_step_for_a_contact_as_the_sender_would(
    client, rep, sequence, make_email
):
    email = make_email(sequence, email="bo@example.test")
    Contact.objects.filter(pk=email.contact_id).update(first_name="<b>Bo</b>", company="")
    client.force_login(rep)

    page = _preview(
        client,
        sequence,
        contact=email.contact_id,
        position=1,
        subject="Hi {{ first_name }}",
        body="At {{ company|default:'your team' }}",
    )
    sample = _preview(client, sequence, position=1, subject="Hi {{ first_name }}", body="x")
    missing = _preview(
        client, sequence, contact=email.contact_id, position=1, subject="{{ company }}", body="x"
    )

    assert page.startswith('\n<section class="preview" id="step-preview"')
    assert "Hi &lt;b&gt;Bo&lt;/b&gt;" in page
    assert "<b>Bo</b>" not in page
    assert "At your team" in page
    assert "Hi Alex" in sample
    assert "would get no email from it" in missing
    assert "has none" in missing


def test_the_preview_of_a_follow_up_answers_the_first_subject(client, rep, sequence):
    client.force_login(rep)

    page = _preview(client, sequence, position=2, subject="Re: anything", body="x")

    assert "Re: Step 1 for Alex" in page


def test_the_preview_shows_why_a_template_cannot_be_written(client, rep, sequence):
    client.force_login(rep)

    page = _preview(client, sequence, subject="{{ nope }}", body="{% if %}")

    assert "{{ nope }} is not a variable a step can use" in page
    assert "The template does not read" in page


def test_the_step_form_previews_the_saved_step(client, rep, sequence):
    step = sequence.steps.get(position=1)
    client.force_login(rep)

    page = client.get(reverse("sequences:step_edit", args=[sequence.pk, step.pk])).content.decode()

    assert 'data-preview="subject">Step 1 for Alex<' in page
    assert 'hx-post="' + reverse("sequences:step_preview", args=[sequence.pk]) in page
