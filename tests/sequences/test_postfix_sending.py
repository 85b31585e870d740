"""The whole sending pipeline against a real Postfix (tests/postfix.py) as the rep's server.

`manage.py dispatch --once` runs in this process; Postfix relays what it accepts to the SMTP
sandbox, where what really arrived is counted. Each test asserts what a user would see: the
emails' statuses, the mailbox's and the contacts' states, the attempts, the mail delivered.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter
from email.message import EmailMessage

import pytest
from django.core.management import call_command
from django.utils import timezone

from sandboxes.smtp_server import RCPT_TO_HEADER, SmtpSandbox
from sequences.models import Contact, Mailbox, ScheduledEmail, SendAttempt, Sequence
from sequences.services.mailboxes import mailboxes_recheck
from tests.conftest import POSTFIX_USERS
from tests.postfix import Postfix

pytestmark = pytest.mark.django_db(transaction=True)
Status = ScheduledEmail.Status
((LOGIN, PASSWORD),) = POSTFIX_USERS.items()
# One line per SMTP session smtpd accepted ("disconnect from" does not match).
CONNECT = re.compile(r"postfix/smtpd\[\d+\]: connect from ")
# smtpd's summary of a session that ended: "... auth=1 mail=3 rcpt=2/3 ..." (an AUTH that
# failed shows as auth=0/1). "sasl_username=" is logged once per message, not per login.
LOGINS = re.compile(r"postfix/smtpd\[\d+\]: disconnect from \S+ .*?\bauth=(\d+)\b")
# One line per message Postfix queued (cleanup, before smtpd answers the final dot).
QUEUED = re.compile(r"postfix/cleanup\[\d+\]: \w+: message-id=(<[^>]*>)")


@pytest.fixture(autouse=True)
def fast_timeout(settings):
    settings.SMTP_TIMEOUT = 2
    return settings


@pytest.fixture
def outbound(rep, make_sequence) -> Sequence:
    return make_sequence(rep, steps=1)


@pytest.fixture
def due(outbound, make_email):
    def make(address: str) -> ScheduledEmail:
        now = timezone.now()
        return make_email(outbound, email=address, scheduled_for=now, next_attempt_at=now)

    return make


def send_via_postfix(
    mailbox_id: int,
    server: Postfix,
    *,
    password: str = PASSWORD,
    security: str = Mailbox.Security.NONE,
) -> None:
    """Point a mailbox at a Postfix instance, signed in as its user, at any hour."""
    mailbox = Mailbox.objects.get(pk=mailbox_id)
    mailbox.smtp_host = server.host
    mailbox.smtp_port = server.port
    mailbox.smtp_security = security
    mailbox.smtp_username = LOGIN
    mailbox.password = password
    mailbox.state = Mailbox.State.CONNECTED
    mailbox.sending_days = "1234567"
    mailbox.window_start = dt.time(0)
    mailbox.window_end = dt.time(23, 59, 59)
    mailbox.per_minute_limit = 10_000
    mailbox.daily_limit = 100_000
    mailbox.save()


def _dispatch() -> None:
    call_command("dispatch", "--once", stdout=open("/dev/null", "w"))  # noqa: SIM115


def _sessions(server: Postfix) -> int:
    """SMTP sessions the server accepted: the pipeline signs in once per session."""
    return len(CONNECT.findall(server.log()))


def _logins(server: Postfix) -> int:
    """Successful AUTH commands over the sessions that ended (the pipeline quits its own)."""
    return sum(int(n) for n in LOGINS.findall(server.log()))


def _queued(server: Postfix) -> Counter[str]:
    """How many times Postfix queued each Message-ID."""
    return Counter(QUEUED.findall(server.log()))


def _arrived(sandbox: SmtpSandbox, count: int, timeout: float = 10.0) -> list[EmailMessage]:
    """The relay sandbox's messages once it holds `count` (Postfix relays in the background),
    and a moment more, so that a copy too many would show."""
    deadline = time.monotonic() + timeout
    while len(sandbox.messages()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    return sandbox.messages()


def _statuses(emails: list[ScheduledEmail]) -> dict[str, str]:
    return dict(
        ScheduledEmail.objects.filter(pk__in=[e.pk for e in emails]).values_list(
            "contact__email", "status"
        )
    )


def _attempts(emails: list[ScheduledEmail]) -> list[SendAttempt]:
    return list(SendAttempt.objects.filter(email__in=emails).order_by("started_at"))


def _mailbox(sequence: Sequence) -> Mailbox:
    return Mailbox.objects.get(pk=sequence.mailbox_id)


def test_a_batch_is_delivered_through_postfix_over_one_login(
    postfix, sandbox, outbound, due
) -> None:
    addresses = [f"c{n}@example.test" for n in range(3)]
    emails = [due(address) for address in addresses]
    send_via_postfix(outbound.mailbox_id, postfix)

    _dispatch()

    assert _statuses(emails) == dict.fromkeys(addresses, Status.SENT)
    message_ids = set(
        ScheduledEmail.objects.filter(pk__in=[e.pk for e in emails]).values_list(
            "message_id", flat=True
        )
    )
    assert _queued(postfix) == dict.fromkeys(message_ids, 1)
    messages = _arrived(sandbox, 3)
    assert Counter(m[RCPT_TO_HEADER] for m in messages) == dict.fromkeys(addresses, 1)
    assert {m["Message-ID"] for m in messages} == message_ids
    assert (_sessions(postfix), _logins(postfix)) == (1, 1)
    assert len(_attempts(emails)) == 3


def test_a_refused_recipient_bounces_and_the_rest_go_out_in_the_same_session(
    start_postfix, sandbox, outbound, due
) -> None:
    server = start_postfix(
        relay=sandbox,
        users=POSTFIX_USERS,
        recipient_replies={"nobody@example.test": "550 5.1.1 User unknown"},
    )
    first, refused, last = (
        due("ann@example.test"),
        due("nobody@example.test"),
        due("zoe@example.test"),
    )
    send_via_postfix(outbound.mailbox_id, server)

    _dispatch()

    assert _statuses([first, refused, last]) == {
        "ann@example.test": Status.SENT,
        "nobody@example.test": Status.FAILED,
        "zoe@example.test": Status.SENT,
    }
    refused.refresh_from_db()
    assert refused.last_error == (
        "550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown"
    )
    assert Contact.objects.get(email="nobody@example.test").state == Contact.State.BOUNCED
    assert Contact.objects.get(email="ann@example.test").state == Contact.State.ACTIVE
    assert Contact.objects.get(email="zoe@example.test").state == Contact.State.ACTIVE
    messages = _arrived(sandbox, 2)
    assert Counter(m[RCPT_TO_HEADER] for m in messages) == {
        "ann@example.test": 1,
        "zoe@example.test": 1,
    }
    # A refusal of one recipient is not the session's end: no new sign-in.
    assert (_sessions(server), _logins(server)) == (1, 1)
    assert _mailbox(outbound).state == Mailbox.State.CONNECTED


def test_a_wrong_password_holds_the_mailbox_after_one_attempt(
    postfix, sandbox, outbound, due
) -> None:
    emails = [due(f"c{n}@example.test") for n in range(4)]
    send_via_postfix(outbound.mailbox_id, postfix, password="wrong")

    _dispatch()

    mailbox = _mailbox(outbound)
    assert mailbox.state == Mailbox.State.INVALID_CREDENTIALS
    assert mailbox.last_error == "535 5.7.8 Error: authentication failed: authentication failure"
    (attempt,) = _attempts(emails)
    assert attempt.outcome == SendAttempt.Outcome.FAILED
    assert attempt.raw_error == mailbox.last_error
    assert set(_statuses(emails).values()) == {Status.BLOCKED}  # none left in sending
    untouched = [e for e in emails if e.pk != attempt.email_id]
    assert list(
        ScheduledEmail.objects.filter(pk__in=[e.pk for e in untouched]).values_list(
            "attempt_count", flat=True
        )
    ) == [0, 0, 0]
    assert sandbox.messages() == []
    assert _queued(postfix) == {}


def test_a_refused_client_holds_the_mailbox_and_bounces_no_one(
    start_postfix, sandbox, outbound, due
) -> None:
    server = start_postfix(
        relay=sandbox, users=POSTFIX_USERS, client_replies={"127.0.0.1": "REJECT"}
    )
    emails = [due(f"c{n}@example.test") for n in range(3)]
    send_via_postfix(outbound.mailbox_id, server)

    _dispatch()

    mailbox = _mailbox(outbound)
    assert mailbox.state == Mailbox.State.SYNC_ERROR
    assert "Client host rejected: Access denied" in mailbox.last_error
    assert mailbox.last_error.startswith("554 5.7.1 ")
    held = ScheduledEmail.objects.filter(pk__in=[e.pk for e in emails])
    assert set(held.values_list("status", "error_code")) == {
        (Status.BLOCKED, "mailbox.server_settings")
    }
    assert len(_attempts(emails)) == 1
    assert set(
        Contact.objects.filter(email__in=[f"c{n}@example.test" for n in range(3)]).values_list(
            "state", flat=True
        )
    ) == {Contact.State.ACTIVE}
    assert _queued(server) == {}
    assert sandbox.messages() == []


def test_a_rate_limit_pauses_the_mailbox_and_gives_the_rest_back(
    start_postfix, sandbox, outbound, due
) -> None:
    server = start_postfix(relay=sandbox, users=POSTFIX_USERS, message_rate_limit=2)
    addresses = [f"c{n}@example.test" for n in range(5)]
    emails = [due(address) for address in addresses]
    send_via_postfix(outbound.mailbox_id, server)
    before = timezone.now()

    _dispatch()

    mailbox = _mailbox(outbound)
    assert mailbox.paused_until is not None
    assert mailbox.paused_until > before
    assert mailbox.state == Mailbox.State.CONNECTED
    rows = {
        e.contact.email: e
        for e in ScheduledEmail.objects.filter(pk__in=[e.pk for e in emails]).select_related(
            "contact"
        )
    }
    statuses = {address: rows[address].status for address in addresses}
    assert statuses == {
        "c0@example.test": Status.SENT,
        "c1@example.test": Status.SENT,
        "c2@example.test": Status.RETRYING,
        "c3@example.test": Status.SCHEDULED,
        "c4@example.test": Status.SCHEDULED,
    }
    failed = [a for a in _attempts(emails) if a.outcome == SendAttempt.Outcome.FAILED]
    assert [(a.email_id, a.raw_error) for a in failed] == [
        (rows["c2@example.test"].pk, "450 4.7.1 Error: too much mail from 127.0.0.1")
    ]
    assert len(_attempts(emails)) == 3  # the batch stopped at the first 450
    for address in ("c2@example.test", "c3@example.test", "c4@example.test"):
        assert rows[address].next_attempt_at >= mailbox.paused_until
    messages = _arrived(sandbox, 2)
    assert Counter(m[RCPT_TO_HEADER] for m in messages) == {
        "c0@example.test": 1,
        "c1@example.test": 1,
    }


def test_a_server_without_sasl_holds_the_mailbox(start_postfix, sandbox, outbound, due) -> None:
    server = start_postfix(relay=sandbox, users=None)
    emails = [due(f"c{n}@example.test") for n in range(3)]
    send_via_postfix(outbound.mailbox_id, server)

    _dispatch()

    mailbox = _mailbox(outbound)
    assert mailbox.state == Mailbox.State.SYNC_ERROR
    assert "SMTP AUTH extension not supported by server." in mailbox.last_error
    held = ScheduledEmail.objects.filter(pk__in=[e.pk for e in emails])
    assert set(held.values_list("status", "error_code")) == {
        (Status.BLOCKED, "mailbox.server_settings")
    }
    assert len(_attempts(emails)) == 1
    assert sandbox.messages() == []


def test_a_self_signed_certificate_holds_the_mailbox(start_postfix, sandbox, outbound, due) -> None:
    server = start_postfix(relay=sandbox, users=POSTFIX_USERS, tls=True)
    emails = [due(f"c{n}@example.test") for n in range(3)]
    send_via_postfix(outbound.mailbox_id, server, security=Mailbox.Security.TLS)

    _dispatch()

    mailbox = _mailbox(outbound)
    assert mailbox.state == Mailbox.State.SYNC_ERROR
    assert mailbox.last_error.startswith("SSLCertVerificationError: ")
    held = ScheduledEmail.objects.filter(pk__in=[e.pk for e in emails])
    assert set(held.values_list("status", "error_code")) == {
        (Status.BLOCKED, "mailbox.server_settings")
    }
    assert len(_attempts(emails)) == 1
    assert _queued(server) == {}
    assert sandbox.messages() == []


def test_a_stopped_server_is_tried_once_per_round_held_then_rechecked_and_sent(
    start_postfix, postfix, sandbox, outbound, due, settings
) -> None:
    settings.MAILBOX_CONNECTION_FAILURES = 3
    addresses = [f"c{n}@example.test" for n in range(4)]
    emails = [due(address) for address in addresses]
    send_via_postfix(outbound.mailbox_id, postfix)
    postfix.stop()
    mailboxes = Mailbox.objects.filter(pk=outbound.mailbox_id)
    pending = ScheduledEmail.objects.filter(
        pk__in=[e.pk for e in emails], status__in=[Status.SCHEDULED, Status.RETRYING]
    )

    for round_number in (1, 2, 3):
        _dispatch()
        assert len(_attempts(emails)) == round_number  # one per round, not one per email
        # The pause after each failure (60 s) is over: the next round may try again.
        mailboxes.update(paused_until=None)
        pending.update(next_attempt_at=timezone.now())

    mailbox = _mailbox(outbound)
    assert mailbox.state == Mailbox.State.SYNC_ERROR
    assert mailbox.last_error_code == "pipeline.mailbox_unreachable"
    assert set(_statuses(emails).values()) == {Status.BLOCKED}
    assert sandbox.messages() == []

    restarted = start_postfix(relay=sandbox, users=POSTFIX_USERS)
    mailboxes.update(smtp_port=restarted.port)
    later = mailbox.last_checked_at + dt.timedelta(seconds=settings.MAILBOX_RECHECK_SECONDS + 1)
    (result,) = mailboxes_recheck(now=later)

    assert result.connected
    mailbox = _mailbox(outbound)
    assert (mailbox.state, mailbox.connection_failures) == (Mailbox.State.CONNECTED, 0)

    _dispatch()

    assert _statuses(emails) == dict.fromkeys(addresses, Status.SENT)
    messages = _arrived(sandbox, 4)
    assert Counter(m[RCPT_TO_HEADER] for m in messages) == dict.fromkeys(addresses, 1)
    assert sum(_queued(restarted).values()) == 4
