"""Reliability scenarios with real worker processes: a server that goes away and comes back,
a server too slow to answer, bad data in a batch, a batch cut by its deadline.

Each scenario prints one line of the figures a user cares about (visible with `-s`):
emails, sent, duplicates (copies the server got beyond one per email), lost (emails the
server never got that the product does not report as failed or blocked), stuck (left
`sending`), uncertain (blocked as delivery uncertain), attempts (SendAttempt rows).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import subprocess
import time
from collections import Counter

import pytest
import redis
from django.conf import settings
from django.utils import timezone
from kombu.exceptions import KombuError

from config.celery import app as celery_app
from sandboxes.smtp_server import RCPT_TO_HEADER
from sequences.models import (
    Contact,
    Mailbox,
    ScheduledEmail,
    SendAttempt,
    Sequence,
    Step,
)
from sequences.services.mailboxes import UNREACHABLE_CODE, mailboxes_recheck
from sequences.tasks import dispatch_due_emails
from tests.support import TEST_BROKER_URL, bulk_due, mailbox_copies, send_through, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
Status = ScheduledEmail.Status
DUE = ScheduledEmail.DUE_STATUSES
UNCERTAIN = ScheduledEmail.DELIVERY_UNCERTAIN
# What the product reports as not delivered: an email in one of these is not lost.
REPORTED = (Status.FAILED, Status.BLOCKED, Status.CANCELLED)


# --- helpers ---------------------------------------------------------------------------


def _sequence_of(mailbox: Mailbox, owner: object, *, name: str, body: str) -> Sequence:
    """A one-step sequence sending from an existing mailbox."""
    sequence = Sequence.objects.create(
        organization=mailbox.organization, owner=owner, mailbox=mailbox, name=name
    )
    Step.objects.create(
        sequence=sequence, position=1, wait_days=0, subject="Hi {{ first_name }}", body=body
    )
    return sequence


def _wait_idle(*, timeout: float = 60, quiet: float = 0.5) -> None:
    """Until the worker has nothing queued or running (acks are late: a running task stays
    in `unacked`) for `quiet` seconds."""
    broker = redis.Redis.from_url(TEST_BROKER_URL)
    deadline = time.monotonic() + timeout
    quiet_since = None
    while True:
        now = time.monotonic()
        if broker.llen("celery") or broker.hlen("unacked"):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet:
            return
        if now > deadline:
            raise AssertionError(f"the worker was still busy after {timeout}s")
        time.sleep(0.05)


def _dispatch_round(*, timeout: float = 60) -> int:
    """What beat does once: claim what is due and queue the send tasks; then wait for the
    worker to finish them. Returns how many emails were claimed."""
    claimed = dispatch_due_emails()
    _wait_idle(timeout=timeout)
    return claimed


def _copies(sandbox) -> Counter[str]:
    return Counter(m["Message-ID"] for m in sandbox.messages())


def _figures(ids: list[int], sandbox) -> dict[str, int]:
    emails = ScheduledEmail.objects.filter(pk__in=ids)
    copies = _copies(sandbox)
    attempt_ids: dict[int, set[str]] = {pk: set() for pk in ids}
    for email_id, message_id in SendAttempt.objects.filter(email_id__in=ids).values_list(
        "email_id", "message_id"
    ):
        attempt_ids[email_id].add(message_id)
    got = {pk: sum(copies[mid] for mid in mids if mid) for pk, mids in attempt_ids.items()}
    statuses = dict(emails.values_list("pk", "status"))
    return {
        "emails": len(ids),
        "sent": emails.filter(status=Status.SENT).count(),
        # Per email, whatever its Message-IDs: a resend under a new one is a duplicate too.
        "duplicates": sum(max(0, n - 1) for n in got.values()),
        "lost": sum(1 for pk in ids if got[pk] == 0 and statuses[pk] not in REPORTED),
        "stuck": emails.filter(status=Status.SENDING).count(),
        "uncertain": emails.filter(status=Status.BLOCKED, error_code=UNCERTAIN).count(),
        "attempts": SendAttempt.objects.filter(email_id__in=ids).count(),
    }


def _report(scenario: str, figures: dict[str, int], **extra: object) -> None:
    line = " ".join(f"{key}={value}" for key, value in {**figures, **extra}.items())
    print(f"\n{scenario}: {line}")


def _sent_once(ids: list[int], sandbox) -> list[int]:
    """The emails (of `ids`) that are not `sent` with their Message-ID exactly once at the
    server."""
    copies = _copies(sandbox)
    return [
        pk
        for pk, status, message_id in ScheduledEmail.objects.filter(pk__in=ids).values_list(
            "pk", "status", "message_id"
        )
        if status != Status.SENT or copies[message_id] != 1
    ]


# --- 1. the server killed and restarted mid-run -----------------------------------------


def test_server_killed_and_restarted_mid_run(workers, rep, make_sequence, sandbox):
    sequence = make_sequence(rep, name="Outbound", steps=1)
    send_through(sequence.mailbox_id, sandbox)
    boxes = mailbox_copies(Mailbox.objects.get(pk=sequence.mailbox_id), 3)
    box_ids = [box.pk for box in boxes]
    ids = bulk_due(sequence, (f"c{n}@example.test" for n in range(300)), mailboxes=boxes)
    new = sandbox.store / "new"
    workers.start("solo")
    started = time.monotonic()

    dispatch_due_emails.delay()
    wait_for(lambda: len(list(new.iterdir())) >= 30, what="a first part of the run delivered")
    # Before the stop: the worker may record the broken conversation before stop() returns.
    stopped_at = timezone.now()
    sandbox.stop()
    at_stop = len(sandbox.messages())
    assert at_stop < len(ids), "everything was sent before the server went down"

    # While it is down: what beat does every few seconds, the mailboxes' pauses let pass
    # (CONNECTION_PAUSE is 60 s) so that each round finds them due again, until held.
    def let_pauses_pass() -> None:
        now = timezone.now()
        Mailbox.objects.filter(pk__in=box_ids).update(paused_until=None)
        ScheduledEmail.objects.filter(pk__in=ids, status__in=DUE, next_attempt_at__gt=now).update(
            next_attempt_at=now
        )

    def duemailbox_copies() -> set[int]:
        return set(
            ScheduledEmail.objects.filter(
                pk__in=ids,
                status__in=DUE,
                next_attempt_at__lte=timezone.now(),
                mailbox__state=Mailbox.State.CONNECTED,
            ).values_list("mailbox_id", flat=True)
        )

    _wait_idle()  # the run in flight meets the stop
    rounds_due = Counter(dict.fromkeys(box_ids, 1))  # the first dispatch found all three due
    down_rounds = settings.MAILBOX_CONNECTION_FAILURES + 2
    sending = ScheduledEmail.objects.filter(pk__in=ids, status=Status.SENDING)
    stuck_while_down = sending.count()
    for _ in range(down_rounds):
        let_pauses_pass()
        rounds_due.update(duemailbox_copies())
        _dispatch_round()
        stuck_while_down = max(stuck_while_down, sending.count())
    failed_since = SendAttempt.objects.filter(
        email_id__in=ids, outcome=SendAttempt.Outcome.FAILED, finished_at__gte=stopped_at
    )
    failed_by_mailbox = Counter(failed_since.values_list("mailbox_id", flat=True))
    refused = failed_since.filter(raw_error__contains="Connection refused").count()
    # The email in conversation when the server went away (at most one: one worker).
    interrupted = dict(
        Counter(
            failed_since.exclude(raw_error__contains="Connection refused").values_list(
                "mailbox_id", "raw_error"
            )
        )
    )
    held_while_down = list(
        Mailbox.objects.filter(pk__in=box_ids).values_list("state", "last_error_code")
    )
    attempts_while_down = failed_since.count()

    # Back, on the same port with the same store: to the emails, the same server.
    sandbox.start()
    Mailbox.objects.filter(pk__in=box_ids).update(paused_until=None)
    # The periodic re-check, its MAILBOX_RECHECK_SECONDS let pass.
    rechecked = mailboxes_recheck(now=timezone.now() + dt.timedelta(hours=1))
    rounds_after = 0
    while rounds_after < 10:
        let_pauses_pass()
        if not ScheduledEmail.objects.filter(pk__in=ids, status__in=DUE).exists():
            break
        _dispatch_round()
        rounds_after += 1

    figures = _figures(ids, sandbox)
    emails = ScheduledEmail.objects.filter(pk__in=ids)
    failed = emails.filter(status=Status.FAILED).count()
    _report(
        "server killed and restarted",
        figures,
        delivered_before_stop=at_stop,
        failed_attempts_while_down=attempts_while_down,
        connection_refused=refused,
        interrupted=sum(interrupted.values()),
        failed_attempts_by_mailbox=[failed_by_mailbox[pk] for pk in box_ids],
        rounds_due_by_mailbox=[rounds_due[pk] for pk in box_ids],
        stuck_while_down=stuck_while_down,
        mailboxes_while_down="/".join(sorted({f"{s}:{c or '-'}" for s, c in held_while_down})),
        reconnected=sum(r.connected for r in rechecked),
        rounds_after=rounds_after,
        failed=failed,
        others=dict(Counter(emails.exclude(status=Status.SENT).values_list("status", flat=True))),
        seconds=round(time.monotonic() - started, 1),
    )

    # While down: one connection attempt per mailbox per round that found it due, not one
    # per email; then held, not tried again. Besides, the one email in conversation when
    # the server went away (one worker) failed as a dropped connection.
    refused_by_mailbox = Counter(
        failed_since.filter(raw_error__contains="Connection refused").values_list(
            "mailbox_id", flat=True
        )
    )
    for pk in box_ids:
        assert refused_by_mailbox[pk] <= rounds_due[pk], (
            f"mailbox {pk}: {refused_by_mailbox[pk]} refused connections in {rounds_due[pk]} "
            "rounds that found it due"
        )
    assert sum(interrupted.values()) <= 1, interrupted
    assert attempts_while_down <= 3 * settings.MAILBOX_CONNECTION_FAILURES + 1
    assert stuck_while_down == 0
    assert held_while_down == [(Mailbox.State.SYNC_ERROR, UNREACHABLE_CODE)] * 3
    # Back: every email sent, exactly once.
    assert len(rechecked) == 3
    assert all(r.connected for r in rechecked)
    delivered = [m["Message-ID"] for m in sandbox.messages()]
    assert len(delivered) == len(set(delivered)) == len(ids)
    assert set(emails.values_list("message_id", flat=True)) == set(delivered)
    assert _sent_once(ids, sandbox) == []
    assert figures["sent"] == len(ids)
    assert figures["duplicates"] == figures["lost"] == figures["stuck"] == 0
    assert figures["uncertain"] == 0
    assert failed == 0


# --- 2. a server too slow to answer the end of DATA --------------------------------------


def test_slow_server_never_gets_a_message_twice(workers, rep, make_sequence, start_sandbox):
    slow = start_sandbox(slow_data_seconds=2.5)  # longer than the worker's SMTP_TIMEOUT
    sequence = make_sequence(rep, name="Outbound", steps=1)
    send_through(sequence.mailbox_id, slow)
    ids = bulk_due(sequence, (f"s{n}@slowdata.test" for n in range(10)))
    workers.start("impatient", SMTP_TIMEOUT="1")
    started = time.monotonic()

    _dispatch_round()
    first = _copies(slow)
    for _ in range(3):  # nothing is retried by itself
        _dispatch_round()
    time.sleep(1)
    again = _copies(slow)

    figures = _figures(ids, slow)
    emails = ScheduledEmail.objects.filter(pk__in=ids)
    outcomes = Counter(emails.values_list("status", "error_code"))
    _report(
        "slow server",
        figures,
        outcomes=dict(outcomes),
        messages_at_server=sum(again.values()),
        seconds=round(time.monotonic() - started, 1),
    )

    assert set(outcomes) <= {(Status.BLOCKED, UNCERTAIN), (Status.SENT, "")}
    assert max(again.values(), default=0) <= 1, "the server got a message twice"
    assert again == first, "a later dispatch sent again"
    assert figures["duplicates"] == figures["stuck"] == figures["lost"] == 0
    assert figures["attempts"] == len(ids)  # one each: never resent
    assert emails.filter(status=Status.SENDING).count() == 0


# --- 3. bad data mixed into one batch -----------------------------------------------------

BAD_ADDRESSES = ["alice", "x@y@example.test", "bob,nobody@example.test", "josé@example.test"]
NAME_WITH_NEWLINE = "Smith, John\nBcc: intruder@evil.test"


def test_bad_data_in_a_batch_is_contained(workers, rep, make_sequence, start_sandbox):
    small = start_sandbox(max_size=5_000)  # no SMTPUTF8 (the default)
    sequence = make_sequence(rep, name="Outbound", steps=1)
    send_through(sequence.mailbox_id, small)
    mailbox = Mailbox.objects.get(pk=sequence.mailbox_id)
    broken = _sequence_of(mailbox, rep, name="Broken", body="Hello {% if %} there")
    long = _sequence_of(mailbox, rep, name="Long", body="Long story. " * 1000)

    good = bulk_due(sequence, (f"good{n}@example.test" for n in range(32)), first_name="Good")
    named = bulk_due(sequence, ["named@example.test"])
    Contact.objects.filter(email="named@example.test").update(
        first_name=NAME_WITH_NEWLINE, last_name="O'Hara"
    )
    # Valid when created, then written around the validation, as an import might have.
    invalid = bulk_due(sequence, (f"bad{n}@example.test" for n in range(len(BAD_ADDRESSES))))
    for n, address in enumerate(BAD_ADDRESSES):
        Contact.objects.filter(email=f"bad{n}@example.test").update(email=address)
    unrenderable = bulk_due(broken, ["tpl0@example.test", "tpl1@example.test"])
    oversized = bulk_due(long, ["big@example.test"])
    bad = invalid + unrenderable + oversized
    good += named
    ids = good + bad
    workers.start("solo")
    started = time.monotonic()

    rounds = 0
    while rounds < 5 and (
        ScheduledEmail.objects.filter(
            pk__in=ids, status__in=DUE, next_attempt_at__lte=timezone.now()
        ).exists()
    ):
        _dispatch_round()
        rounds += 1

    figures = _figures(ids, small)
    emails = ScheduledEmail.objects.filter(pk__in=ids).select_related("contact")
    by_pk = {email.pk: email for email in emails}
    messages = small.messages()
    contact_addresses = set(
        Contact.objects.filter(organization=sequence.organization).values_list("email", flat=True)
    )
    good_addresses = {by_pk[pk].contact.email for pk in good}
    rcpts = [rcpt for m in messages for rcpt in str(m[RCPT_TO_HEADER]).split(", ")]
    copies = Counter(m["Message-ID"] for m in messages)
    _report(
        "bad data",
        figures,
        good=len(good),
        bad=len(bad),
        good_sent=sum(by_pk[pk].status == Status.SENT for pk in good),
        rounds=rounds,
        messages_at_server=len(messages),
        seconds=round(time.monotonic() - started, 1),
    )
    for pk in bad:
        email = by_pk[pk]
        print(
            f"  bad {email.contact.email!r}: {email.status} {email.error_code} {email.last_error!r}"
        )

    assert figures["stuck"] == 0
    for pk in bad:
        email = by_pk[pk]
        assert email.status in (Status.BLOCKED, Status.FAILED), (email.contact.email, email.status)
        assert email.error_code, email.contact.email
        assert email.last_error, email.contact.email
    assert _sent_once(good, small) == []
    by_message_id = {email.message_id: email for email in emails if email.message_id}
    for message in messages:
        email = by_message_id.get(message["Message-ID"])
        assert email is not None, f"a message of no email: {message['Message-ID']}"
        assert str(message[RCPT_TO_HEADER]) == email.contact.email
        assert [a.addr_spec for a in message["To"].addresses] == [email.contact.email]
    assert set(rcpts) <= good_addresses <= contact_addresses
    assert len(messages) == len(good) == sum(copies.values()) == len(copies)
    assert figures["duplicates"] == figures["lost"] == 0


# --- 4. a send task with a deadline ------------------------------------------------------


def test_a_batch_stops_at_its_deadline_and_gives_the_rest_back(
    workers, rep, make_sequence, start_sandbox
):
    slowish = start_sandbox(slow_data_seconds=0.5)
    sequence = make_sequence(rep, name="Outbound", steps=1)
    send_through(sequence.mailbox_id, slowish)
    ids = bulk_due(sequence, (f"d{n}@slowdata.test" for n in range(30)))
    workers.start("bounded", SEND_BATCH_DEADLINE="3", SMTP_TIMEOUT="2")
    emails = ScheduledEmail.objects.filter(pk__in=ids)
    started = time.monotonic()

    dispatch_due_emails()
    _wait_idle()
    first_wall = time.monotonic() - started
    first_sent = emails.filter(status=Status.SENT).count()
    given_back = emails.filter(status=Status.SCHEDULED, attempt_count=0).count()
    first_attempts = SendAttempt.objects.filter(email_id__in=ids)
    span = max(first_attempts.values_list("finished_at", flat=True)) - min(
        first_attempts.values_list("started_at", flat=True)
    )

    rounds = 1
    while emails.filter(status__in=DUE).exists() and rounds < 20:
        _dispatch_round()
        rounds += 1

    figures = _figures(ids, slowish)
    _report(
        "deadline",
        figures,
        first_batch_sent=first_sent,
        first_batch_given_back=given_back,
        first_batch_seconds=round(span.total_seconds(), 2),
        first_round_wall_seconds=round(first_wall, 2),
        rounds=rounds,
        seconds=round(time.monotonic() - started, 1),
    )

    assert 0 < first_sent < len(ids)
    assert first_sent + given_back == len(ids)
    assert span.total_seconds() <= 3.5
    assert _sent_once(ids, slowish) == []
    assert figures["sent"] == len(ids)
    assert figures["duplicates"] == figures["lost"] == figures["stuck"] == 0
    assert figures["uncertain"] == 0


def test_a_time_limit_that_strikes_mid_batch_loses_no_acknowledged_send(
    workers, rep, make_sequence, start_sandbox
):
    # Under prefork, Celery's soft time limit raises inside the batch (here after 12 s,
    # before the product's own deadline would end it): every message the server had
    # acknowledged is recorded sent, the one in conversation is uncertain or given back,
    # and the rest go back on the schedule.
    slow = start_sandbox(slow_data_seconds=1)
    sequence = make_sequence(rep, name="Outbound", steps=1)
    send_through(sequence.mailbox_id, slow)
    ids = bulk_due(sequence, (f"t{n}@slowdata.test" for n in range(40)))
    workers.start("limited", pool="prefork", SEND_BATCH_TIME_LIMIT="42", SEND_BATCH_DEADLINE="120")
    emails = ScheduledEmail.objects.filter(pk__in=ids)

    # Dispatched by the worker: the time limits travel with the task from who queues it.
    dispatch_due_emails.delay()
    wait_for(lambda: "send_batch" in workers.log("limited"), what="the batch taken up")
    _wait_idle(timeout=90)

    figures = _figures(ids, slow)
    by_status = Counter(emails.values_list("status", flat=True))
    _report("soft time limit", figures, **{str(k): v for k, v in by_status.items()})
    assert 5 <= figures["sent"] < len(ids)  # about 12 s of 1 s sends, then the limit
    assert figures["sent"] == len(slow.messages()) - figures["uncertain"]
    assert figures["uncertain"] <= 1
    assert figures["stuck"] == 0
    assert by_status[Status.SENT] + by_status[Status.SCHEDULED] + figures["uncertain"] == len(ids)
    assert "SoftTimeLimitExceeded" in workers.log("limited")


class PrivateRedis:
    """A Redis of the test's own on a free loopback port, keeping nothing on disk: stopped,
    it comes back empty, as a production Redis without persistence would."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=10, what="the private Redis")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def _answers(self) -> bool:
        try:
            return redis.Redis.from_url(self.url).ping()
        except redis.ConnectionError:
            return False


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    yield server
    server.kill()


def test_it_sends_everything_soon_after_redis_comes_back_empty(
    workers, rep, make_sequence, start_sandbox, private_redis
):
    # At default settings: a Redis that restarts empty loses the queued send tasks; their
    # claims are given back once the tasks have expired unrun (SEND_TASK_EXPIRES).
    sandbox = start_sandbox(slow_data_seconds=0.05)  # about 20 messages a second
    sequence = make_sequence(rep, steps=1)
    send_through(sequence.mailbox_id, sandbox)
    boxes = mailbox_copies(Mailbox.objects.get(pk=sequence.mailbox_id), 3)
    ids = bulk_due(sequence, (f"c{n}@slowdata.test" for n in range(600)), mailboxes=boxes)
    workers.start("solo", CELERY_BROKER_URL=private_redis.url)
    sent = ScheduledEmail.objects.filter(pk__in=ids, status=Status.SENT)

    def beat() -> None:  # what beat does every DISPATCH_INTERVAL_SECONDS, to that Redis
        with (
            contextlib.suppress(OSError, KombuError),  # Redis down: this tick is lost
            celery_app.connection_for_write(private_redis.url) as connection,
        ):
            dispatch_due_emails.apply_async(connection=connection, retry=False)

    beat()
    wait_for(lambda: sent.count() >= 50, timeout=60, what="a first part sent")
    private_redis.kill()
    time.sleep(30)
    private_redis.start()
    back, sent_when_back, resumed_in = time.monotonic(), sent.count(), None
    while sent.count() < len(ids) and time.monotonic() - back < 240:
        beat()
        time.sleep(settings.DISPATCH_INTERVAL_SECONDS)
        if resumed_in is None and sent.count() > sent_when_back:
            resumed_in = time.monotonic() - back
    recovered_in = time.monotonic() - back

    figures = _figures(ids, sandbox)
    _report(
        "redis stopped 30 s",
        figures,
        seconds_to_sending_again=round(resumed_in or -1),
        seconds_to_all_sent=round(recovered_in),
    )
    assert figures["sent"] == len(ids)
    assert figures["duplicates"] == 0
    assert figures["stuck"] == 0
    # Within a minute or so, not after the 600 s claim timeout the recovery used to wait for.
    assert resumed_in is not None
    assert resumed_in < 90
