"""Claiming due emails: who gets what, and what waits (no SMTP involved)."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from sequences.models import Mailbox, ScheduledEmail, SendAttempt, Sequence
from sequences.services.sending import emails_claim_due

Status = ScheduledEmail.Status


@pytest.fixture
def due_emails(rep, make_sequence, make_email):
    sequence = make_sequence(rep, steps=1)
    sequence.mailbox.sending_days = "1234567"
    sequence.mailbox.window_start, sequence.mailbox.window_end = dt.time(0), dt.time(23, 59, 59)
    sequence.mailbox.save()
    past = timezone.now() - dt.timedelta(minutes=1)
    return [
        make_email(sequence, email=f"c{n}@example.test", scheduled_for=past, next_attempt_at=past)
        for n in range(5)
    ]


def _claimed_ids(claims) -> set[int]:
    return {pk for claim in claims for pk in claim.email_ids}


def test_it_claims_due_emails_and_marks_them_sending(due_emails):
    claims = emails_claim_due()

    assert _claimed_ids(claims) == {e.pk for e in due_emails}
    assert set(ScheduledEmail.objects.values_list("status", flat=True)) == {Status.SENDING}


def test_it_does_not_claim_emails_scheduled_later(due_emails):
    later = timezone.now() + dt.timedelta(hours=1)
    ScheduledEmail.objects.filter(pk=due_emails[0].pk).update(next_attempt_at=later)

    assert due_emails[0].pk not in _claimed_ids(emails_claim_due())


@pytest.mark.django_db(transaction=True)
def test_it_skips_emails_another_dispatcher_holds(due_emails):
    held = [e.pk for e in due_emails[:2]]
    settings = connection.settings_dict
    with (
        psycopg.connect(
            host=settings["HOST"],
            port=settings["PORT"],
            user=settings["USER"],
            dbname=settings["NAME"],
        ) as other,
        other.transaction(),
    ):
        other.execute(
            "SELECT id FROM sequences_scheduledemail WHERE id = ANY(%s) FOR UPDATE", [held]
        )

        claimed = _claimed_ids(emails_claim_due())

    assert claimed == {e.pk for e in due_emails[2:]}


def test_it_claims_no_more_than_the_mailbox_per_minute_cap(due_emails):
    Mailbox.objects.update(per_minute_limit=3)

    claimed = _claimed_ids(emails_claim_due())
    again = emails_claim_due()

    assert len(claimed) == 3
    assert again == []
    waiting = ScheduledEmail.objects.exclude(pk__in=claimed)
    assert all(e.next_attempt_at > timezone.now() for e in waiting)


def test_it_counts_sends_of_the_last_minute_against_the_cap(due_emails):
    Mailbox.objects.update(per_minute_limit=3)
    SendAttempt.objects.create(
        email=due_emails[0],
        mailbox=due_emails[0].mailbox,
        number=1,
        started_at=timezone.now() - dt.timedelta(seconds=30),
        outcome=SendAttempt.Outcome.SENT,
    )

    assert len(_claimed_ids(emails_claim_due())) == 2


def test_it_leaves_a_broken_mailbox_alone(due_emails):
    Mailbox.objects.update(state=Mailbox.State.INVALID_CREDENTIALS)

    assert emails_claim_due() == []


def test_it_leaves_a_paused_sequence_alone(due_emails):
    Sequence.objects.update(state=Sequence.State.PAUSED)

    assert emails_claim_due() == []


def test_it_holds_first_steps_but_not_follow_ups_when_the_bounce_guard_tripped(
    due_emails, make_email
):
    sequence = due_emails[0].sequence
    sequence.steps.create(position=2, wait_days=3, subject="Again", body="Hi")
    past = timezone.now() - dt.timedelta(minutes=1)
    follow_up = make_email(
        sequence, email="c0@example.test", position=2, scheduled_for=past, next_attempt_at=past
    )
    Sequence.objects.update(first_steps_paused_at=timezone.now(), first_steps_paused_reason="x")

    assert _claimed_ids(emails_claim_due()) == {follow_up.pk}
