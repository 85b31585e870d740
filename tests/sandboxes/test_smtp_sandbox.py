from __future__ import annotations

import datetime as dt
import re
import smtplib
import ssl
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from django.conf import settings

from sandboxes.management.commands.smtp_sandbox import Command
from sandboxes.smtp_server import (
    DEFAULT_MAX_SIZE,
    DEFAULT_RATE,
    SlidingWindowLimiter,
    SmtpSandbox,
    read_messages,
)
from tests.support import running_command


def _connect(sandbox: SmtpSandbox, login: str | None = "rita@example.test") -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", sandbox.port, timeout=5)
    if login is not None:
        client.login(login, "s3cret")
    return client


def _message(
    to: str = "pat@example.test", body: str = "Hello Pat", cte: str = "7bit"
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "rita@example.test"
    message["To"] = to
    message["Subject"] = "Quick question"
    message["Message-ID"] = make_msgid(domain="example.test")
    message.set_content(body, cte=cte)
    return message


def _wire(message: EmailMessage) -> bytes:
    # smtplib sends bytes as given: they must have SMTP's CRLF line ends already.
    return message.as_bytes(policy=policy.SMTP)


def test_it_refuses_the_wrong_password(sandbox: SmtpSandbox) -> None:
    with (
        _connect(sandbox, login=None) as client,
        pytest.raises(smtplib.SMTPAuthenticationError) as error,
    ):
        client.login("rita@example.test", "wrong")

    assert (error.value.smtp_code, error.value.smtp_error) == (
        535,
        b"5.7.8 Authentication credentials invalid",
    )


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_it_accepts_any_other_password_with_plain_and_login(
    sandbox: SmtpSandbox, mechanism: str
) -> None:
    with _connect(sandbox, login=None) as client:
        client.ehlo()
        client.user, client.password = "ralph@example.test", "anything"
        reply = client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        client.send_message(_message())

    assert reply == (235, b"2.7.0 Authentication successful")
    assert [m["X-Sandbox-Login"] for m in sandbox.messages()] == ["ralph@example.test"]


@pytest.mark.parametrize(
    ("domain", "code", "text"),
    [
        ("unknown.test", 550, b"5.1.1 User unknown"),
        ("inactive.test", 553, b"5.1.3 Invalid/Inactive user"),
        ("full.test", 452, b"4.2.2 Mailbox full"),
        ("away.test", 450, b"4.2.1 Mailbox temporarily unavailable"),
        ("blocked.test", 550, b"5.7.26 Service refused: sending domain blocked"),
    ],
)
def test_it_refuses_a_recipient_by_domain(
    sandbox: SmtpSandbox, domain: str, code: int, text: bytes
) -> None:
    to = f"pat@{domain}"
    with _connect(sandbox) as client, pytest.raises(smtplib.SMTPRecipientsRefused) as error:
        client.send_message(_message(to=to))

    assert error.value.recipients == {to: (code, text)}
    assert sandbox.messages() == []


def test_it_stores_for_the_accepted_recipients_only(sandbox: SmtpSandbox) -> None:
    with _connect(sandbox) as client:
        refused = client.sendmail(
            "rita@example.test",
            ["pat@example.test", "lee@unknown.test"],
            _wire(_message()),
        )

    assert refused == {"lee@unknown.test": (550, b"5.1.1 User unknown")}
    assert [m["X-Sandbox-Rcpt-To"] for m in sandbox.messages()] == ["pat@example.test"]


def test_it_answers_busy_and_closes_the_connection(sandbox: SmtpSandbox) -> None:
    with _connect(sandbox) as client:
        client.mail("rita@example.test")
        reply = client.rcpt("pat@busy.test")

        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()

    assert reply == (421, b"4.7.0 Service temporarily unavailable")


@pytest.mark.parametrize("cte", ["7bit", "base64"])
def test_it_refuses_spam_after_data(sandbox: SmtpSandbox, cte: str) -> None:
    message = _message(body="Claim your FREE MONEY today", cte=cte)
    with _connect(sandbox) as client, pytest.raises(smtplib.SMTPDataError) as error:
        client.send_message(message)

    assert (error.value.smtp_code, error.value.smtp_error) == (550, b"5.1.6 Spam not accepted")
    assert sandbox.messages() == []


def test_it_refuses_a_message_announced_too_large(
    start_sandbox: Callable[..., SmtpSandbox],
) -> None:
    sandbox = start_sandbox(max_size=1000)
    # smtplib announces the size (MAIL FROM ... SIZE=n) since the server offers SIZE.
    with _connect(sandbox) as client, pytest.raises(smtplib.SMTPSenderRefused) as error:
        client.send_message(_message(body="Hello\n" * 200))

    assert (error.value.smtp_code, error.value.smtp_error) == (
        552,
        b"5.3.4 Message size exceeds fixed limit",
    )


def test_it_refuses_too_much_data(start_sandbox: Callable[..., SmtpSandbox]) -> None:
    sandbox = start_sandbox(max_size=1000)
    with _connect(sandbox) as client:
        client.mail("rita@example.test")  # No SIZE announced: the limit applies to DATA.
        client.rcpt("pat@example.test")
        reply = client.data(_wire(_message(body="Hello\n" * 200)))

    assert reply == (552, b"5.3.4 Message size exceeds fixed limit")
    assert sandbox.messages() == []


def test_it_refuses_more_than_the_rate_from_one_login(
    start_sandbox: Callable[..., SmtpSandbox],
) -> None:
    sandbox = start_sandbox(rate=3)
    with _connect(sandbox) as client:
        for _ in range(3):
            client.send_message(_message())
        with pytest.raises(smtplib.SMTPSenderRefused) as error:
            client.send_message(_message())

    assert (error.value.smtp_code, error.value.smtp_error) == (451, b"4.4.5 Server too busy")
    assert len(sandbox.messages()) == 3


def test_it_refuses_at_data_a_message_over_the_rate_that_passed_mail(
    start_sandbox: Callable[..., SmtpSandbox],
) -> None:
    sandbox = start_sandbox(rate=1)
    with _connect(sandbox) as first, _connect(sandbox) as second:
        for client in (first, second):
            client.mail("rita@example.test")
            client.rcpt("pat@example.test")

        assert first.data(_wire(_message()))[0] == 250
        assert second.data(_wire(_message())) == (451, b"4.4.5 Server too busy")


def test_it_counts_the_rate_per_login(start_sandbox: Callable[..., SmtpSandbox]) -> None:
    sandbox = start_sandbox(rate=1)
    with _connect(sandbox, login="rita@example.test") as client:
        client.send_message(_message())
        with pytest.raises(smtplib.SMTPSenderRefused):
            client.send_message(_message())
    with _connect(sandbox, login="ralph@example.test") as client:
        client.send_message(_message())

    assert [m["X-Sandbox-Login"] for m in sandbox.messages()] == [
        "rita@example.test",
        "ralph@example.test",
    ]


def test_it_slides_the_rate_window() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(2, clock=lambda: now[0])
    limiter.record("rita")
    now[0] = 30.0
    limiter.record("rita")

    now[0] = 59.9
    assert not limiter.allows("rita")
    now[0] = 60.0  # The first message is now a minute old.
    assert limiter.allows("rita")
    limiter.record("rita")
    now[0] = 89.9
    assert not limiter.allows("rita")


def test_it_stores_the_message_with_its_message_id_and_envelope(sandbox: SmtpSandbox) -> None:
    message = _message(body="Hello Pat,\n.\n.. a line starting with a dot\n")
    before = dt.datetime.now(dt.UTC)
    with _connect(sandbox) as client:
        client.sendmail(
            "bounces@example.test",
            ["pat@example.test", "lee@example.test"],
            _wire(message),
        )

    [stored] = read_messages(sandbox.store)
    assert stored["Message-ID"] == message["Message-ID"]
    assert stored["X-Sandbox-Login"] == "rita@example.test"
    assert stored["X-Sandbox-Mail-From"] == "bounces@example.test"
    assert stored["X-Sandbox-Rcpt-To"] == "pat@example.test, lee@example.test"
    received_at = stored["X-Sandbox-Received-At"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", received_at)
    assert before <= dt.datetime.fromisoformat(received_at) <= dt.datetime.now(dt.UTC)
    assert stored.get_content() == message.get_content()


def test_it_reads_messages_in_the_order_received(sandbox: SmtpSandbox) -> None:
    sent = [_message() for _ in range(5)]
    with _connect(sandbox) as client:
        for message in sent:
            client.send_message(message)

    assert [m["Message-ID"] for m in read_messages(sandbox.store)] == [
        m["Message-ID"] for m in sent
    ]


def test_it_accepts_mail_without_auth_under_an_empty_login(sandbox: SmtpSandbox) -> None:
    with _connect(sandbox, login=None) as client:
        client.send_message(_message())

    assert [m["X-Sandbox-Login"] for m in sandbox.messages()] == [""]


def test_it_offers_starttls_with_a_self_signed_certificate(sandbox: SmtpSandbox) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with _connect(sandbox, login=None) as client:
        assert client.starttls(context=context)[0] == 220
        client.login("rita@example.test", "s3cret")
        client.send_message(_message())

    assert len(sandbox.messages()) == 1


def test_it_parses_the_command_arguments() -> None:
    parser = Command().create_parser("manage.py", "smtp_sandbox")

    defaults = vars(parser.parse_args([]))
    given = vars(
        parser.parse_args(
            "--host 0.0.0.0 --port 0 --store /tmp/mail --max-size 100 --rate 3".split()
        )
    )

    assert {k: defaults[k] for k in ("host", "port", "store", "max_size", "rate")} == {
        "host": "127.0.0.1",
        "port": 2525,
        "store": settings.DATA_DIR / "sandbox-mail",
        "max_size": DEFAULT_MAX_SIZE,
        "rate": DEFAULT_RATE,
    }
    assert {k: given[k] for k in ("host", "port", "store", "max_size", "rate")} == {
        "host": "0.0.0.0",
        "port": 0,
        "store": Path("/tmp/mail"),
        "max_size": 100,
        "rate": 3,
    }


def test_it_runs_as_a_command_until_interrupted(tmp_path: Path) -> None:
    store = tmp_path / "mail"
    with running_command("smtp_sandbox", "--port", "0", "--store", str(store)) as command:
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", command.first_line)[1])
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
            assert client.ehlo()[0] == 250
            client.login("rita@example.test", "hunter2")
            client.send_message(_message())
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                client.send_message(_message(to="pat@unknown.test"))

    assert command.returncode == 0, command.errors
    assert f"storing mail in {store}" in command.first_line
    lines = command.output.splitlines()
    assert len(lines) == 3, command.output
    assert "accepted <" in lines[0]
    assert "refused" in lines[1]
    assert "550 5.1.1 User unknown" in lines[1]
    assert lines[2] == "SMTP sandbox stopped."
    assert "hunter2" not in command.output + command.errors
    assert len(read_messages(store)) == 1
