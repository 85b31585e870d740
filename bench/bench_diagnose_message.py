"""Throughput of `manage.py diagnose --message --json` over the whole-message fixtures.

    .venv/bin/python bench/bench_diagnose_message.py [--rounds N]

Every fixture of tests/diagnostics/data/messages (bounces, delays, feedback reports,
auto-replies in eight languages, replies), each given N times: first as the real command in
a subprocess (start-up included, output to a file), then in this process through the same
functions the command calls (steady state). Peak memory is ru_maxrss.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_diagnose import report

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = ROOT / "tests/diagnostics/data/messages"


def as_command(paths: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of the command, start-up included."""
    command = [sys.executable, str(ROOT / "manage.py"), "diagnose", "--message", "--json", *paths]
    with tempfile.TemporaryFile() as stdout:
        wall = time.perf_counter()
        subprocess.run(command, stdout=stdout, check=True, cwd=ROOT)
        wall = time.perf_counter() - wall
        stdout.seek(0)
        assert sum(1 for _ in stdout) == len(paths), "one output line per file"
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, usage.ru_utime + usage.ru_stime


def in_process(paths: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of reading, diagnosing and writing each file in this process."""
    from diagnostics.management.commands.diagnose import diagnose_file, dumps_message

    sink = io.StringIO()
    stdin = io.BytesIO()
    wall, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        sink.write(dumps_message(path, diagnose_file(path, stdin)) + "\n")
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    rounds = parser.parse_args().rounds
    fixtures = sorted(str(path) for path in MESSAGES.rglob("*.eml"))
    paths = fixtures * rounds
    size = sum(Path(path).stat().st_size for path in paths)
    print(f"{len(fixtures)} messages x {rounds} = {len(paths)} files, {size / 1e6:.1f} MB")
    report("command:", len(paths), as_command(paths), resource.RUSAGE_CHILDREN, "messages")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")  # the development setup, as manage.py runs it
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    report("in process:", len(paths), in_process(paths), resource.RUSAGE_SELF, "messages")


if __name__ == "__main__":
    main()
