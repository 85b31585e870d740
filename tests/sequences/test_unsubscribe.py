"""One-click unsubscribe (RFC 8058): the headers of a message really sent, and the link's page,
posted to as a mail client does it (no session, no CSRF token)."""

from __future__ import annotations

import datetime as dt
import io
import re
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sequences.models import AuditEntry, Contact, Enrollment, ScheduledEmail
from sequences.unsubscribe import unsubscribe_token
from tests.support import send_through

pytestmark = pytest.mark.django_db(transaction=True)
Status = ScheduledEmail.Status
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def outbound(rep, make_sequence, sandbox, settings):
    settings.PUBLIC_BASE_URL = "https://status.example.com"
    sequence = make_sequence(rep, steps=2)
    send_through(sequence.mailbox_id, sandbox)
    return sequence


@pytest.fixture
def sent(outbound, make_email):
    """Step 1 sent through the sandbox to Pat; step 2 pending next week."""
    now = timezone.now()
    email = make_email(outbound, email="pat@example.test", scheduled_for=now, next_attempt_at=now)
    later = now + dt.timedelta(days=7)
    make_email(
        outbound, email="pat@example.test", position=2, scheduled_for=later, next_attempt_at=later
    )
    call_command("dispatch", "--once", stdout=io.StringIO())
    email.refresh_from_db()
    assert email.status == Status.SENT
    return email


@pytest.fixture
def link(sent, sandbox):
    """The path of the https link in the message the sandbox received."""
    (message,) = sandbox.messages()
    url = re.match(r"<(https://[^>]+)>", message["List-Unsubscribe"]).group(1)
    return urlsplit(url).path


def _anonymous() -> Client:
    return Client(enforce_csrf_checks=True)


def test_it_sends_the_one_click_headers(sent, sandbox):
    (message,) = sandbox.messages()

    token = unsubscribe_token(contact_id=sent.contact_id, email_id=sent.pk)
    assert message["List-Unsubscribe"] == (
        f"<https://status.example.com/u/{token}/>, "
        f"<mailto:{sent.mailbox.email}?subject=unsubscribe>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # As sent, not as RFC 2047 words: a mail client reads the header's URI as it is written.
    (raw,) = (path.read_bytes() for path in (sandbox.store / "new").iterdir())
    assert f"List-Unsubscribe: <https://status.example.com/u/{token}/>,\n".encode() in raw


def test_a_post_without_a_session_or_csrf_token_unsubscribes(sent, link):
    response = _anonymous().post(link, ONE_CLICK)

    assert response.status_code == 200
    assert "You are unsubscribed" in response.text
    contact = Contact.objects.get(pk=sent.contact_id)
    assert contact.state == Contact.State.UNSUBSCRIBED
    assert contact.state_reason == "One-click link of “Step 1 for Pat”"
    (enrollment,) = contact.enrollments.all()
    assert (enrollment.state, enrollment.stop_cause) == (
        Enrollment.State.STOPPED,
        Enrollment.StopCause.UNSUBSCRIBED,
    )
    follow_up = ScheduledEmail.objects.get(contact=contact, step__position=2)
    assert (follow_up.status, follow_up.status_reason) == (
        Status.CANCELLED,
        "Contact unsubscribed",
    )
    sent.refresh_from_db()
    assert sent.status == Status.SENT
    entry = AuditEntry.objects.get(action=AuditEntry.Action.UNSUBSCRIBE_CONTACT)
    assert (entry.actor, entry.actor_label, entry.organization_id) == (
        None,
        "pat@example.test (one-click unsubscribe)",
        contact.organization_id,
    )
    assert entry.detail == {"email": sent.pk, "cancelled": 1}


def test_a_get_shows_the_button_and_unsubscribes_no_one(sent, link):
    response = _anonymous().get(link)

    assert response.status_code == 200
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in response.text
    assert response["Cache-Control"].startswith("max-age=0")
    assert Contact.objects.get(pk=sent.contact_id).state == Contact.State.ACTIVE
    assert ScheduledEmail.objects.filter(status=Status.CANCELLED).count() == 0


def test_the_pages_button_posts_what_a_mail_client_posts(sent, link):
    page = _anonymous().get(link).text
    field, value = re.search(r'name="([^"]+)" value="([^"]+)"', page).groups()

    _anonymous().post(link, {field: value})

    assert Contact.objects.get(pk=sent.contact_id).state == Contact.State.UNSUBSCRIBED


def test_it_unsubscribes_once_however_often_it_is_posted(sent, link):
    first = _anonymous().post(link, ONE_CLICK)
    again = _anonymous().post(link, ONE_CLICK)

    assert (first.status_code, again.status_code) == (200, 200)
    assert "You are unsubscribed" in again.text
    assert AuditEntry.objects.filter(action=AuditEntry.Action.UNSUBSCRIBE_CONTACT).count() == 1
    assert _anonymous().get(link).text.count("You are unsubscribed") == 1


@pytest.mark.parametrize("body", [{}, {"List-Unsubscribe": "one-click"}, {"unsubscribe": "1"}])
def test_it_refuses_a_post_without_the_one_click_field(sent, link, body):
    response = _anonymous().post(link, body)

    assert response.status_code == 400
    assert Contact.objects.get(pk=sent.contact_id).state == Contact.State.ACTIVE


def test_it_refuses_a_tampered_token(sent, link):
    token = unsubscribe_token(contact_id=sent.contact_id, email_id=sent.pk)
    payload, signature = token.split(":")
    other = unsubscribe_token(contact_id=sent.contact_id + 1, email_id=sent.pk).split(":")[0]

    for bad in [f"{other}:{signature}", f"{payload}:{signature[:-1]}x", payload, "junk"]:
        url = reverse("sequences:unsubscribe", args=[bad])
        assert _anonymous().post(url, ONE_CLICK).status_code == 404
        assert _anonymous().get(url).status_code == 404
    assert Contact.objects.get(pk=sent.contact_id).state == Contact.State.ACTIVE


def test_a_token_names_its_contact_and_email_together(sent, outbound, make_email):
    other = make_email(outbound, email="sam@example.test")
    mixed = unsubscribe_token(contact_id=other.contact_id, email_id=sent.pk)

    response = _anonymous().post(reverse("sequences:unsubscribe", args=[mixed]), ONE_CLICK)

    assert response.status_code == 404
    assert not Contact.objects.filter(state=Contact.State.UNSUBSCRIBED).exists()


def test_the_emails_tab_and_the_contacts_show_the_unsubscribe(client, rep, sent, link):
    _anonymous().post(link, ONE_CLICK)
    client.force_login(rep)

    # Among all the emails (the default view shows what needs attention or goes out next).
    emails = client.get(reverse("sequences:emails", args=[sent.sequence_id]), {"view": "all"}).text
    contacts = client.get(reverse("sequences:contacts", args=[sent.sequence_id])).text

    assert "Contact unsubscribed" in emails
    assert '<span class="badge state-unsubscribed">Unsubscribed</span>' in emails
    assert "Unsubscribed" in contacts
    assert "One-click link of “Step 1 for Pat”" in contacts
