"""What a person sees and clicks on the Emails tab, in Debian's Chromium."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from sequences.models import Mailbox, ScheduledEmail
from tests.support import send_through

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
Status = ScheduledEmail.Status


@pytest.fixture
def sequence(admin_user, make_sequence):
    return make_sequence(admin_user, name="Outbound", steps=1)


@pytest.fixture
def blocked(sequence, make_email):
    def make(address: str, raw: str, category: str, code: str) -> ScheduledEmail:
        return make_email(
            sequence,
            email=address,
            status=Status.BLOCKED,
            next_attempt_at=None,
            last_error=raw,
            error_code=code,
            error_category=category,
            attempt_count=1,
        )

    return make


@pytest.fixture
def bad_address(blocked):
    return blocked(
        "pat@exämple.test",
        "[402] Invalid character in recipient address",
        "recipient_address_invalid",
        "nylas.402.invalid_character",
    )


def _open_tab(page, live_server, sequence, query: str = ""):
    page.goto(live_server.url + reverse("sequences:emails", args=[sequence.pk]) + query)
    return page


def _popover(page, email):
    return page.locator(f"#why-{email.pk}")


def test_it_explains_an_error_on_hover(signed_in, admin_user, live_server, sequence, bad_address):
    page = _open_tab(signed_in(admin_user), live_server, sequence)

    page.locator(f'[aria-controls="why-{bad_address.pk}"]').hover()

    popover = _popover(page, bad_address)
    popover.wait_for(state="visible")
    assert "Invalid character in the contact's address" in popover.inner_text()
    assert "[402] Invalid character in recipient address" in popover.inner_text()
    box, viewport = popover.bounding_box(), page.viewport_size
    assert 0 <= box["x"] <= box["x"] + box["width"] <= viewport["width"]
    assert 0 <= box["y"] <= box["y"] + box["height"] <= viewport["height"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "emails-tab-popover.png")


def test_it_opens_the_explanation_from_the_keyboard_and_escape_closes_it(
    signed_in, admin_user, live_server, sequence, bad_address
):
    page = _open_tab(signed_in(admin_user), live_server, sequence)
    trigger = page.locator(f'[aria-controls="why-{bad_address.pk}"]')

    for _ in range(60):
        page.keyboard.press("Tab")
        if trigger.evaluate("element => element === document.activeElement"):
            break
    popover = _popover(page, bad_address)
    popover.wait_for(state="visible")
    assert trigger.get_attribute("aria-expanded") == "true"

    page.keyboard.press("Escape")

    popover.wait_for(state="hidden")
    assert trigger.get_attribute("aria-expanded") == "false"
    assert trigger.evaluate("element => element === document.activeElement")


def test_it_corrects_a_bad_address_and_the_row_turns_scheduled(
    signed_in, admin_user, live_server, sequence, bad_address
):
    page = _open_tab(signed_in(admin_user), live_server, sequence)
    page.locator(f'[aria-controls="why-{bad_address.pk}"]').hover()
    popover = _popover(page, bad_address)

    popover.locator("input[name=address]").fill("pat@example.test")
    popover.locator("button", has_text="Save and resend").click()

    row = page.locator(f"#email-{bad_address.pk}")
    row.locator(".status-trigger").wait_for(state="detached")
    assert row.locator(".status").inner_text().strip() == "Scheduled"
    assert "pat@example.test" in row.inner_text()
    assert "rescheduled" in page.locator(".toast").first.inner_text()
    bad_address.refresh_from_db()
    assert bad_address.status == Status.SCHEDULED


def test_it_refuses_an_address_that_is_not_one_recipient_with_the_reason(
    signed_in, admin_user, live_server, sequence, bad_address
):
    page = _open_tab(signed_in(admin_user), live_server, sequence)
    page.locator(f'[aria-controls="why-{bad_address.pk}"]').hover()
    popover = _popover(page, bad_address)

    popover.locator("input[name=address]").fill("bob,nobody@example.test")
    popover.locator("button", has_text="Save and resend").click()

    error = popover.locator('[role="alert"]')
    error.wait_for()
    assert "invalid characters before the @-sign: ','" in error.inner_text()
    bad_address.refresh_from_db()
    assert bad_address.status == Status.BLOCKED


def test_it_reschedules_the_selected_emails(signed_in, admin_user, live_server, sequence, blocked):
    emails = [
        blocked(f"c{n}@example.test", "554 5.7.1 Message blocked", "content_rejected", "x")
        for n in range(3)
    ]
    page = _open_tab(signed_in(admin_user), live_server, sequence)

    button = page.locator("button", has_text="Reschedule selected")
    expect(button).to_be_disabled()  # nothing selected yet
    for email in emails[:2]:
        page.locator(f'#email-{email.pk} input[type="checkbox"]').check()
    button.click()

    page.locator(".toast", has_text="2 rescheduled").wait_for()
    statuses = [ScheduledEmail.objects.get(pk=e.pk).status for e in emails]
    assert statuses == [Status.SCHEDULED, Status.SCHEDULED, Status.BLOCKED]
    # Needs attention is redrawn with the table: the one left, not the three before.
    expect(page.locator("#triage")).to_contain_text("1 blocked")
    expect(page.locator("#triage")).to_contain_text("Reschedule all 1")


def test_the_copied_case_carries_the_contacts_address(
    signed_in, admin_user, live_server, sequence, bad_address
):
    page = _open_tab(signed_in(admin_user), live_server, sequence)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.locator(f'[aria-controls="why-{bad_address.pk}"]').hover()

    _popover(page, bad_address).locator("button", has_text="Copy case").click()

    expect(_popover(page, bad_address).locator(".copy-case")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "Contact: Pat <pat@exämple.test>" in copied
    assert "[402] Invalid character in recipient address" in copied


def test_the_default_view_shows_a_change_without_a_reload(
    signed_in, admin_user, live_server, sequence, make_email
):
    soon = timezone.now() + dt.timedelta(minutes=5)
    email = make_email(sequence, email="pat@example.test", scheduled_for=soon, next_attempt_at=soon)
    page = _open_tab(signed_in(admin_user), live_server, sequence)
    row = page.locator(f"#email-{email.pk} .status")
    expect(row).to_contain_text("Scheduled")

    # Cancelled elsewhere (another admin, a reply): the open page follows within a poll,
    # and the email leaves "Up next"; every email is one click away, where it says so.
    ScheduledEmail.objects.filter(pk=email.pk).update(
        status=Status.CANCELLED, status_reason="Contact suppressed", next_attempt_at=None
    )

    expect(row).to_have_count(0, timeout=15_000)
    page.get_by_role("link", name="All emails").click()
    expect(row).to_contain_text("Cancelled")


def _held_by_a_refused_sign_in(blocked) -> list[ScheduledEmail]:
    """Two emails their mailbox holds since its sign-in was refused."""
    return [
        blocked(
            f"c{n}@example.test",
            "535 5.7.8 Authentication credentials invalid",
            "mailbox_connection",
            "smtp.5.7.8",
        )
        for n in range(2)
    ]


def test_it_resynchronizes_a_mailbox_and_shows_the_outcome(
    signed_in, admin_user, live_server, sequence, blocked, workers, sandbox
):
    # Out of sync (not a refused sign-in, whose fix is a new password: below).
    send_through(sequence.mailbox_id, sandbox, state=Mailbox.State.SYNC_ERROR)
    held = _held_by_a_refused_sign_in(blocked)
    workers.start("browser")
    page = _open_tab(signed_in(admin_user), live_server, sequence)

    button = page.locator(".triage button", has_text="Resynchronize")
    assert "puts back 2" in button.inner_text()
    button.click()

    outcome = page.locator(".resync-outcome")
    outcome.wait_for(timeout=30_000)
    assert "Connected — 2 emails rescheduled" in outcome.inner_text()
    assert {ScheduledEmail.objects.get(pk=e.pk).status for e in held} == {Status.SCHEDULED}


def test_a_refused_sign_in_is_fixed_with_a_new_password_not_the_same_one(
    signed_in, admin_user, live_server, sequence, blocked, sandbox
):
    # With caps a form accepts (the sandbox's test ones are beyond any provider's).
    send_through(
        sequence.mailbox_id,
        sandbox,
        state=Mailbox.State.INVALID_CREDENTIALS,
        per_minute_limit=30,
        daily_limit=500,
    )
    held = _held_by_a_refused_sign_in(blocked)
    page = _open_tab(signed_in(admin_user), live_server, sequence)

    assert page.locator(".triage button", has_text="Resynchronize").count() == 0
    page.locator(".triage a", has_text="Enter the new password and reconnect").click()
    page.get_by_label("Password", exact=True).fill("the-new-one")
    page.get_by_role("button", name="Test, save and reconnect").click()

    expect(page.locator(".messages")).to_contain_text("connected: 2 held emails rescheduled")
    assert {ScheduledEmail.objects.get(pk=e.pk).status for e in held} == {Status.SCHEDULED}
    assert Mailbox.objects.get(pk=sequence.mailbox_id).password == "the-new-one"


def test_it_checks_the_sender_domain_from_an_authentication_failure(
    signed_in, admin_user, live_server, sequence, blocked, workers, dns_sandbox
):
    Mailbox.objects.filter(pk=sequence.mailbox_id).update(
        email="adam@nospf.test", provider=Mailbox.Provider.GMAIL
    )
    email = blocked(
        "lee@example.test",
        "550 5.7.26 Unauthenticated email from nospf.test is not accepted due to domain's "
        "DMARC policy.",
        "sender_blocked",
        "smtp.5.7.26",
    )
    workers.start("dns", DNS_NAMESERVERS=dns_sandbox.nameserver, DNS_TIMEOUT="1")
    page = _open_tab(signed_in(admin_user), live_server, sequence)

    page.locator(f'[aria-controls="why-{email.pk}"]').hover()
    _popover(page, email).get_by_role("button", name="Check the DNS records of nospf.test").click()

    results = _popover(page, email).locator(".domain-check")
    results.wait_for(timeout=30_000)
    expect(results).to_be_in_viewport()  # scrolled to, in the popover, which stays open
    expect(results).to_be_focused()
    spf = results.locator(".check[data-kind=spf]")
    assert "Fail" in spf.locator(".badge").first.inner_text()
    assert 'nospf.test. TXT "v=spf1 include:_spf.google.com' in spf.locator(".record").inner_text()
    page.screenshot(path=str(ARTIFACTS / "domain-check-popover.png"))


def test_it_explains_an_uncertain_delivery_and_sends_it_again_only_when_asked(
    signed_in, admin_user, live_server, sequence, make_uncertain_email
):
    uncertain = make_uncertain_email(sequence, email="sam@example.test")
    page = _open_tab(signed_in(admin_user), live_server, sequence, "?status=blocked")
    page.locator(f'[aria-controls="why-{uncertain.pk}"]').hover()
    popover = _popover(page, uncertain)
    popover.wait_for(state="visible")

    text = popover.inner_text()
    assert "Probably delivered, not confirmed" in text
    assert f"Look for Message-ID {uncertain.message_id}" in text
    assert popover.locator("button", has_text="Reschedule").count() == 0
    # Copy case carries the Message-ID to look for.
    case = page.locator(f"#case-{uncertain.pk}").evaluate("t => t.content.textContent")
    assert f"Message-ID: {uncertain.message_id}" in case

    page.once("dialog", lambda dialog: dialog.accept())  # "… may give two copies …"
    popover.locator("button", has_text="Send again anyway").click()

    page.locator(".toast").first.wait_for()
    assert "two copies" in page.locator(".toast").first.inner_text()
    uncertain.refresh_from_db()
    assert uncertain.status == Status.SCHEDULED


def test_a_popover_opened_mid_screen_is_fully_visible(
    signed_in, admin_user, live_server, sequence, blocked
):
    emails = [
        blocked(f"c{n:02}@example.test", "554 5.7.1 Message blocked", "content_rejected", "x")
        for n in range(30)
    ]
    page = _open_tab(signed_in(admin_user), live_server, sequence)
    middle = emails[15]
    trigger = page.locator(f'[aria-controls="why-{middle.pk}"]')
    trigger.scroll_into_view_if_needed()
    page.evaluate("t => t.scrollIntoView({block: 'center'})", trigger.element_handle())

    trigger.hover()

    popover = _popover(page, middle)
    popover.wait_for(state="visible")
    viewport = page.viewport_size
    for part in (popover, popover.locator(".copy-case")):
        box = part.bounding_box()
        assert box["y"] >= 0
        assert box["y"] + box["height"] <= viewport["height"]
