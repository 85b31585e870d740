"""Recipients whose servers answer later: accepted, then a real-format answer lands in the
sender's own Maildir, which the product's message diagnosis reads as what it is."""

from __future__ import annotations

import datetime as dt
import mailbox
import smtplib
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from diagnostics.message import diagnose_message
from diagnostics.vocabulary import Category
from sandboxes.answers import AWAY_DAYS, BOUNCE_REPLY
from sandboxes.smtp_server import SmtpSandbox
from tests.support import wait_for

DELAY = 1.0
LOGIN = "rita@acme.test"


@pytest.fixture
def answering(start_sandbox, tmp_path: Path) -> SmtpSandbox:
    return start_sandbox(inboxes=tmp_path / "inboxes", answer_delay_seconds=DELAY)


def _send(sandbox: SmtpSandbox, to: str, *, login: str | None = LOGIN) -> str:
    message = EmailMessage()
    message["From"] = f"Rita <{LOGIN}>"
    message["To"] = to
    message["Subject"] = "Step 1 for Pat"
    message["Message-ID"] = make_msgid(domain="acme.test")
    message.set_content("Hello Pat")
    with smtplib.SMTP("127.0.0.1", sandbox.port, timeout=5) as client:
        if login is not None:
            client.login(login, "s3cret")
        client.send_message(message)
    return message["Message-ID"]


def _inbox(sandbox: SmtpSandbox, login: str = LOGIN) -> list[bytes]:
    folder = sandbox.inboxes / login
    if not folder.exists():
        return []
    maildir = mailbox.Maildir(folder, create=False)
    return [maildir.get_bytes(key) for key in maildir.iterkeys()]


def _answer(sandbox: SmtpSandbox, login: str = LOGIN) -> bytes:
    (raw,) = wait_for(lambda: _inbox(sandbox, login), timeout=10, what="the answer")
    time.sleep(DELAY)  # nothing else follows
    assert len(_inbox(sandbox, login)) == 1
    return raw


@pytest.mark.parametrize(
    ("domain", "kind"),
    [
        ("bounce-later.test", "bounce"),
        ("replies.test", "reply"),
        ("ooo.test", "auto_reply"),
        ("complains.test", "feedback"),
    ],
)
def test_it_answers_later_into_the_senders_maildir(answering, domain, kind):
    sent_at = time.monotonic()
    message_id = _send(answering, f"pat@{domain}")
    assert _inbox(answering) == []  # accepted first, answered later

    raw = _answer(answering)

    assert time.monotonic() - sent_at >= DELAY
    diagnosis = diagnose_message(raw)
    assert (diagnosis.kind, diagnosis.original_message_id) == (kind, message_id)
    assert message_id.encode() in raw
    # Written atomically: through tmp/ into new/, nothing left behind.
    assert list((answering.inboxes / LOGIN / "tmp").iterdir()) == []
    assert len(list((answering.inboxes / LOGIN / "new").iterdir())) == 1
    (accepted,) = answering.messages()
    assert accepted["Message-ID"] == message_id


def test_a_bounce_later_is_postfixs_report_of_an_unknown_user(answering):
    _send(answering, "pat@bounce-later.test")

    diagnosis = diagnose_message(_answer(answering))

    (recipient,) = diagnosis.recipients
    assert (recipient.address, recipient.action, recipient.status) == (
        "pat@bounce-later.test",
        "failed",
        "5.1.1",
    )
    assert recipient.diagnostic == BOUNCE_REPLY.format(rcpt="pat@bounce-later.test")
    assert recipient.diagnosis.category == Category.RECIPIENT_UNKNOWN


def test_an_out_of_office_says_when_they_are_back(answering):
    _send(answering, "pat@ooo.test")

    raw = _answer(answering)

    back = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=AWAY_DAYS)
    assert diagnose_message(raw).return_date == back.isoformat()
    assert b"Auto-Submitted: auto-replied" in raw


def test_a_complaint_is_an_abuse_feedback_report(answering):
    _send(answering, "pat@complains.test")

    assert diagnose_message(_answer(answering)).feedback_type == "abuse"


def test_a_session_without_auth_is_answered_at_its_mail_from(answering):
    _send(answering, "pat@replies.test", login=None)

    assert diagnose_message(_answer(answering, LOGIN)).kind == "reply"


def test_other_recipients_get_no_answer(answering):
    _send(answering, "pat@example.test")
    time.sleep(DELAY + 0.5)

    assert not (answering.inboxes / LOGIN).exists()
