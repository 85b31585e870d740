from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from sequences.models import AuditEntry, ScheduledEmail, SendAttempt, Sequence
from sequences.services.sequences import sequence_check_bounce_rate

Status = ScheduledEmail.Status


@pytest.fixture
def history(rep, make_sequence, make_email):
    """A sequence that sent `total` emails today, `hard` of which bounced for good."""
    sequence = make_sequence(rep, steps=1)

    def make(*, total: int, hard: int) -> Sequence:
        for n in range(total):
            email = make_email(sequence, email=f"c{n}@example.test")
            bounced = n < hard
            SendAttempt.objects.create(
                email=email,
                mailbox=sequence.mailbox,
                number=1,
                started_at=timezone.now(),
                outcome=SendAttempt.Outcome.FAILED if bounced else SendAttempt.Outcome.SENT,
                raw_error="550 5.1.1 User unknown" if bounced else "",
                retry="never" if bounced else "",
            )
        return sequence

    return make


def test_it_pauses_first_steps_past_the_bounce_threshold(history):
    sequence = history(total=50, hard=5)

    assert sequence_check_bounce_rate(sequence_id=sequence.pk)

    sequence.refresh_from_db()
    assert sequence.first_steps_paused_at is not None
    assert "5 of the last 50 emails" in sequence.first_steps_paused_reason


def test_it_does_not_pause_under_the_threshold(history):
    sequence = history(total=50, hard=3)

    assert not sequence_check_bounce_rate(sequence_id=sequence.pk)


def test_it_waits_for_enough_sends_before_judging(history):
    sequence = history(total=10, hard=5)

    assert not sequence_check_bounce_rate(sequence_id=sequence.pk)


def test_it_lets_an_admin_resume_a_guarded_sequence(client, admin_user, history):
    sequence = history(total=50, hard=5)
    sequence_check_bounce_rate(sequence_id=sequence.pk)
    client.force_login(admin_user)
    page = client.get(reverse("sequences:emails", args=[sequence.pk])).text
    assert "resume first emails" in page

    client.post(reverse("sequences:resume", args=[sequence.pk]))

    sequence.refresh_from_db()
    assert sequence.first_steps_paused_at is None
    assert AuditEntry.objects.get().action == "resume_sequence"


def test_it_refuses_to_resume_a_sequence_that_is_not_paused(client, admin_user, history):
    sequence = history(total=50, hard=0)
    client.force_login(admin_user)

    response = client.post(reverse("sequences:resume", args=[sequence.pk]))

    assert response.status_code == 400
    assert "are not paused" in response.text
    assert not AuditEntry.objects.exists()


@pytest.fixture
def guarded(history, make_email):
    """A sequence the guard paused, with a first email retrying at a time now past."""
    sequence = history(total=50, hard=5)
    sequence_check_bounce_rate(sequence_id=sequence.pk)
    past = timezone.now() - dt.timedelta(hours=1)
    retrying = make_email(
        sequence,
        email="later@example.test",
        status=Status.RETRYING,
        next_attempt_at=past,
        last_error="421 4.7.0 Service temporarily unavailable",
        error_code="smtp.421.service_unavailable",
        error_category="temporary_failure",
        attempt_count=1,
    )
    return sequence, retrying


def test_it_shows_the_guards_pause_in_the_list_and_the_header(client, rep, guarded):
    sequence, _ = guarded
    client.force_login(rep)

    listed = client.get(reverse("sequences:list")).text
    tab = client.get(reverse("sequences:emails", args=[sequence.pk])).text

    assert "First steps paused" in listed
    assert "First steps paused" in tab
    assert "An admin of Acme resumes them" in tab
    assert "resume first emails" not in tab  # a rep may not


def test_it_says_the_guard_holds_an_email_instead_of_a_past_retry_time(client, rep, guarded):
    sequence, retrying = guarded
    client.force_login(rep)

    tab = client.get(reverse("sequences:emails", args=[sequence.pk])).text
    timeline = client.get(reverse("sequences:email_timeline", args=[sequence.pk, retrying.pk])).text

    for page in (tab, timeline):
        assert "Held: first emails of this sequence are paused by the bounce-rate guard" in page
    assert "Next automatic try" not in tab
