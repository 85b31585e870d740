"""Follow-ups wait for their step: step k+1 goes out `wait_days` after step k was sent.

The real pipeline in this process (`manage.py dispatch --once`) to the SMTP sandbox.
"""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from diagnostics.diagnosis import diagnose
from sequences.models import Contact, ScheduledEmail, SendAttempt, Step
from sequences.services.contacts import contact_bounce
from sequences.services.sending import emails_recover_stale
from tests.support import send_through

pytestmark = pytest.mark.django_db(transaction=True)
Status = ScheduledEmail.Status


@pytest.fixture
def outbound(rep, make_sequence, sandbox):
    sequence = make_sequence(rep, steps=3)  # steps 2 and 3 wait 3 days each
    send_through(sequence.mailbox_id, sandbox)
    return sequence


@pytest.fixture
def enrolled(outbound, make_email):
    """A contact's three steps as the product plans them: step 1 due now, the rest waiting."""

    def make(address: str) -> list[ScheduledEmail]:
        now = timezone.now()
        first = make_email(outbound, email=address, scheduled_for=now, next_attempt_at=now)
        # Planned for the past on purpose: only step 1's send may make them due.
        past = now - dt.timedelta(days=1)
        return [first] + [
            make_email(
                outbound,
                email=address,
                position=position,
                status=Status.WAITING,
                scheduled_for=past,
                next_attempt_at=None,
            )
            for position in (2, 3)
        ]

    return make


def _dispatch() -> None:
    call_command("dispatch", "--once", stdout=open("/dev/null", "w"))  # noqa: SIM115


def _reload(emails: list[ScheduledEmail]) -> list[ScheduledEmail]:
    for email in emails:
        email.refresh_from_db()
    return emails


def test_it_schedules_a_follow_up_wait_days_after_its_step_was_sent(enrolled, sandbox):
    first, second, third = enrolled("pat@example.test")

    _dispatch()
    _dispatch()

    first, second, third = _reload([first, second, third])
    assert first.status == Status.SENT
    assert second.status == Status.SCHEDULED
    assert second.next_attempt_at >= first.sent_at + dt.timedelta(days=3)
    assert second.scheduled_for == second.next_attempt_at
    assert third.status == Status.WAITING  # its own step is not sent yet
    assert len(sandbox.messages()) == 1


def test_it_keeps_follow_ups_waiting_while_their_step_cannot_go(enrolled, sandbox):
    first, second, third = enrolled("pat@unknown.test")  # refused for good: 550 5.1.1
    blocked_first, *blocked_rest = enrolled("sam@blocked.test")  # refused: fix on our side

    _dispatch()

    first, second, third = _reload([first, second, third])
    assert first.status == Status.FAILED
    assert {second.status, third.status} == {Status.CANCELLED}
    assert second.status_reason == "Contact bounced"
    blocked_first, *blocked_rest = _reload([blocked_first, *blocked_rest])
    assert blocked_first.status == Status.BLOCKED
    assert {email.status for email in blocked_rest} == {Status.WAITING}
    assert sandbox.messages() == []


def test_it_cancels_the_follow_ups_of_a_step_given_up_on(enrolled, sandbox):
    first, second, third = enrolled("pat@away.test")  # 450: retried
    long_ago = timezone.now() - dt.timedelta(hours=73)
    SendAttempt.objects.create(
        email=first,
        mailbox=first.mailbox,
        number=1,
        started_at=long_ago,
        finished_at=long_ago,
        outcome=SendAttempt.Outcome.FAILED,
        raw_error="450 4.2.1 Mailbox temporarily unavailable",
    )
    ScheduledEmail.objects.filter(pk=first.pk).update(status=Status.RETRYING, attempt_count=1)

    _dispatch()

    first, second, third = _reload([first, second, third])
    assert first.status == Status.FAILED
    assert (second.status, third.status) == (Status.CANCELLED, Status.CANCELLED)
    assert second.status_reason.startswith("Step 1: Gave up after 72 hours")
    assert Contact.objects.get(pk=first.contact_id).state == Contact.State.ACTIVE


def test_it_brings_back_the_follow_ups_a_bounce_cancelled_when_the_address_is_corrected(
    client, admin_user, outbound, enrolled
):
    first, second, third = enrolled("pat@example.test")
    ScheduledEmail.objects.filter(pk=first.pk).update(
        status=Status.FAILED,
        next_attempt_at=None,
        last_error="550 5.1.1 User unknown",
        error_code="smtp.5.1.1",
        error_category="recipient_unknown",
    )
    contact_bounce(
        contact_id=first.contact_id, diagnosis=diagnose("550 5.1.1 User unknown"), email_id=first.pk
    )
    client.force_login(admin_user)

    client.post(
        reverse("sequences:contact_edit_email", args=[outbound.pk, first.contact_id]),
        {"address": "pat@example.org"},
    )

    first, second, third = _reload([first, second, third])
    assert first.status == Status.SCHEDULED
    assert (second.status, third.status) == (Status.WAITING, Status.WAITING)


def test_it_shows_a_follow_up_waiting_for_its_step(client, rep, outbound, enrolled):
    enrolled("pat@example.test")
    client.force_login(rep)

    page = client.get(reverse("sequences:emails", args=[outbound.pk])).text

    assert page.count("Waiting for the previous step") >= 2  # the legend, and the rows


def test_it_makes_follow_ups_planned_before_this_rule_wait(outbound, make_email):
    migration = importlib.import_module("sequences.migrations.0006_followers_wait")
    now = timezone.now()
    first = make_email(
        outbound,
        email="pat@example.test",
        status=Status.BLOCKED,
        next_attempt_at=None,
        error_code="x",
        error_category="unknown",
    )
    due_follow_up = make_email(
        outbound, email="pat@example.test", position=2, scheduled_for=now, next_attempt_at=now
    )
    lone = make_email(outbound, email="sam@example.test", scheduled_for=now, next_attempt_at=now)

    migration.wait_for_previous_steps(django_apps, None)

    assert _reload([due_follow_up])[0].status == Status.WAITING
    assert _reload([lone])[0].status == Status.SCHEDULED  # a first step waits for nothing
    assert _reload([first])[0].status == Status.BLOCKED


def test_it_threads_a_follow_up_to_the_steps_before_it(enrolled, sandbox):
    first, second, _ = enrolled("pat@example.test")
    _dispatch()
    first.refresh_from_db()
    now = timezone.now()
    ScheduledEmail.objects.filter(pk=second.pk).update(scheduled_for=now, next_attempt_at=now)

    _dispatch()

    second.refresh_from_db()
    assert second.status == Status.SENT
    replies = [m for m in sandbox.messages() if m["Message-ID"] == second.message_id]
    (reply,) = replies
    assert reply["In-Reply-To"] == first.message_id
    assert reply["References"] == first.message_id
    (opening,) = [m for m in sandbox.messages() if m["Message-ID"] == first.message_id]
    assert opening["In-Reply-To"] is None


def test_it_answers_with_the_subject_the_first_email_was_sent_with(enrolled, sandbox):
    first, second, _ = enrolled("pat@example.test")
    Step.objects.filter(pk=first.step_id).update(subject="Quick question about {{ company }}")
    Step.objects.filter(pk=second.step_id).update(subject="Re: Quick question about {{ company }}")
    Contact.objects.filter(pk=first.contact_id).update(company="Acme")
    _dispatch()
    # The contact's company is corrected between the two steps.
    Contact.objects.filter(pk=first.contact_id).update(company="Acme Corporation")
    now = timezone.now()
    ScheduledEmail.objects.filter(pk=second.pk).update(scheduled_for=now, next_attempt_at=now)

    _dispatch()

    first, second = _reload([first, second])
    assert first.subject == "Quick question about Acme"
    assert second.subject == "Re: Quick question about Acme"
    subjects = {m["Message-ID"]: m["Subject"] for m in sandbox.messages()}
    assert subjects[second.message_id] == "Re: Quick question about Acme"


def test_it_keeps_a_follow_up_subject_that_is_not_a_reply(enrolled, sandbox):
    _, second, _ = enrolled("pat@example.test")
    _dispatch()
    now = timezone.now()
    ScheduledEmail.objects.filter(pk=second.pk).update(scheduled_for=now, next_attempt_at=now)

    _dispatch()

    second.refresh_from_db()
    assert second.subject == "Step 2 for Pat"  # a new subject starts a new topic, as written


def test_it_releases_the_follow_ups_of_a_send_a_crash_left_unsettled(enrolled):
    first, second, _ = enrolled("pat@example.test")
    # What a worker killed right after recording the acceptance leaves: sent, still claimed.
    sent_at = timezone.now() - dt.timedelta(hours=1)
    ScheduledEmail.objects.filter(pk=first.pk).update(
        status=Status.SENT, sent_at=sent_at, message_id="<1@x.test>", claimed_at=sent_at
    )

    attempt = SendAttempt.objects.create(
        email=first,
        mailbox=first.mailbox,
        number=1,
        started_at=sent_at,
        outcome=SendAttempt.Outcome.STARTED,  # an older version, killed between two writes
        message_id="<1@x.test>",
    )

    emails_recover_stale()

    first, second = _reload([first, second])
    assert first.claimed_at is None
    assert second.status == Status.SCHEDULED
    assert second.next_attempt_at >= sent_at + dt.timedelta(days=3)
    attempt.refresh_from_db()
    assert attempt.outcome == SendAttempt.Outcome.SENT
