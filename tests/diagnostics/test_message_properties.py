"""Whatever the bytes, diagnose_message answers within the contract and never raises."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnostics.message import MessageDiagnosis, diagnose_message
from diagnostics.vocabulary import FeedbackType, MessageKind

MESSAGES = Path(__file__).parent / "data" / "messages"
FIXTURES = [path.read_bytes() for path in sorted(MESSAGES.rglob("*.eml"))]
BOUNCE = (MESSAGES / "postfix" / "unknown-user.eml").read_bytes()


def assert_well_formed(found: MessageDiagnosis) -> None:
    assert found.kind in MessageKind.values
    assert found.feedback_type is None or found.feedback_type in FeedbackType.values
    assert found.error is None or found.kind == MessageKind.OTHER
    assert found.recipients == () or found.kind in ("bounce", "delay", "delivered", "feedback")
    for recipient in found.recipients:
        assert recipient.address == recipient.address.lower()
        assert recipient.action in ("failed", "delayed", "delivered", "relayed", "expanded")
    json.loads(json.dumps(found.to_json()))


@given(st.binary(max_size=4000))
def test_it_reads_any_bytes(raw: bytes) -> None:
    assert_well_formed(diagnose_message(raw))


# No deadline: dateparser loads a language's data at its first use, which takes 100 ms.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(FIXTURES),
    st.integers(0, 20_000),
    st.lists(st.tuples(st.integers(0, 20_000), st.binary(min_size=1, max_size=8)), max_size=8),
)
def test_it_reads_real_messages_cut_and_corrupted(raw: bytes, cut: int, edits: list) -> None:
    mangled = bytearray(raw[: max(cut, 1)])
    for position, junk in edits:
        mangled[position % len(mangled) : position % len(mangled)] = junk
    assert_well_formed(diagnose_message(bytes(mangled)))


@given(
    st.text(max_size=300),
    st.sampled_from(["utf-8", "x-unknown", "utf-7", "iso-2022-jp", "gb18030", "bogus charset"]),
)
def test_it_reads_texts_in_any_charset_and_transfer_encoding(text: str, charset: str) -> None:
    for encoding in ("base64", "quoted-printable", "8bit", "x-uuencode"):
        raw = (
            "From: MAILER-DAEMON@example.org\n"
            f"Subject: =?{charset}?B?{text[:20]}?= failure notice\n"
            f'Content-Type: text/plain; charset="{charset}"\n'
            f"Content-Transfer-Encoding: {encoding}\n\n"
        ).encode("utf-8", "surrogatepass") + text.encode("utf-8", "surrogatepass")
        assert_well_formed(diagnose_message(raw))


def test_it_reads_a_20_mb_bounce_in_bounded_time() -> None:
    attachment = b"X-Filler: " + b"x" * 76 + b"\r\n"
    raw = BOUNCE.replace(
        b"Message-ID:", attachment * (20_000_000 // len(attachment)) + b"Message-ID:"
    )
    assert len(raw) > 20_000_000

    started = time.perf_counter()
    found = diagnose_message(raw)

    assert time.perf_counter() - started < 5
    assert found.kind == MessageKind.BOUNCE
    assert [recipient.address for recipient in found.recipients] == ["unknown@dest.test"]


@pytest.mark.parametrize("depth", [1000, 5000])
def test_it_reads_deeply_nested_mime(depth: int) -> None:
    opening = b"".join(
        b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (level, level + 1)
        for level in range(depth)
    )
    raw = (
        b'From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"'
        b"\r\n\r\n" + opening + b"--b%d\r\nContent-Type: text/plain\r\n\r\nhi\r\n" % depth
    )

    assert_well_formed(diagnose_message(raw))


@pytest.mark.parametrize("depth", [10, 1000])
def test_it_reads_reports_forwarded_inside_each_other(depth: int) -> None:
    raw = BOUNCE
    for _ in range(depth):
        raw = (
            b"From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"
            + raw
        )

    assert_well_formed(diagnose_message(raw))
