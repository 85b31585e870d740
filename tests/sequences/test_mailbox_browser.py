"""Connecting a mailbox as a new user does it, in Debian's Chromium."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from sequences.models import Mailbox

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_wrong_password_is_refused_with_the_reason_then_the_right_one_connects(
    signed_in, rep, live_server, sandbox
):
    page = signed_in(rep)
    page.goto(live_server.url + reverse("sequences:mailbox_list"))
    page.get_by_role("link", name="Connect a mailbox").click()
    page.get_by_role("link", name="Other SMTP server").click()

    page.get_by_label("Email").fill("rita@example.test")
    page.get_by_label("SMTP server").fill("127.0.0.1")
    page.get_by_label("Port", exact=True).fill(str(sandbox.port))
    page.get_by_label("Encryption", exact=True).select_option("none")
    page.get_by_label("Username", exact=True).fill("rita@example.test")
    page.get_by_label("Password", exact=True).fill("wrong")
    page.get_by_role("button", name="Test and connect").click()

    status = page.get_by_role("status").filter(has_text="Connection test")
    expect(status).to_contain_text("Connection test failed")
    expect(status).to_contain_text("535 5.7.8 Authentication credentials invalid")
    assert not Mailbox.objects.exists()
    # The password is never sent back: typed again.
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    page.get_by_label("Password", exact=True).fill("the-right-one")
    page.get_by_role("button", name="Test and connect").click()

    expect(page.locator("h1")).to_have_text("rita@example.test")
    expect(page.locator(".messages")).to_contain_text("rita@example.test connected.")
    assert Mailbox.objects.get().state == Mailbox.State.CONNECTED
