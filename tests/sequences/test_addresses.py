"""An address is exactly one recipient, or a clear refusal: on entry and when sending.

Sending goes through the real pipeline in this process (`manage.py dispatch --once`) to
the SMTP sandbox, which records each message's envelope recipients.
"""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from diagnostics.diagnosis import diagnose
from sandboxes.smtp_server import RCPT_TO_HEADER
from sequences.models import Contact, ScheduledEmail, Step
from tests.support import send_through

pytestmark = pytest.mark.django_db(transaction=True)
Status = ScheduledEmail.Status


@pytest.fixture
def outbound(rep, make_sequence, sandbox):
    sequence = make_sequence(rep, steps=1)
    send_through(sequence.mailbox_id, sandbox)
    return sequence


@pytest.fixture
def due(outbound, make_email):
    def make(address: str, **contact: str) -> ScheduledEmail:
        now = timezone.now()
        email = make_email(outbound, email=address, scheduled_for=now, next_attempt_at=now)
        if contact:
            Contact.objects.filter(pk=email.contact_id).update(**contact)
        return email

    return make


def _dispatch() -> None:
    call_command("dispatch", "--once", stdout=open("/dev/null", "w"))  # noqa: SIM115


def _recipients(sandbox) -> list[str]:
    return sorted(message[RCPT_TO_HEADER] for message in sandbox.messages())


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("alice", "must have an @-sign"),
        ("x@y@mta.test", "invalid characters: '@'"),
        ("bob,nobody@mta.test", "invalid characters before the @-sign: ','"),
        ("Pat <pat@mta.test>", "display name"),
    ],
)
def test_it_sends_nothing_to_an_address_that_is_not_one_recipient(due, sandbox, address, reason):
    bad = due(address)
    good = due("pat@example.test")

    _dispatch()

    bad.refresh_from_db()
    assert (bad.status, bad.error_category, bad.error_code) == (
        Status.BLOCKED,
        "recipient_address_invalid",
        "pipeline.recipient_invalid",
    )
    assert reason in bad.last_error
    assert bad.contact.state == Contact.State.ACTIVE  # our refusal, not a bounce
    good.refresh_from_db()
    assert good.status == Status.SENT
    assert _recipients(sandbox) == ["pat@example.test"]


def test_it_keeps_a_hostile_name_inside_the_to_header(due, sandbox):
    email = due(
        "pat@example.test",
        first_name='Bob, "Eve" <eve@evil.test>\r\nBcc: mallory@evil.test',
        last_name="O'Hara",
    )

    _dispatch()

    email.refresh_from_db()
    assert email.status == Status.SENT
    (message,) = sandbox.messages()
    assert message[RCPT_TO_HEADER] == "pat@example.test"
    assert message["Bcc"] is None
    assert message["To"].addresses[0].addr_spec == "pat@example.test"
    assert "eve@evil.test" in message["To"].addresses[0].display_name


def test_it_blocks_a_non_ascii_address_when_the_server_cannot_carry_it(due, sandbox):
    accented = due("josé@example.test")
    plain = due("jose@example.test")

    _dispatch()

    accented.refresh_from_db()
    assert (accented.status, accented.error_code) == (
        Status.BLOCKED,
        "pipeline.recipient_needs_smtputf8",
    )
    assert "does not offer SMTPUTF8" in accented.last_error
    plain.refresh_from_db()
    assert plain.status == Status.SENT
    assert _recipients(sandbox) == ["jose@example.test"]


def test_it_sends_a_non_ascii_address_to_a_server_offering_smtputf8(due, outbound, start_sandbox):
    utf8 = start_sandbox(smtputf8=True)
    send_through(outbound.mailbox_id, utf8)
    email = due("josé@example.test")

    _dispatch()

    email.refresh_from_db()
    assert email.status == Status.SENT
    (message,) = utf8.messages()
    assert message[RCPT_TO_HEADER] == "josé@example.test"
    assert message["Message-ID"] == email.message_id


def test_it_sends_an_international_domain_in_ascii(due, sandbox):
    email = due("pat@exämple.test")

    _dispatch()

    email.refresh_from_db()
    assert email.status == Status.SENT
    assert _recipients(sandbox) == ["pat@xn--exmple-cua.test"]


def test_it_records_a_step_that_cannot_render_and_sends_the_rest(due, outbound, sandbox):
    broken = due("pat@example.test")
    Step.objects.filter(sequence=outbound).update(body="Hello {% if %}")
    other_sequence_email = due("sam@example.test")
    Step.objects.filter(pk=other_sequence_email.step_id).update(body="Hello {% if %}")

    _dispatch()

    broken.refresh_from_db()
    assert broken.status == Status.BLOCKED
    assert "could not be written: TemplateSyntaxError" in broken.last_error
    (attempt,) = broken.attempts.all()
    assert attempt.raw_error == broken.last_error
    assert not ScheduledEmail.objects.filter(status=Status.SENDING).exists()


@pytest.mark.parametrize(
    "template",
    ['{% include "sequences/sequence_emails.html" %}', "{% debug %}", "{% load static %}"],
)
def test_a_step_saved_before_its_language_was_checked_stays_inert(
    client, rep, due, outbound, sandbox, template
):
    email = due("pat@example.test")
    Step.objects.filter(pk=email.step_id).update(subject=template, body=template)
    client.force_login(rep)

    _dispatch()

    email.refresh_from_db()
    assert email.status == Status.BLOCKED
    assert "Invalid block tag" in email.last_error
    assert sandbox.messages() == []
    response = client.get(reverse("sequences:emails", args=[outbound.pk]))
    assert response.status_code == 200
    assert "sys.modules" not in response.text


def test_it_blocks_an_email_whose_step_prints_a_detail_the_contact_lacks(due, outbound, sandbox):
    Step.objects.filter(sequence=outbound).update(body="Hi {{ first_name }}, about {{ company }}")
    lacking = due("pat@example.test", first_name="Pat", last_name="Lee", company="")
    complete = due("sam@example.test", company="Acme")

    _dispatch()

    lacking.refresh_from_db()
    assert lacking.status == Status.BLOCKED
    assert lacking.error_code == "pipeline.step_variable_missing"
    # The reason names the variable and the contact, and says what to do.
    assert "{{ company }}" in lacking.last_error
    assert "Pat Lee <pat@example.test>" in lacking.last_error
    assert "Fill it in on the contact" in lacking.last_error
    complete.refresh_from_db()
    assert complete.status == Status.SENT
    assert _recipients(sandbox) == ["sam@example.test"]  # no "Hi Pat, about " went out


def test_it_sends_a_step_whose_empty_details_have_a_fallback(due, outbound, sandbox):
    Step.objects.filter(sequence=outbound).update(
        subject="A question",
        body='Hi {{ first_name|default:"there" }}{% if company %} at {{ company }}{% endif %}',
    )
    email = due("pat@example.test", first_name="", company="")

    _dispatch()

    email.refresh_from_db()
    assert email.status == Status.SENT
    (message,) = sandbox.messages()
    assert message.get_content().strip() == "Hi there"


def test_it_blocks_an_email_whose_step_uses_an_unknown_variable(due, outbound, sandbox):
    Step.objects.filter(sequence=outbound).update(subject="Hello {{ frist_name }}")
    email = due("pat@example.test")

    _dispatch()

    email.refresh_from_db()
    assert (email.status, email.error_code) == (Status.BLOCKED, "pipeline.step_variable_missing")
    assert "{{ frist_name }}, which is not a variable" in email.last_error
    assert "first_name" in email.last_error
    assert sandbox.messages() == []


def test_it_keeps_the_session_after_one_recipient_is_refused(due, sandbox):
    refused = due("uma@unknown.test")
    accepted = due("pat@example.test")

    _dispatch()

    refused.refresh_from_db()
    accepted.refresh_from_db()
    assert (refused.status, accepted.status) == (Status.FAILED, Status.SENT)
    assert sandbox.logins == 1


@pytest.mark.parametrize("address", ["alice", "x@y@mta.test", "bob,nobody@mta.test"])
def test_it_refuses_an_invalid_address_on_entry(organization, address):
    contact = Contact(organization=organization, email=address)

    with pytest.raises(ValidationError) as refused:
        contact.full_clean()

    assert "not a valid email address" in str(refused.value)


def test_it_holds_what_was_scheduled_for_an_address_saved_before_the_rule(
    rep, make_sequence, make_email
):
    migration = importlib.import_module("sequences.migrations.0005_contact_addresses")
    sequence = make_sequence(rep, steps=2)
    bad = make_email(sequence, email="bob,nobody@mta.test")
    bad_follow_up = make_email(sequence, email="bob,nobody@mta.test", position=2)
    good = make_email(sequence, email="pat@example.test")

    migration.block_unusable_addresses(django_apps, None)

    for email in (bad, bad_follow_up):
        email.refresh_from_db()
        assert (email.status, email.error_code) == (Status.BLOCKED, "pipeline.recipient_invalid")
        assert "invalid characters before the @-sign" in email.last_error
        assert diagnose(email.last_error).code == "pipeline.recipient_invalid"
    good.refresh_from_db()
    assert good.status == Status.SCHEDULED
    assert Contact.objects.get(pk=bad.contact_id).email == "bob,nobody@mta.test"  # kept


def test_it_still_lists_an_email_whose_step_subject_cannot_render(
    client, rep, due, outbound, sandbox
):
    email = due("pat@example.test")
    Step.objects.filter(pk=email.step_id).update(subject="Hi {% if %}")
    client.force_login(rep)

    _dispatch()
    response = client.get(reverse("sequences:emails", args=[outbound.pk]))

    assert response.status_code == 200
    assert "Hi {% if %}" in response.text
    email.refresh_from_db()
    assert email.status == Status.BLOCKED
    assert "TemplateSyntaxError" in email.last_error
