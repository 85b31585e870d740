"""diagnose_message on real messages: every fixture against its labels (data/messages)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diagnostics.diagnosis import diagnose
from diagnostics.message import diagnose_message
from diagnostics.vocabulary import Category, Fix, MessageKind, Retry
from tests.diagnostics.test_cli import CONTRACT_FIELDS

MESSAGES = Path(__file__).parent / "data" / "messages"
INDEX = [json.loads(line) for line in (MESSAGES / "index.jsonl").open(encoding="utf-8")]
# The report's fields, then those of a single-line diagnosis but its raw text.
RECIPIENT_FIELDS = ["address", "action", "status", "remote_mta", "diagnostic", *CONTRACT_FIELDS[1:]]


def read(name: str) -> bytes:
    return (MESSAGES / name).read_bytes()


@pytest.mark.parametrize("label", INDEX, ids=[label["file"] for label in INDEX])
def test_it_reads_each_fixture_as_labelled(label: dict) -> None:
    found = diagnose_message(read(label["file"]))

    assert found.error is None
    assert found.kind == label["kind"]
    assert found.original_message_id == label["original_message_id"]
    assert found.return_date == label["return_date"]
    assert found.feedback_type == label["feedback_type"]
    recipients = [
        {
            "address": recipient.address,
            "action": recipient.action,
            "status": recipient.status,
            "category": recipient.diagnosis.category,
            "retry": recipient.diagnosis.retry,
        }
        for recipient in found.recipients
    ]
    assert recipients == label["recipients"]


def test_it_has_sixty_fixtures_citing_their_origin_and_covering_every_kind() -> None:
    assert len(INDEX) >= 60
    assert {label["kind"] for label in INDEX} == set(MessageKind.values)
    assert all(label["source"] for label in INDEX)
    assert {label["file"] for label in INDEX} == {
        str(path.relative_to(MESSAGES)) for path in MESSAGES.rglob("*.eml")
    }


def test_it_gives_recipients_every_field_of_a_diagnosis() -> None:
    found = diagnose_message(read("postfix/unknown-user.eml")).to_json()

    assert list(found) == [
        "kind",
        "original_message_id",
        "recipients",
        "return_date",
        "feedback_type",
    ]
    (recipient,) = found["recipients"]
    assert list(recipient) == RECIPIENT_FIELDS
    assert recipient["diagnostic"] == (
        "550 5.1.1 <unknown@dest.test>: Recipient address rejected: User unknown in local "
        "recipient table"
    )
    assert recipient["remote_mta"] == "127.0.0.1"
    assert recipient["code"] == diagnose(recipient["diagnostic"]).code
    json.dumps(found)


def test_it_unfolds_the_diagnostic_code_and_strips_its_type() -> None:
    (recipient,) = diagnose_message(read("sisimai/rhost-yahooinc-01.eml")).recipients

    assert recipient.diagnostic == (
        "554 5.7.9 Message not accepted for policy reasons. See "
        "https://postmaster.verizonmedia.com/error-codes"
    )
    assert recipient.remote_mta == "mx-aol.mail.gm0.yahoodns.net"


def test_it_does_not_resend_by_itself_what_the_servers_gave_up_on() -> None:
    # Postfix bounced after its queue lifetime: a 451 that would be retried automatically.
    (recipient,) = diagnose_message(read("postfix/expired-temporary-lookup-failure.eml")).recipients

    assert diagnose(recipient.diagnostic).retry == Retry.AUTO
    assert recipient.action == "failed"
    assert recipient.diagnosis.category == "temporary_failure"
    assert recipient.diagnosis.retry == Retry.AFTER_FIX
    assert recipient.diagnosis.retry_after is None
    assert recipient.diagnosis.fixes[0] == Fix.RESCHEDULE
    assert "not retried by itself" in recipient.diagnosis.explanation


def test_it_keeps_a_delayed_recipient_retried_automatically() -> None:
    (recipient,) = diagnose_message(read("postfix/delay-temporary-lookup-failure.eml")).recipients

    assert recipient.action == "delayed"
    assert recipient.diagnosis.retry == Retry.AUTO


def test_a_delay_is_never_a_dead_end_whatever_its_words_say() -> None:
    # Exim's delay notice quotes "mailbox is full": the server is still trying.
    (recipient,) = diagnose_message(read("exim/delay-local-mailbox-full.eml")).recipients

    assert (recipient.action, recipient.diagnosis.retry) == ("delayed", Retry.AUTO)
    assert recipient.diagnosis.category == Category.RECIPIENT_UNAVAILABLE
    assert recipient.diagnosis.fixes == ()
    assert "still trying" in recipient.diagnosis.explanation


def test_it_reads_the_status_when_the_text_has_no_enhanced_code() -> None:
    # Postfix's own "X-Postfix; Host or domain name not found": the Status says 5.4.4.
    (recipient,) = diagnose_message(read("postfix/host-not-found.eml")).recipients

    assert recipient.status == "5.4.4"
    assert recipient.diagnosis.enhanced_code == "5.4.4"
    assert recipient.diagnosis.raw == recipient.diagnostic


def test_it_takes_exims_reason_from_its_text_when_the_report_gives_none() -> None:
    (recipient,) = diagnose_message(read("exim/expired-local-mailbox-full.eml")).recipients

    assert recipient.status == "5.0.0"
    assert recipient.diagnostic == "mailbox is full: retry timeout exceeded"
    assert recipient.diagnosis.category == "recipient_mailbox_full"


def test_it_finds_the_original_in_a_forwarded_report() -> None:
    inner = read("postfix/unknown-user.eml").replace(b"\r\n", b"\n")
    forwarded = (
        b"From: Rita <rep@sender.test>\nTo: help@sender.test\nSubject: Fwd: bounce\n"
        b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nWhat is this?\n\n"
        b"--b\nContent-Type: message/rfc822\n\n" + inner + b"\n--b--\n"
    )

    found = diagnose_message(forwarded)

    assert found.kind == MessageKind.BOUNCE
    assert [recipient.address for recipient in found.recipients] == ["unknown@dest.test"]
    assert found.original_message_id == diagnose_message(inner).original_message_id


def test_it_says_why_a_file_is_no_message() -> None:
    for raw in (b"", b"\x00\x01\x02PK", b"%PDF-1.7\n<< /Type /Catalog >>\n"):
        found = diagnose_message(raw)
        assert found.kind == MessageKind.OTHER
        assert found.error


def test_it_says_a_truncated_message_is_truncated() -> None:
    raw = read("postfix/new-message-relayed.eml").replace(
        b"Content-Type: text/plain", b'Content-Type: multipart/mixed; boundary="cut"', 1
    )
    cut = raw + b"\r\n--cut\r\nContent-Type: text/plain\r\n\r\nThe rest never ca"

    found = diagnose_message(cut)

    assert found.kind == MessageKind.OTHER
    assert "truncated" in found.error
