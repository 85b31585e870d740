"""Writing a sequence in Debian's Chromium: create it, add two steps watching the live
preview follow the typing, then reorder them."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from sequences.models import Sequence

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _add_step(page, subject: str, body: str, wait: str, expected_subject: str) -> None:
    page.get_by_role("link", name="Add a step").click()
    preview = page.locator("#step-preview")
    expect(preview).to_contain_text("Write a subject and a body")
    page.locator("#id_subject").press_sequentially(subject, delay=15)
    page.locator("#id_body").press_sequentially(body, delay=15)
    # Redrawn by the server as it was typed, with the sample contact's details.
    expect(preview.locator('[data-preview="subject"]')).to_have_text(expected_subject)
    page.locator("#id_wait_days").fill(wait)
    page.get_by_role("button", name="Add the step").click()


def test_it_creates_a_sequence_writes_two_steps_and_reorders_them(
    signed_in, rep, make_mailbox, live_server
):
    make_mailbox(rep)
    page = signed_in(rep)
    page.goto(live_server.url + reverse("sequences:list"))

    page.get_by_role("link", name="New sequence").click()
    page.locator("#id_name").fill("Q1 outreach")
    page.get_by_role("button", name="Create the sequence").click()
    expect(page.locator(".messages")).to_contain_text("Q1 outreach created")
    page.get_by_role("link", name="Steps", exact=True).click()

    rows = page.locator("#steps tbody tr")
    _add_step(page, "Hello {{ first_name }}", "About {{ company }}", "0", "Hello Alex")
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text("Hello {{ first_name }}")
    _add_step(page, "Re: anything", "Following up, {{ first_name }}", "3", "Re: Hello Alex")
    expect(rows).to_have_count(2)

    page.get_by_role("button", name="Move step 2 up").click()

    expect(page.locator(".messages")).to_contain_text("is now step 1")
    expect(rows.nth(0)).to_contain_text("Re: anything")
    expect(rows.nth(1)).to_contain_text("Hello {{ first_name }}")
    sequence = Sequence.objects.get(name="Q1 outreach")
    assert list(sequence.steps.values_list("position", "subject")) == [
        (1, "Re: anything"),
        (2, "Hello {{ first_name }}"),
    ]
