"""An admin connects a Google mailbox through the OAuth sandbox's consent page, in Debian's
Chromium; a revoked grant holds it, and signing in again puts its emails back."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from sequences.models import Mailbox, ScheduledEmail
from tests.sequences.test_oauth import _send_due
from tests.support import send_through

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
Status = ScheduledEmail.Status


def test_an_admin_connects_a_google_mailbox_then_signs_it_in_again_after_a_revoke(
    signed_in, admin_user, rep, live_server, oauth_mail, oauth_sandbox, make_sequence, make_email
):
    page = signed_in(admin_user)
    page.goto(live_server.url + reverse("sequences:mailbox_connect"))
    page.get_by_role("link", name="Google Workspace / Gmail").click()
    page.get_by_label("Address").fill("rita@acme.test")
    page.locator("#id_oauth_owner").select_option(str(rep.pk))
    page.get_by_role("button", name="Sign in with Google").click()

    # The provider's consent page (the sandbox's), for the address given.
    expect(page.locator("h1")).to_have_text("Sign in with Google")
    expect(page.get_by_label("Account")).to_have_value("rita@acme.test")
    page.get_by_role("button", name="Allow").click()

    expect(page.locator("h1")).to_have_text("rita@acme.test")
    expect(page.locator(".messages")).to_contain_text("rita@acme.test signed in and connected.")
    expect(page.locator(".facts")).to_contain_text("Connected")
    mailbox = Mailbox.objects.get(email="rita@acme.test")
    assert (mailbox.owner, mailbox.state) == (rep, Mailbox.State.CONNECTED)

    # The user revokes the product's access; the next send's refresh is refused.
    sequence = make_sequence(rep)
    sequence.mailbox = mailbox
    sequence.save()
    send_through(mailbox.pk, oauth_mail)
    now = timezone.now()
    email = make_email(sequence, email="pat@example.test", scheduled_for=now, next_attempt_at=now)
    oauth_sandbox.revoke_grant("rita@acme.test")
    Mailbox.objects.filter(pk=mailbox.pk).update(oauth_expires_at=now)
    _send_due(mailbox.pk)
    email.refresh_from_db()
    assert email.status == Status.BLOCKED

    page.reload()
    expect(page.get_by_role("alert")).to_contain_text("Google no longer accepts")
    expect(page.locator(".facts")).to_contain_text("Token has been expired or revoked.")
    page.get_by_role("button", name="Sign in with Google again").click()
    page.get_by_role("button", name="Allow").click()

    expect(page.locator(".messages")).to_contain_text("rita@acme.test signed in and connected.")
    expect(page.get_by_role("button", name="Sign in with Google again")).to_be_visible()
    expect(page.locator(".facts")).to_contain_text("Connected")
    email.refresh_from_db()
    assert email.status == Status.SCHEDULED
    assert oauth_mail.logins == 2  # each sign-in tested over SMTP with XOAUTH2
