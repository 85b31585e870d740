"""End to end: a real Celery worker on Redis and PostgreSQL sends to the SMTP sandbox."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from sequences.models import Contact, Enrollment, Mailbox, ScheduledEmail, SendAttempt
from sequences.services.sending import emails_recover_stale
from sequences.tasks import dispatch_due_emails
from tests.support import bulk_due, mailbox_copies, send_through, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
Status = ScheduledEmail.Status
WAITING = (Status.SCHEDULED, Status.SENDING)


@pytest.fixture
def outbound(rep, make_sequence, sandbox):
    """A two-step sequence whose mailbox sends through the sandbox at any hour."""
    sequence = make_sequence(rep, steps=2)
    send_through(sequence.mailbox_id, sandbox)
    sequence.mailbox.refresh_from_db()
    return sequence


@pytest.fixture
def due(outbound, make_email):
    """An email of step 1 due now, and its step-2 follow-up next week."""

    def make(address: str, **fields: object) -> ScheduledEmail:
        now = timezone.now()
        email = make_email(
            outbound, email=address, scheduled_for=now, next_attempt_at=now, **fields
        )
        later = now + dt.timedelta(days=7)
        make_email(outbound, email=address, position=2, scheduled_for=later, next_attempt_at=later)
        return email

    return make


def _settle(email: ScheduledEmail) -> ScheduledEmail:
    dispatch_due_emails.delay()
    wait_for(
        lambda: ScheduledEmail.objects.get(pk=email.pk).status not in WAITING,
        what=f"email {email.pk} to leave {WAITING}",
    )
    email.refresh_from_db()
    return email


@pytest.fixture
def worker(workers):
    return workers.start("solo")


def test_it_sends_a_due_email_through_the_mailbox(worker, due, sandbox):
    email = _settle(due("pat@example.test"))

    assert email.status == Status.SENT
    (message,) = sandbox.messages()
    assert message["Message-ID"] == email.message_id
    assert message["Subject"] == "Step 1 for Pat"
    assert message["X-Sandbox-Login"] == email.mailbox.smtp_username
    (attempt,) = email.attempts.all()
    assert (attempt.outcome, attempt.message_id) == (SendAttempt.Outcome.SENT, email.message_id)


@pytest.mark.parametrize(
    ("address", "reply", "status", "category"),
    [
        ("uma@unknown.test", "550 5.1.1 User unknown", Status.FAILED, "recipient_unknown"),
        (
            "ines@inactive.test",
            "553 5.1.3 Invalid/Inactive user",
            Status.FAILED,
            "recipient_unknown",
        ),
        ("fred@full.test", "452 4.2.2 Mailbox full", Status.FAILED, "recipient_mailbox_full"),
    ],
)
def test_it_fails_a_hard_bounce_and_stops_the_contact(
    worker, due, sandbox, address, reply, status, category
):
    email = _settle(due(address))

    assert (email.status, email.error_category, email.last_error) == (status, category, reply)
    (attempt,) = email.attempts.all()
    assert attempt.raw_error == reply
    assert email.contact.state == Contact.State.BOUNCED
    assert email.enrollment.state == Enrollment.State.STOPPED
    follow_up = ScheduledEmail.objects.get(enrollment=email.enrollment, step__position=2)
    assert follow_up.status == Status.CANCELLED
    assert sandbox.messages() == []


@pytest.mark.parametrize(
    ("address", "reply", "category", "at_least"),
    [
        (
            "alex@away.test",
            "450 4.2.1 Mailbox temporarily unavailable",
            "recipient_unavailable",
            1800,
        ),
        ("bea@busy.test", "421 4.7.0 Service temporarily unavailable", "temporary_failure", 300),
    ],
)
def test_it_retries_a_temporary_failure_no_sooner_than_the_provider_asks(
    worker, due, sandbox, address, reply, category, at_least
):
    before = timezone.now()

    email = _settle(due(address))

    assert (email.status, email.error_category, email.last_error) == (
        Status.RETRYING,
        category,
        reply,
    )
    assert email.next_attempt_at >= before + dt.timedelta(seconds=at_least)
    assert email.contact.state == Contact.State.ACTIVE


@pytest.mark.parametrize(
    ("address", "body", "reply", "category"),
    [
        (
            "blake@blocked.test",
            "Hello",
            "550 5.7.26 Service refused: sending domain blocked",
            "sender_blocked",
        ),
        (
            "pat@example.test",
            "FREE MONEY inside",
            "550 5.1.6 Spam not accepted",
            "content_rejected",
        ),
    ],
)
def test_it_blocks_a_sender_side_refusal_without_touching_the_contact(
    worker, due, sandbox, address, body, reply, category
):
    email = due(address)
    email.step.body = body
    email.step.save()

    email = _settle(email)

    assert (email.status, email.error_category, email.last_error) == (
        Status.BLOCKED,
        category,
        reply,
    )
    assert email.contact.state == Contact.State.ACTIVE
    assert email.enrollment.state == Enrollment.State.ACTIVE
    assert sandbox.messages() == []


def test_it_blocks_a_message_over_the_size_limit(worker, due, start_sandbox):
    small = start_sandbox(max_size=2_000)
    email = due("pat@example.test")
    Mailbox.objects.filter(pk=email.mailbox_id).update(smtp_port=small.port)
    email.step.body = "Long story. " * 400
    email.step.save()

    email = _settle(email)

    assert (email.status, email.error_category) == (Status.BLOCKED, "message_too_large")
    assert email.last_error == "552 5.3.4 Message size exceeds fixed limit"


def test_it_holds_a_mailbox_whose_password_is_refused(worker, due, sandbox):
    email = due("pat@example.test")
    other = due("sam@example.test")
    mailbox = email.mailbox
    mailbox.password = "wrong"
    mailbox.save()

    email = _settle(email)

    mailbox.refresh_from_db()
    assert mailbox.state == Mailbox.State.INVALID_CREDENTIALS
    assert mailbox.last_error == "535 5.7.8 Authentication credentials invalid"
    held = ScheduledEmail.objects.filter(mailbox=mailbox).exclude(status=Status.BLOCKED)
    assert list(held) == []
    assert ScheduledEmail.objects.get(pk=other.pk).error_category == "mailbox_connection"
    # One attempt was made; the other emails were held, not each tried and failed.
    assert SendAttempt.objects.count() == 1
    assert email.contact.state == Contact.State.ACTIVE
    assert sandbox.messages() == []


def test_it_slows_down_a_mailbox_the_server_calls_too_busy(worker, due, start_sandbox):
    strict = start_sandbox(rate=2)
    emails = [due(f"c{n}@example.test") for n in range(3)]
    Mailbox.objects.filter(pk=emails[0].mailbox_id).update(smtp_port=strict.port)

    dispatch_due_emails.delay()
    wait_for(
        lambda: not ScheduledEmail.objects.filter(status__in=WAITING, step__position=1).exists(),
        what="the three emails to settle",
    )

    statuses = sorted(
        ScheduledEmail.objects.filter(step__position=1).values_list("status", flat=True)
    )
    assert statuses == [Status.RETRYING, Status.SENT, Status.SENT]
    retrying = ScheduledEmail.objects.get(status=Status.RETRYING)
    assert (retrying.error_category, retrying.last_error) == (
        "rate_limited",
        "451 4.4.5 Server too busy",
    )
    mailbox = Mailbox.objects.get(pk=emails[0].mailbox_id)
    assert mailbox.paused_until > timezone.now()
    assert retrying.next_attempt_at >= mailbox.paused_until
    assert len(strict.messages()) == 2


def test_it_sends_what_is_due_with_the_dispatch_command(due, sandbox, capsys):
    due("pat@example.test")
    due("uma@unknown.test")

    call_command("dispatch", "--once")

    assert capsys.readouterr().out.splitlines() == ["failed: 1", "sent: 1"]
    assert len(sandbox.messages()) == 1


def _many_due(outbound, count: int, *, mailboxes: int) -> list[int]:
    """`count` due emails spread over `mailboxes` mailboxes of the sandbox, in bulk."""
    boxes = mailbox_copies(outbound.mailbox, mailboxes)
    return bulk_due(outbound, (f"c{n}@example.test" for n in range(count)), mailboxes=boxes)


def _message_ids(sandbox) -> list[str]:
    return [m["Message-ID"] for m in sandbox.messages()]


def test_it_sends_each_email_exactly_once_with_two_workers(workers, outbound, sandbox):
    ids = _many_due(outbound, 1000, mailboxes=10)
    workers.start("one")
    workers.start("two")

    dispatch_due_emails.delay()
    wait_for(
        lambda: ScheduledEmail.objects.filter(status=Status.SENT).count() == 1000,
        timeout=120,
        what="1000 emails sent",
    )

    sent_ids = _message_ids(sandbox)
    assert len(sent_ids) == len(set(sent_ids)) == 1000
    recorded = set(ScheduledEmail.objects.filter(pk__in=ids).values_list("message_id", flat=True))
    assert recorded == set(sent_ids)
    assert SendAttempt.objects.count() == 1000
    assert "send_batch" in workers.log("one")
    assert "send_batch" in workers.log("two")


def test_it_neither_resends_nor_loses_anything_when_a_worker_is_killed(workers, outbound, sandbox):
    ids = _many_due(outbound, 400, mailboxes=4)
    victim = workers.start("victim")
    dispatch_due_emails.delay()
    wait_for(lambda: len(sandbox.messages()) >= 40, what="a first part of the batch sent")

    victim.kill()  # SIGKILL: no cleanup, possibly between the SMTP accept and the commit
    victim.wait()
    # What a later dispatch does once the dead worker's claims have gone stale.
    emails_recover_stale(stale_after=dt.timedelta(0))
    workers.start("rescuer")
    dispatch_due_emails.delay()
    wait_for(
        lambda: not ScheduledEmail.objects.filter(pk__in=ids, status__in=WAITING).exists(),
        timeout=120,
        what="every email settled",
    )

    delivered = _message_ids(sandbox)
    assert len(delivered) == len(set(delivered)), "an email was delivered twice"
    emails = ScheduledEmail.objects.filter(pk__in=ids)
    sent = emails.filter(status=Status.SENT)
    uncertain = emails.filter(status=Status.BLOCKED, error_code="pipeline.delivery_uncertain")
    assert sent.count() + uncertain.count() == 400, "an email was lost"
    # Each acceptance is recorded as it comes: only the email in conversation can be unsure.
    assert uncertain.count() <= 1, "more uncertain emails than the one the worker was sending"
    assert set(sent.values_list("message_id", flat=True)) <= set(delivered)
    # An uncertain email says which Message-ID to look for, and it went out at most once.
    for email in uncertain:
        (attempt,) = email.attempts.all()
        assert attempt.outcome == SendAttempt.Outcome.UNCERTAIN
        assert attempt.message_id in email.last_error
        assert delivered.count(attempt.message_id) <= 1
