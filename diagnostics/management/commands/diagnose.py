"""`manage.py diagnose`: the command line of ../shared/diagnosis-contract.md."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from diagnostics.diagnosis import Candidate, Diagnosis, Explanation, json_renderer
from diagnostics.diagnosis import explain as explain_diagnosis
from diagnostics.vocabulary import Category

if TYPE_CHECKING:
    from diagnostics.message import MessageDiagnosis


class Command(BaseCommand):
    help = (
        'Diagnose a sending error: diagnose "550 5.1.1 …", --json for one JSON object, '
        "--json - for one error per stdin line and one JSON object per output line; "
        "--message FILE… for whole messages (bounces, auto-replies…), - for one on stdin."
    )
    # Text in, text out: no system checks, no database.
    requires_system_checks: list[str] = []
    # Lets call_command(..., stdin=stream) feed batch mode in tests.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "raw",
            nargs="+",
            help='the raw error ("-" reads one error per stdin line); with --message, the '
            'message files ("-" reads one message from stdin)',
        )
        parser.add_argument(
            "--message", action="store_true", help="diagnose whole messages read from files"
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print the contract's JSON"
        )
        parser.add_argument(
            "--explain", action="store_true", help="also print which rule matched and why"
        )

    def handle(
        self,
        *args: Any,
        raw: list[str],
        as_json: bool,
        explain: bool,
        message: bool,
        **options: Any,
    ) -> None:
        if message:
            stdin = options.get("stdin") or sys.stdin
            for path in raw:
                found = diagnose_file(path, getattr(stdin, "buffer", stdin))
                self.stdout.write(
                    dumps_message(path, found) if as_json else describe_message(path, found)
                )
            return
        if len(raw) != 1:
            raise CommandError("Give one error (quote it), or --message for files.")
        raw = raw[0]
        if raw == "-":
            if not as_json:
                raise CommandError('Reading errors from stdin ("-") needs --json.')
            stdin = options.get("stdin") or sys.stdin
            # The raw stream rather than self.stdout: its per-line styling costs a
            # microsecond a line, and JSON lines need none.
            stdout = options.get("stdout") or sys.stdout
            diagnose_lines(getattr(stdin, "buffer", stdin), stdout.write)
            return
        found = explain_diagnosis(raw)
        self.stdout.write(dumps(found.diagnosis) if as_json else describe(found.diagnosis))
        if explain:
            # Keep stdout one JSON object when both are asked for.
            (self.stderr if as_json else self.stdout).write(reasons(found))


# Recorded errors repeat (the same bounce for many contacts, the same API failure for a
# whole batch): the JSON of a line already seen is reused. Bounded, as batches are unbounded.
_REPEATS_KEPT = 20_000
_REPEAT_MAX_LENGTH = 2_000
_QUOTA = Category.QUOTA_EXCEEDED
_LINES_PER_WRITE = 256


def diagnose_lines(lines: Iterable[bytes | str], write: Callable[[str], object]) -> int:
    """Batch mode: writes one JSON line (with its newline) per line in, in order; returns
    the line count.

    Lines are bytes so that invalid UTF-8 is replaced rather than fatal. A line that starts
    with a double quote is a JSON string (a multi-line error on one line), unless it does
    not decode as one, in which case it is taken as it is.
    """
    # A line's JSON, or for a quota the renderer of its JSON (its retry_after counts down).
    seen: dict[str, str | Callable[[], str]] = {}
    count = 0
    # Written a few hundred lines at a time: one write a line costs more than the join.
    pending: list[str] = []
    for line in lines:
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        text = text.rstrip("\r\n")
        if text.startswith('"'):
            try:
                decoded = json.loads(text)
            except ValueError:
                decoded = None
            if isinstance(decoded, str):
                text = decoded
        output = seen.get(text)
        if output is None:
            render, category = json_renderer(text)
            output = render() + "\n"
            if len(text) <= _REPEAT_MAX_LENGTH:
                if len(seen) >= _REPEATS_KEPT:
                    seen.clear()
                seen[text] = render if category is _QUOTA else output
        elif output.__class__ is not str:
            output = output() + "\n"
        pending.append(output)
        count += 1
        if len(pending) == _LINES_PER_WRITE:
            write("".join(pending))
            pending.clear()
    if pending:
        write("".join(pending))
    return count


# ASCII output (the default): valid whatever the terminal's encoding, even for lone
# surrogates. to_json() holds no cycles, so the check for them is skipped. Batch mode writes
# the same text through diagnostics.diagnosis.json_renderer.
_ENCODER = json.JSONEncoder(check_circular=False)


def dumps(diagnosis: Diagnosis) -> str:
    return _ENCODER.encode(diagnosis.to_json())


def describe(diagnosis: Diagnosis) -> str:
    codes = [
        f"SMTP {diagnosis.smtp_code}" if diagnosis.smtp_code else "",
        f"enhanced {diagnosis.enhanced_code}" if diagnosis.enhanced_code else "",
        f"HTTP {diagnosis.http_status}" if diagnosis.http_status else "",
    ]
    rows = [
        ("code", diagnosis.code),
        ("category", f"{diagnosis.category.value} ({diagnosis.category.label})"),
        ("retry", diagnosis.retry.value),
        ("retry after", f"{diagnosis.retry_after} s" if diagnosis.retry_after else "-"),
        ("fixes", ", ".join(fix.value for fix in diagnosis.fixes) or "-"),
        ("side", diagnosis.side.label),
        ("codes", ", ".join(code for code in codes if code) or "-"),
        ("provider", diagnosis.provider or "-"),
        ("request id", diagnosis.request_id or "-"),
    ]
    steps = [f"  {number}. {step}" for number, step in enumerate(diagnosis.next_steps, 1)]
    return "\n".join(
        [
            diagnosis.title,
            diagnosis.explanation,
            "",
            *(f"  {name:<12}{value}" for name, value in rows),
            "",
            "Next steps:",
            *steps,
        ]
    )


def reasons(found: Explanation) -> str:
    signals = found.signals
    winner, *losers = found.candidates
    lines = [
        "Why:",
        f"  read:   smtp_code={signals.smtp_code} enhanced_code={signals.enhanced_code} "
        f"http_status={signals.http_status} provider={signals.provider} "
        f"request_id={signals.request_id}",
        f"  chose:  {_candidate(winner)}",
    ]
    lines += [f"  beat:   {_candidate(loser)}" for loser in losers]
    return "\n".join(lines)


def _candidate(candidate: Candidate) -> str:
    return f"{candidate.rule} {candidate.evidence!r} -> {candidate.entry.code}"


def diagnose_file(path: str, stdin: BinaryIO) -> MessageDiagnosis:
    """A message file diagnosed ("-": standard input); one that cannot be read is `other`
    with the reason, as the contract says, never an error of the command."""
    # Imported here: the whole-message reader is a third of the batch mode's own start-up.
    from diagnostics.message import diagnose_message, unreadable

    try:
        raw = stdin.read() if path == "-" else Path(path).read_bytes()
    except OSError as error:
        return unreadable(f"cannot read {path}: {error.strerror or error}")
    if isinstance(raw, str):  # a text stream given in place of standard input
        raw = raw.encode("utf-8", "surrogateescape")
    return diagnose_message(raw)


def dumps_message(path: str, found: MessageDiagnosis) -> str:
    return _ENCODER.encode({"file": path, **found.to_json()})


def describe_message(path: str, found: MessageDiagnosis) -> str:
    rows = [
        ("original", found.original_message_id or "-"),
        ("return date", found.return_date or "-"),
        ("feedback", found.feedback_type or "-"),
    ]
    if found.error:
        rows.append(("error", found.error))
    lines = [f"{path}: {found.kind.value} ({found.kind.label})"]
    lines += [f"  {name:<12}{value}" for name, value in rows]
    for recipient in found.recipients:
        diagnosis = recipient.diagnosis
        lines += [
            f"  {recipient.address}: {recipient.action} {recipient.status or '-'}, "
            f"{diagnosis.title} ({diagnosis.category.value}, retry {diagnosis.retry.value})",
            f"      {recipient.diagnostic[:300]}",
        ]
    return "\n".join([*lines, "", ""])  # a blank line between files
