"""`manage.py diagnose`, as the contract fixes it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command

from diagnostics.diagnosis import diagnose
from diagnostics.management.commands.diagnose import diagnose_lines

ROOT = Path(__file__).parents[2]
CONTRACT_FIELDS = [
    "raw",
    "code",
    "category",
    "retry",
    "retry_after",
    "fixes",
    "title",
    "explanation",
    "smtp_code",
    "enhanced_code",
    "http_status",
    "provider",
]
USER_UNKNOWN = "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown"


def run(*args: str, stdin: io.TextIOBase | None = None) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    options = {"stdin": stdin} if stdin is not None else {}
    call_command("diagnose", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_it_prints_a_readable_diagnosis() -> None:
    out, _ = run(USER_UNKNOWN)

    assert out.startswith("Recipient address does not exist\n")
    assert "smtp.5.1.1" in out
    assert "recipient_unknown" in out
    assert "1. " in out


def test_it_prints_one_json_object_with_exactly_the_contract_fields() -> None:
    out, _ = run("--json", USER_UNKNOWN)

    printed = json.loads(out)
    assert list(printed) == CONTRACT_FIELDS
    assert printed == diagnose(USER_UNKNOWN).to_json()
    assert printed["raw"] == USER_UNKNOWN


def test_it_explains_the_rule_that_won_and_what_it_beat() -> None:
    out, _ = run("--explain", USER_UNKNOWN)

    assert "smtp_code=550 enhanced_code=5.1.1" in out
    assert "chose:  text 'user unknown' -> smtp.5.1.1" in out
    assert "beat:   enhanced code '5.1.1' -> smtp.5.1.1" in out
    assert "beat:   code class 'SMTP 5xx' -> unknown" in out


def test_it_keeps_stdout_pure_json_when_explaining_json() -> None:
    out, err = run("--json", "--explain", USER_UNKNOWN)

    assert json.loads(out)["code"] == "smtp.5.1.1"
    assert "chose:" in err


def test_it_diagnoses_stdin_line_by_line() -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b'421 Closing\n\n"a\\nb 552 5.2.2 full"\n'))

    out, _ = run("--json", "-", stdin=stdin)

    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["raw"] for row in rows] == ["421 Closing", "", "a\nb 552 5.2.2 full"]
    codes = [row["code"] for row in rows]
    assert codes == ["smtp.421.service_unavailable", "unknown", "smtp.5.2.2"]


def test_it_counts_a_repeated_quota_down_to_its_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    quota = b"550 5.4.5 Daily user sending limit exceeded."
    clock = iter((1_000.0, 1_600.0))  # seconds since the epoch: ten minutes apart
    monkeypatch.setattr("diagnostics.diagnosis.time", SimpleNamespace(time=lambda: next(clock)))
    out = io.StringIO()

    diagnose_lines([quota, quota], out.write)

    retry_afters = [json.loads(line)["retry_after"] for line in out.getvalue().splitlines()]
    assert retry_afters == [86_400 - 1_000, 86_400 - 1_600]


def test_it_refuses_stdin_without_json() -> None:
    with pytest.raises(CommandError):
        run("-")


def test_it_streams_a_batch_in_order_whatever_the_lines() -> None:
    lines = [
        b"550 5.1.1 User unknown",
        b"",
        b"\xff\xfe\x00 not utf-8 \xc3",
        json.dumps("first line\nsecond line: 452 4.2.2 Mailbox full").encode(),
        b'"unterminated json string',
        b'"\\ud800 lone surrogate"',
        "non-ascii: josé@exämple.com invalid character in recipient address".encode(),
        b"x" * 200_000,
    ]

    done = subprocess.run(
        [sys.executable, "manage.py", "diagnose", "--json", "-"],
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )

    rows = [json.loads(line) for line in done.stdout.decode("ascii").splitlines()]
    assert len(rows) == len(lines)
    assert [row["code"] for row in rows[:2]] == ["smtp.5.1.1", "unknown"]
    assert rows[2]["raw"] == "\ufffd\ufffd\x00 not utf-8 \ufffd"
    assert rows[3]["raw"] == "first line\nsecond line: 452 4.2.2 Mailbox full"
    assert rows[3]["category"] == "recipient_mailbox_full"
    assert rows[4]["raw"] == '"unterminated json string'
    assert rows[5]["raw"] == "\ud800 lone surrogate"
    assert rows[6]["code"] == "nylas.402.invalid_character"
    assert rows[7]["raw"] == "x" * 200_000
