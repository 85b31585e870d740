"""The demo's IMAP server serves what the SMTP sandbox answered into the senders' Maildirs."""

from __future__ import annotations

import imaplib
import re
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from diagnostics.message import diagnose_message
from sandboxes.imap_server import ImapSandbox
from tests.support import running_command, wait_for

LOGIN = "rita@acme.test"


@pytest.fixture
def imap(tmp_path: Path) -> Iterator[ImapSandbox]:
    with ImapSandbox(root=tmp_path / "inboxes") as server:
        yield server


def _send(port: int, to: str) -> str:
    message = EmailMessage()
    message["From"] = LOGIN
    message["To"] = to
    message["Subject"] = "Step 1 for Pat"
    message["Message-ID"] = make_msgid(domain="acme.test")
    message.set_content("Hello Pat")
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        client.login(LOGIN, "s3cret")
        client.send_message(message)
    return message["Message-ID"]


def _fetch_all(port: int, login: str = LOGIN) -> list[bytes]:
    """What a mailbox reader gets: sign in, SELECT INBOX, FETCH every message (peeking)."""
    client = imaplib.IMAP4("127.0.0.1", port, timeout=5)
    try:
        client.login(login, "the-mailbox-password")
        status, (count,) = client.select("INBOX", readonly=True)
        assert status == "OK"
        if int(count) == 0:
            return []
        status, data = client.uid("FETCH", "1:*", "(BODY.PEEK[])")
        assert status == "OK"
        return [item[1] for item in data if isinstance(item, tuple)]
    finally:
        client.logout()


@pytest.mark.parametrize(
    ("domain", "kind"),
    [
        ("bounce-later.test", "bounce"),
        ("replies.test", "reply"),
        ("ooo.test", "auto_reply"),
        ("complains.test", "feedback"),
    ],
)
def test_it_serves_a_later_answer_over_imap(start_sandbox, imap, domain, kind):
    smtp = start_sandbox(inboxes=imap.root, answer_delay_seconds=0.5)
    message_id = _send(smtp.port, f"pat@{domain}")

    (raw,) = wait_for(lambda: _fetch_all(imap.port), timeout=10, what="the answer over IMAP")

    diagnosis = diagnose_message(raw)
    assert (diagnosis.kind, diagnosis.original_message_id) == (kind, message_id)


def test_it_signs_in_to_an_empty_inbox_before_any_answer(imap):
    assert _fetch_all(imap.port, "gina@globex.test") == []


@pytest.mark.parametrize(("login", "password"), [(LOGIN, "wrong"), ("../etc", "x"), (".x", "x")])
def test_it_refuses_the_wrong_password_and_logins_outside_the_root(imap, login, password):
    client = imaplib.IMAP4("127.0.0.1", imap.port, timeout=5)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login(login, password)
    client.shutdown()


def test_the_commands_serve_the_answers_the_smtp_sandbox_writes(tmp_path: Path):
    inboxes = tmp_path / "inboxes"
    with (
        running_command(
            "smtp_sandbox",
            *("--port", "0", "--store", str(tmp_path / "mail")),
            *("--inboxes", str(inboxes), "--answer-delay", "0.5"),
        ) as smtp,
        running_command("imap_sandbox", "--port", "0", "--root", str(inboxes)) as imap,
    ):
        smtp_port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", smtp.first_line)[1])
        imap_port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", imap.first_line)[1])
        message_id = _send(smtp_port, "olive@ooo.test")

        (raw,) = wait_for(lambda: _fetch_all(imap_port), timeout=15, what="the out-of-office")

    assert diagnose_message(raw).original_message_id == message_id
    assert f"answers in {inboxes}" in smtp.first_line
    assert "auto_reply delivered to rita@acme.test" in smtp.output
    assert (smtp.returncode, imap.returncode) == (0, 0), smtp.errors + imap.errors
