"""What the server did, not what we hoped: silence after the message, dead servers.

The real pipeline in this process (`manage.py dispatch --once`) against the SMTP sandbox.
"""

from __future__ import annotations

from collections import Counter

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import OperationalError
from django.utils import timezone

from sandboxes.smtp_server import RCPT_TO_HEADER
from sequences.models import Mailbox, ScheduledEmail, SendAttempt, Sequence
from sequences.services import ledger
from sequences.services.sending import emails_claim_due, emails_send_batch
from tests.support import send_through

pytestmark = pytest.mark.django_db(transaction=True)
Status = ScheduledEmail.Status


@pytest.fixture
def fast_timeout(settings):
    settings.SMTP_TIMEOUT = 1
    return settings


@pytest.fixture
def outbound(rep, make_sequence, start_sandbox, fast_timeout):
    sandbox = start_sandbox(slow_data_seconds=3)
    sequence = make_sequence(rep, steps=1)
    send_through(sequence.mailbox_id, sandbox)
    sequence.sandbox = sandbox
    return sequence


@pytest.fixture
def due(outbound, make_email):
    def make(address: str) -> ScheduledEmail:
        now = timezone.now()
        return make_email(outbound, email=address, scheduled_for=now, next_attempt_at=now)

    return make


def _dispatch() -> None:
    call_command("dispatch", "--once", stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.mark.parametrize("domain", ["slowdata.test", "dropdata.test"])
def test_it_calls_a_message_without_reply_uncertain_and_never_resends_it(due, outbound, domain):
    email = due(f"pat@{domain}")
    after = due("sam@example.test")

    _dispatch()
    _dispatch()  # a later cycle must not pick it up again

    email.refresh_from_db()
    assert (email.status, email.error_code) == (Status.BLOCKED, "pipeline.delivery_uncertain")
    assert "Delivery uncertain" in email.last_error
    assert email.attempts.get().message_id in email.last_error
    assert email.attempts.get().outcome == SendAttempt.Outcome.UNCERTAIN
    # The server has it once: no copy was sent again.
    copies = [m for m in outbound.sandbox.messages() if m[RCPT_TO_HEADER] == f"pat@{domain}"]
    assert len(copies) == 1
    after.refresh_from_db()
    assert after.status == Status.SENT


def test_it_tries_a_dead_server_once_per_mailbox_not_once_per_email(due, outbound, make_email):
    emails = [due(f"c{n}@example.test") for n in range(5)]
    outbound.sandbox.stop()

    _dispatch()

    attempts = SendAttempt.objects.filter(email__in=emails)
    assert attempts.count() == 1
    assert "Connection refused" in attempts.get().raw_error
    statuses = sorted(
        ScheduledEmail.objects.filter(pk__in=[e.pk for e in emails]).values_list(
            "status", flat=True
        )
    )
    assert statuses == [Status.RETRYING] + [Status.SCHEDULED] * 4
    mailbox = Mailbox.objects.get(pk=outbound.mailbox_id)
    assert mailbox.paused_until > timezone.now()
    untouched = ScheduledEmail.objects.filter(pk__in=[e.pk for e in emails], attempt_count=0)
    assert all(e.next_attempt_at >= mailbox.paused_until for e in untouched)


def test_it_holds_the_mailbox_once_when_its_password_cannot_be_decrypted(due, outbound, make_email):
    emails = [due(f"c{n}@example.test") for n in range(4)]
    foreign = Fernet(Fernet.generate_key()).encrypt(b"pw").decode()
    Mailbox.objects.filter(pk=outbound.mailbox_id).update(smtp_secret=foreign)

    _dispatch()

    assert SendAttempt.objects.filter(email__in=emails).count() == 1
    statuses = set(
        ScheduledEmail.objects.filter(pk__in=[e.pk for e in emails]).values_list(
            "status", "error_category"
        )
    )
    assert statuses == {(Status.BLOCKED, "mailbox_connection")}  # none stuck in sending
    mailbox = Mailbox.objects.get(pk=outbound.mailbox_id)
    assert mailbox.state == Mailbox.State.INVALID_CREDENTIALS
    assert "cannot be decrypted" in mailbox.last_error
    assert outbound.sandbox.logins == 0


@pytest.fixture
def slow_outbound(rep, make_sequence, start_sandbox, settings):
    """A mailbox whose server takes `slow_data_seconds` to accept each message."""

    def make(seconds: float, *, deadline: float) -> Sequence:
        settings.SEND_BATCH_DEADLINE = deadline
        sandbox = start_sandbox(slow_data_seconds=seconds)
        sequence = make_sequence(rep, steps=1)
        send_through(sequence.mailbox_id, sandbox)
        sequence.sandbox = sandbox
        return sequence

    return make


def test_it_ends_a_batch_at_its_deadline_and_gives_the_rest_back(slow_outbound, make_email):
    outbound = slow_outbound(0.4, deadline=2)
    now = timezone.now()
    emails = [
        make_email(outbound, email=f"c{n}@slowdata.test", scheduled_for=now, next_attempt_at=now)
        for n in range(12)
    ]

    _dispatch_one_batch(outbound.mailbox_id)

    by_status = Counter(
        ScheduledEmail.objects.filter(pk__in=[e.pk for e in emails]).values_list(
            "status", flat=True
        )
    )
    # About 2 s of 0.4 s sends: the batch stopped, what it did not start is due again.
    assert 1 <= by_status[Status.SENT] < 12
    assert by_status[Status.SENT] + by_status[Status.SCHEDULED] == 12
    assert SendAttempt.objects.filter(email__in=emails).count() == by_status[Status.SENT]
    assert len(outbound.sandbox.messages()) == by_status[Status.SENT]


def test_it_waits_for_no_reply_past_the_batch_deadline(slow_outbound, make_email, settings):
    # The server accepts after 5 s, sooner than SMTP_TIMEOUT, but later than the deadline.
    outbound = slow_outbound(5, deadline=1.5)
    settings.SMTP_TIMEOUT = 30
    now = timezone.now()
    email = make_email(outbound, email="pat@slowdata.test", scheduled_for=now, next_attempt_at=now)

    _dispatch_one_batch(outbound.mailbox_id)

    email.refresh_from_db()
    # Cut by the deadline after the message was handed over: uncertain, never resent.
    assert (email.status, email.error_code) == (Status.BLOCKED, "pipeline.delivery_uncertain")


def test_a_delivery_ends_a_run_of_connection_failures(due, outbound):
    Mailbox.objects.filter(pk=outbound.mailbox_id).update(connection_failures=2)
    email = due("pat@example.test")

    _dispatch()

    email.refresh_from_db()
    assert email.status == Status.SENT
    assert Mailbox.objects.get(pk=outbound.mailbox_id).connection_failures == 0


def _dispatch_one_batch(mailbox_id: int) -> None:
    """One claim of the mailbox, sent in this process (not `dispatch`, which claims again)."""
    (claim,) = emails_claim_due()
    assert claim.mailbox_id == mailbox_id
    emails_send_batch(
        mailbox_id=claim.mailbox_id, email_ids=claim.email_ids, claimed_at=claim.claimed_at
    )


def test_it_records_an_acceptance_once_the_database_answers_again():
    calls = []

    def write() -> None:
        calls.append(timezone.now())
        if len(calls) < 3:
            raise OperationalError("server closed the connection unexpectedly")

    ledger.retrying(write, for_seconds=10)

    assert len(calls) == 3


def test_a_database_away_while_an_acceptance_waits_for_the_next_start_loses_neither(
    due, outbound, monkeypatch
):
    first, second = due("pat@example.test"), due("sam@example.test")
    start = ledger.attempt_start
    failed = []

    def away_once(*args: object, accepted: ledger.Acceptance | None = None, **kw: object):
        if accepted is not None and not failed:  # the first's 250, joined to the second's start
            failed.append(accepted.email_id)
            raise OperationalError("server closed the connection unexpectedly")
        return start(*args, accepted=accepted, **kw)

    monkeypatch.setattr(ledger, "attempt_start", away_once)

    _dispatch_one_batch(outbound.mailbox_id)

    assert failed == [first.pk]
    for email in (first, second):
        email.refresh_from_db()
        assert email.status == Status.SENT
        assert list(email.attempts.values_list("outcome", flat=True)) == [SendAttempt.Outcome.SENT]
    assert len(outbound.sandbox.messages()) == 2


def test_it_gives_up_recording_after_its_time_and_says_why():
    def write() -> None:
        raise OperationalError("connection refused")

    with pytest.raises(OperationalError, match="connection refused"):
        ledger.retrying(write, for_seconds=0.1)


def test_it_tries_a_server_that_never_greets_once_per_mailbox(
    rep, make_sequence, start_sandbox, make_email, fast_timeout
):
    stuck = start_sandbox(greeting_delay_seconds=5)  # longer than SMTP_TIMEOUT (1 s)
    sequence = make_sequence(rep, steps=1)
    send_through(sequence.mailbox_id, stuck)
    now = timezone.now()
    emails = [
        make_email(sequence, email=f"c{n}@example.test", scheduled_for=now, next_attempt_at=now)
        for n in range(5)
    ]

    _dispatch()

    (attempt,) = SendAttempt.objects.filter(email__in=emails)  # not one per email
    assert "timed out" in attempt.raw_error
    statuses = sorted(
        ScheduledEmail.objects.filter(pk__in=[e.pk for e in emails]).values_list(
            "status", flat=True
        )
    )
    assert statuses == [Status.RETRYING] + [Status.SCHEDULED] * 4
    assert Mailbox.objects.get(pk=sequence.mailbox_id).connection_failures == 1
    assert stuck.messages() == []
