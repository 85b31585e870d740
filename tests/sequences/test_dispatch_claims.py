"""Claiming due emails: who gets what, and what waits (no SMTP involved)."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from sequences.models import Mailbox, ScheduledEmail, SendAttempt, Sequence
from sequences.services.sending import emails_claim_due, emails_recover_stale

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


def _claim_at(
    seconds_ago: float, *, lease_in: float | None
) -> tuple[list[ScheduledEmail], dt.datetime]:
    """Claim what is due as of `seconds_ago`; the mailbox's lease then ends in `lease_in`
    seconds from now (negative: passed), or it has none."""
    now = timezone.now()
    (claim,) = emails_claim_due(now=now)
    ScheduledEmail.objects.filter(pk__in=claim.email_ids).update(
        claimed_at=now - dt.timedelta(seconds=seconds_ago)
    )
    until = None if lease_in is None else now + dt.timedelta(seconds=lease_in)
    Mailbox.objects.filter(pk=claim.mailbox_id).update(sending_lease_until=until)
    return list(ScheduledEmail.objects.filter(pk__in=claim.email_ids).order_by("pk"))


def _start(email: ScheduledEmail) -> None:
    SendAttempt.objects.create(
        email=email,
        mailbox=email.mailbox,
        number=1,
        started_at=timezone.now(),
        outcome=SendAttempt.Outcome.STARTED,
        message_id=f"<{email.pk}@x.test>",
    )


def _statuses(emails: list[ScheduledEmail]) -> list[str]:
    return [ScheduledEmail.objects.get(pk=e.pk).status for e in emails]


@pytest.mark.django_db(transaction=True)
def test_it_recovers_at_once_the_claim_of_a_batch_whose_lease_has_passed(due_emails, settings):
    # A batch took the claim up (its lease was renewed after the claim), then its worker
    # died or lost the database two minutes ago: far sooner than SENDING_CLAIM_TIMEOUT.
    settings.SENDING_LEASE_SECONDS = 60
    emails = _claim_at(125, lease_in=-5)
    _start(emails[0])

    recovered = emails_recover_stale()

    assert recovered == 5
    assert _statuses(emails) == [Status.BLOCKED] + [Status.SCHEDULED] * 4
    assert ScheduledEmail.objects.get(pk=emails[0].pk).error_code == "pipeline.delivery_uncertain"


@pytest.mark.django_db(transaction=True)
def test_it_leaves_a_claim_alone_while_its_batch_renews_the_lease(due_emails, settings):
    settings.SENDING_LEASE_SECONDS = 60
    emails = _claim_at(125, lease_in=50)
    _start(emails[0])

    assert emails_recover_stale() == 0
    assert set(_statuses(emails)) == {Status.SENDING}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("age", "recovered"), [(20, 0), (90, 5)])
def test_it_gives_a_claim_whose_task_never_started_back_once_the_task_expired(
    due_emails, settings, age, recovered
):
    # No batch took it up (a broker that lost the task, or a long queue): its task expires
    # unrun after SEND_TASK_EXPIRES, and then only is the claim given back.
    settings.SEND_TASK_EXPIRES = 60
    emails = _claim_at(age, lease_in=None)

    assert emails_recover_stale() == recovered
    assert set(_statuses(emails)) == {Status.SCHEDULED if recovered else Status.SENDING}


@pytest.mark.django_db(transaction=True)
def test_a_claim_taken_after_an_earlier_batch_is_not_held_by_its_lease(due_emails, settings):
    # The mailbox's lease is an earlier batch's, renewed before this claim was taken.
    settings.SENDING_LEASE_SECONDS, settings.SEND_TASK_EXPIRES = 60, 60
    emails = _claim_at(90, lease_in=-20)

    assert emails_recover_stale() == 5  # given back: its task has expired unrun
    assert set(_statuses(emails)) == {Status.SCHEDULED}
