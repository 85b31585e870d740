"""The private Postfix of tests/postfix.py, as a plain SMTP client sees it.

Not through the product: these tests pin what the real server answers, so that the sending
pipeline's tests against it know which strings they meet.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from sandboxes.smtp_server import RCPT_TO_HEADER, SmtpSandbox
from tests.postfix import Postfix, group_alive

LOGIN = "rita@example.test"
PASSWORD = "s3cret"


def _message(subject: str = "Quick question") -> bytes:
    message = EmailMessage()
    message["From"] = LOGIN
    message["To"] = "pat@example.test"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.test")
    message.set_content("Hello Pat")
    return message.as_bytes(policy=policy.SMTP)


def _connect(server: Postfix, *, login: bool = True) -> smtplib.SMTP:
    client = smtplib.SMTP(server.host, server.port, timeout=5)
    if login:
        client.login(LOGIN, PASSWORD)
    return client


def _arrived(sandbox: SmtpSandbox, count: int, timeout: float = 10.0) -> list[EmailMessage]:
    """The sandbox's messages once it holds `count` (Postfix relays in the background)."""
    deadline = time.monotonic() + timeout
    while len(messages := sandbox.messages()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return messages


def test_authenticated_mail_is_relayed_to_the_sandbox(
    postfix: Postfix, sandbox: SmtpSandbox
) -> None:
    with _connect(postfix) as client:
        refused = client.sendmail(LOGIN, ["pat@example.test"], _message("Relayed"))

    assert refused == {}
    (message,) = _arrived(sandbox, 1)
    assert message["Subject"] == "Relayed"
    assert message[RCPT_TO_HEADER] == "pat@example.test"
    # It went through Postfix, which signs its Received: header.
    assert "postfix-peer.test" in message["Received"]


def test_it_refuses_a_wrong_password(postfix: Postfix) -> None:
    with (
        _connect(postfix, login=False) as client,
        pytest.raises(smtplib.SMTPAuthenticationError) as error,
    ):
        client.login(LOGIN, "wrong")

    assert error.value.smtp_code == 535
    assert error.value.smtp_error == b"5.7.8 Error: authentication failed: authentication failure"


def test_it_refuses_an_unknown_login(postfix: Postfix) -> None:
    with (
        _connect(postfix, login=False) as client,
        pytest.raises(smtplib.SMTPAuthenticationError) as error,
    ):
        client.login("nobody@example.test", PASSWORD)

    assert error.value.smtp_code == 535


def test_it_does_not_relay_for_unauthenticated_clients(
    postfix: Postfix, sandbox: SmtpSandbox
) -> None:
    with (
        _connect(postfix, login=False) as client,
        pytest.raises(smtplib.SMTPRecipientsRefused) as error,
    ):
        client.sendmail(LOGIN, ["pat@example.test"], _message())

    assert error.value.recipients == {
        "pat@example.test": (554, b"5.7.1 <pat@example.test>: Relay access denied")
    }
    assert sandbox.messages() == []


def test_a_blocked_recipient_gets_the_configured_reply(
    start_postfix: Callable[..., Postfix], sandbox: SmtpSandbox
) -> None:
    server = start_postfix(
        relay=sandbox,
        users={LOGIN: PASSWORD},
        recipient_replies={"nobody@example.test": "550 5.1.1 User unknown"},
    )

    with _connect(server) as client:
        refused = client.sendmail(
            LOGIN, ["nobody@example.test", "pat@example.test"], _message("Half")
        )

    assert refused == {
        "nobody@example.test": (
            550,
            b"5.1.1 <nobody@example.test>: Recipient address rejected: User unknown",
        )
    }
    # The other recipient is delivered.
    (message,) = _arrived(sandbox, 1)
    assert message[RCPT_TO_HEADER] == "pat@example.test"


def test_a_refused_client_is_answered_at_rcpt(
    start_postfix: Callable[..., Postfix], sandbox: SmtpSandbox
) -> None:
    server = start_postfix(
        relay=sandbox, users={LOGIN: PASSWORD}, client_replies={"127.0.0.1": "REJECT"}
    )

    with _connect(server) as client, pytest.raises(smtplib.SMTPRecipientsRefused) as error:
        client.sendmail(LOGIN, ["pat@example.test"], _message())

    assert error.value.recipients == {
        "pat@example.test": (
            554,
            b"5.7.1 <localhost[127.0.0.1]>: Client host rejected: Access denied",
        )
    }
    assert sandbox.messages() == []


def test_too_much_mail_is_deferred(
    start_postfix: Callable[..., Postfix], sandbox: SmtpSandbox
) -> None:
    server = start_postfix(relay=sandbox, users={LOGIN: PASSWORD}, message_rate_limit=2)

    with _connect(server) as client:
        for number in (1, 2):
            assert client.sendmail(LOGIN, ["pat@example.test"], _message(f"#{number}")) == {}
        with pytest.raises(smtplib.SMTPSenderRefused) as error:
            client.sendmail(LOGIN, ["pat@example.test"], _message("#3"))

    assert (error.value.smtp_code, error.value.smtp_error) == (
        450,
        b"4.7.1 Error: too much mail from 127.0.0.1",
    )
    assert sorted(m["Subject"] for m in _arrived(sandbox, 2)) == ["#1", "#2"]


def test_a_server_without_sasl_offers_no_auth(
    start_postfix: Callable[..., Postfix], sandbox: SmtpSandbox
) -> None:
    server = start_postfix(relay=sandbox, users=None)

    with _connect(server, login=False) as client:
        with pytest.raises(smtplib.SMTPNotSupportedError) as error:
            client.login(LOGIN, PASSWORD)
        # Like a relay on a trusted network, it takes mail from loopback without AUTH.
        assert client.sendmail(LOGIN, ["pat@example.test"], _message("Trusted")) == {}

    assert str(error.value) == "SMTP AUTH extension not supported by server."
    (message,) = _arrived(sandbox, 1)
    assert message["Subject"] == "Trusted"


def test_its_self_signed_certificate_fails_verification(
    start_postfix: Callable[..., Postfix],
) -> None:
    server = start_postfix(users={LOGIN: PASSWORD}, tls=True)

    with pytest.raises(ssl.SSLCertVerificationError) as error:
        smtplib.SMTP_SSL(server.host, server.port, context=ssl.create_default_context(), timeout=5)
    assert error.value.verify_message == "self-signed certificate"

    # It is TLS from the first byte: a client that does not verify gets in.
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP_SSL(server.host, server.port, context=unverified, timeout=5) as client:
        client.login(LOGIN, PASSWORD)


def test_stopping_leaves_no_process(tmp_path: Path, sandbox: SmtpSandbox) -> None:
    server = Postfix(tmp_path / "postfix", relay_port=sandbox.port, users={LOGIN: PASSWORD})
    with server:
        _connect(server).quit()  # an smtpd daemon started too
        master = server.master_pid
        assert group_alive(master)

    assert not group_alive(master)
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(server.host, server.port, timeout=5)


def test_instances_run_side_by_side(start_postfix: Callable[..., Postfix]) -> None:
    first = start_postfix(users={LOGIN: PASSWORD})
    second = start_postfix(users={LOGIN: PASSWORD})

    assert first.port != second.port
    for server in (first, second):
        _connect(server).quit()
