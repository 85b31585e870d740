"""Throughput of `manage.py diagnose --json -` over 100 000 varied lines.

    .venv/bin/python bench/bench_diagnose.py [--lines N]

The lines are the seed errors and the provider strings of the tests, 40 % as they are and
60 % mutated (other addresses, IPs, ids, log prefixes), with a few long bounces (10-200 KB)
and one of 1 MB. The batch path runs as the real command in a subprocess (start-up
included, output to a file), then in this process (steady state), then in this process
again with every line made unique, which defeats the reuse of repeated lines. Peak memory
is ru_maxrss.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (
    ROOT / "diagnostics/data/seed-errors.jsonl",
    ROOT / "tests/diagnostics/data/provider-errors.jsonl",
)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
ID = re.compile(r"\b(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{8,}\b")
PREFIXES = (
    "",
    "host mx{n}.example.net[192.0.2.{n}] said: ",
    "2026-05-0{d} 10:2{d}:31 1gwVPq-000{n}Qx-Fm ** lead{n}@example.org: ",
    "SMTP error from remote mail server after RCPT TO:<c{n}@example.com>: ",
    "Delivery failed for step {n}: ",
)


def generate(count: int, rng: random.Random) -> list[bytes]:
    raws = [json.loads(line)["raw"] for path in SOURCES for line in path.open(encoding="utf-8")]
    lines = []
    for index in range(count):
        raw = rng.choice(raws)
        roll = rng.random()
        if roll < 0.6:
            raw = _mutate(raw, rng)
        if roll < 0.3:
            raw = rng.choice(PREFIXES).format(n=rng.randrange(1000), d=rng.randrange(10)) + raw
        if index % 1000 == 999:
            raw = _long_bounce(raw, rng, size=rng.randrange(10_000, 200_000))
        lines.append(_line(raw))
    lines[count // 2] = _line(_long_bounce(rng.choice(raws), rng, size=1_000_000))
    return lines


def _mutate(raw: str, rng: random.Random) -> str:
    raw = EMAIL.sub(lambda _: f"{_word(rng)}.{_word(rng)}@{_word(rng)}.com", raw)
    raw = IP.sub(lambda _: ".".join(str(rng.randrange(1, 255)) for _ in range(4)), raw)
    return ID.sub(lambda found: "".join(rng.sample("abcdef0123456789" * 4, len(found[0]))), raw)


def _long_bounce(raw: str, rng: random.Random, size: int) -> str:
    headers = "".join(
        f"Received: from mx{n}.example.net ([192.0.2.{n % 255}]) by relay.example.org\n"
        for n in range(size // 70)
    )
    return f"{raw}\n\n------ This is a copy of the message's headers. ------\n{headers}"


def _word(rng: random.Random) -> str:
    return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randrange(3, 9)))


def _line(raw: str) -> bytes:
    # Multi-line errors travel as JSON strings, as the contract's batch mode expects.
    text = json.dumps(raw, ensure_ascii=False) if "\n" in raw or raw.startswith('"') else raw
    return text.encode("utf-8") + b"\n"


def in_process(lines: list[bytes]) -> tuple[float, float]:
    """Wall and CPU seconds of the batch path in this process."""
    from diagnostics.management.commands.diagnose import diagnose_lines

    sink = io.StringIO()
    wall, cpu = time.perf_counter(), time.process_time()
    written = diagnose_lines(lines, sink.write)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert written == len(lines)
    return wall, cpu


def as_command(path: Path, count: int) -> tuple[float, float]:
    """Wall and CPU seconds of the command, start-up included."""
    command = [sys.executable, str(ROOT / "manage.py"), "diagnose", "--json", "-"]
    with path.open("rb") as stdin, tempfile.TemporaryFile() as stdout:
        wall = time.perf_counter()
        subprocess.run(command, stdin=stdin, stdout=stdout, check=True, cwd=ROOT)
        wall = time.perf_counter() - wall
        stdout.seek(0)
        assert sum(1 for _ in stdout) == count, "one output line per input line"
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, usage.ru_utime + usage.ru_stime


def report(label: str, count: int, seconds: tuple[float, float], who: int, unit: str) -> None:
    """One line of rates: `count` units in `seconds` (wall, CPU), and the peak memory of
    `who` (RUSAGE_SELF or RUSAGE_CHILDREN)."""
    # CPU time as well: on a shared machine the wall clock also measures the neighbours.
    wall, cpu = seconds
    peak = resource.getrusage(who).ru_maxrss / 1024
    print(
        f"{label:<20}{count / wall:>8,.0f} {unit}/s wall ({wall:.2f} s), "
        f"{count / cpu:>8,.0f} {unit}/s CPU, peak {peak:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    count = parser.parse_args().lines
    lines = generate(count, random.Random(20260523))
    size = sum(map(len, lines))
    print(f"{count} lines, {size / 1e6:.1f} MB")
    with tempfile.NamedTemporaryFile(suffix=".txt", delete=False) as handle:
        handle.writelines(lines)
    path = Path(handle.name)
    try:
        report("command:", count, as_command(path, count), resource.RUSAGE_CHILDREN, "lines")
    finally:
        path.unlink()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")  # the development setup, as manage.py runs it
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    report("in process:", count, in_process(lines), resource.RUSAGE_SELF, "lines")
    # A number at the end of each error (inside the quotes of a JSON line) makes it unique.
    unique = [
        line[: -2 if line[:1] == b'"' else -1] + b" #%d" % n + line[-2:]
        for n, line in enumerate(lines)
    ]
    report("in process, unique:", count, in_process(unique), resource.RUSAGE_SELF, "lines")


if __name__ == "__main__":
    main()
