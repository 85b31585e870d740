"""A message is written to SMTP byte for byte as smtplib's send_message writes it, though
its recurring headers are made and folded once."""

from __future__ import annotations

import io
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import EmailMessage

import pytest

from sequences.services.sending import MESSAGE_POLICY, _from_header
from sequences.services.smtp import wire_bytes


def _message(name: str, body: str) -> EmailMessage:
    message = EmailMessage(policy=MESSAGE_POLICY)
    message["From"] = _from_header(name, "rita@acme.test")
    message["To"] = Address('Zoë, "Q"', username="zoë", domain="example.test")
    message["Subject"] = f"Re: {name} " * 6
    message["Message-ID"] = "<1.2@acme.test>"
    message.set_content(body)
    return message


def _as_send_message_writes(message: EmailMessage, *, international: bool) -> bytes:
    """smtplib.SMTP.send_message's serialization."""
    with io.BytesIO() as out:
        policy = message.policy.clone(utf8=True) if international else None
        BytesGenerator(out, policy=policy).flatten(message, linesep="\r\n")
        return out.getvalue()


@pytest.mark.parametrize("international", [False, True])
@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("Rita", "Hi Pat,\nshort and plain.\n"),
        ('Rita Ö, "the" rep', "Héllo wörld, " * 40),
        ("R" * 90, "x" * 1200),
    ],
)
def test_it_writes_a_message_as_smtplib_does(name, body, international):
    for _ in range(2):  # the second time from the headers made the first time
        message = _message(name, body)
        assert wire_bytes(message, international=international) == _as_send_message_writes(
            message, international=international
        )


def test_it_makes_a_recurring_header_once():
    assert _from_header("Rita", "rita@acme.test") is _from_header("Rita", "rita@acme.test")
    made = MESSAGE_POLICY.header_factory
    assert made("MIME-Version", "1.0") is made("MIME-Version", "1.0")
    assert made("Subject", "Hello Pat") is not made("Subject", "Hello Sam")
