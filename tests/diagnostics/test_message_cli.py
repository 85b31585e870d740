"""`manage.py diagnose --message`, as the contract fixes it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from django.core.management import call_command

from diagnostics.message import diagnose_message

ROOT = Path(__file__).parents[2]
MESSAGES = Path(__file__).parent / "data" / "messages"
BOUNCE = MESSAGES / "postfix" / "two-failed-one-delivered.eml"
AUTO_REPLY = MESSAGES / "exim-autoreply" / "vacation-fr.eml"
FIELDS = ["file", "kind", "original_message_id", "recipients", "return_date", "feedback_type"]


def run(*args: str, stdin: io.IOBase | None = None) -> str:
    out = io.StringIO()
    options = {"stdin": stdin} if stdin is not None else {}
    call_command("diagnose", "--message", *args, stdout=out, **options)
    return out.getvalue()


def test_it_prints_one_json_object_per_file_in_order() -> None:
    out = run("--json", str(BOUNCE), str(AUTO_REPLY))

    first, second = (json.loads(line) for line in out.splitlines())
    assert list(first) == FIELDS
    assert first == {"file": str(BOUNCE), **diagnose_message(BOUNCE.read_bytes()).to_json()}
    assert [recipient["address"] for recipient in first["recipients"]] == [
        "full@dest.test",
        "unknown@dest.test",
    ]
    assert (second["file"], second["kind"], second["return_date"]) == (
        str(AUTO_REPLY),
        "auto_reply",
        "2027-01-06",
    )


def test_it_prints_a_readable_block_per_file() -> None:
    out = run(str(BOUNCE), str(AUTO_REPLY))

    first, second = out.strip().split("\n\n")
    assert first.startswith(f"{BOUNCE}: bounce (Bounce)\n")
    assert "unknown@dest.test: failed 5.1.1, Recipient address does not exist" in first
    assert "recipient_unknown, retry never" in first
    assert second.startswith(f"{AUTO_REPLY}: auto_reply (Automatic reply)\n")
    assert "return date 2027-01-06" in second


def test_it_reads_one_whole_message_from_stdin() -> None:
    out = run("--json", "-", stdin=io.BytesIO(BOUNCE.read_bytes()))

    (line,) = out.splitlines()
    printed = json.loads(line)
    assert printed["file"] == "-"
    assert printed["kind"] == "bounce"


def test_it_reports_a_missing_or_binary_file_as_other_with_an_error(tmp_path: Path) -> None:
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    missing = tmp_path / "missing.eml"

    out = run("--json", str(missing), str(binary), str(tmp_path))

    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["kind"] for row in rows] == ["other", "other", "other"]
    assert "No such file" in rows[0]["error"]
    assert "binary" in rows[1]["error"]
    assert "directory" in rows[2]["error"].lower()


def test_it_runs_as_the_real_command_on_stdin() -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "diagnose", "--message", "--json", "-"],
        input=AUTO_REPLY.read_bytes(),
        capture_output=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )

    printed = json.loads(done.stdout)
    assert printed["kind"] == "auto_reply"
    assert printed["original_message_id"].endswith("@sender.test>")
    assert done.stderr == b""
