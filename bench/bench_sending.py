"""Benchmark the sending pipeline end to end, beside a plain smtplib loop, and the claim query.

    .venv/bin/python bench/bench_sending.py [--emails 20000] [--mailboxes 200] [--workers 2]

Against two servers: the SMTP sandbox (Python, aiosmtpd), and Postfix's `smtp-sink` (C, the
fastest peer this machine has: what is left is the client's own cost). The pipeline's
rate is compared with a plain smtplib loop sending the same messages to the same server.

Needs PostgreSQL and Redis on loopback (as `make test` does) and smtp-sink (`make peers`).
Uses its own database (`sequences_bench`, dropped and created) and Redis database 14
(another with `BENCH_REDIS_URL`; it is flushed each run); runs the servers and the Celery
workers as processes on loopback, with DEBUG off as in production (DEBUG keeps every
query in memory). Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from email.message import EmailMessage
from pathlib import Path

from harness import (
    PASSWORD,
    PRODUCTION_ENV,
    ROOT,
    SANDBOX_ENV,
    free_port,
    populate,
    reset,
    sandbox_args,
    start,
    worker_args,
)

BENCH_DB = "sequences_bench"
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
# Another Redis database with BENCH_REDIS_URL (its contents are flushed each run).
os.environ["CELERY_BROKER_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.update(PRODUCTION_ENV)
sys.path.insert(0, str(ROOT))

import django  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402


def ensure_database() -> None:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as pg:
        # Made anew each run, so that its schema is the code's.
        pg.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')
        pg.execute(f'CREATE DATABASE "{BENCH_DB}"')


ensure_database()
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from sandboxes.smtp_server import read_messages  # noqa: E402
from sequences.models import (  # noqa: E402
    Mailbox,
    ScheduledEmail,
)
from sequences.services.sending import due_emails, emails_claim_due, held_steps  # noqa: E402
from sequences.tasks import dispatch_due_emails  # noqa: E402


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def run_pipeline(
    emails: int, mailboxes: int, workers: int, port: int, logs: Path, *, sign_in: bool
) -> dict:
    reset()
    populate(emails=emails, mailboxes=mailboxes, port=port, sign_in=sign_in)
    redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).flushdb()
    procs = [
        start(
            worker_args(n),
            logs / f"worker{n}.log",
            ready="ready.",
        )
        for n in range(workers)
    ]
    try:
        cpu_before = cpu_seconds([p.pid for p in procs])
        began = time.perf_counter()
        sent = 0
        while sent < emails:
            dispatch_due_emails.delay()
            time.sleep(0.5)
            sent = ScheduledEmail.objects.filter(status=ScheduledEmail.Status.SENT).count()
            if time.perf_counter() - began > 600:
                raise SystemExit(f"pipeline stalled at {sent}/{emails}")
        elapsed = time.perf_counter() - began
        cpu = cpu_seconds([p.pid for p in procs]) - cpu_before
    finally:
        for process in procs:
            process.terminate()
            process.wait()
    return {"elapsed": elapsed, "rate": emails / elapsed, "cpu_ms": 1000 * cpu / emails}


def run_plain_loop(emails: int, mailboxes: int, port: int, *, sign_in: bool) -> dict:
    """The same messages over the same number of persistent connections, no database."""
    connections = []
    for n in range(mailboxes):
        client = smtplib.SMTP("127.0.0.1", port, timeout=30)
        if sign_in:
            client.login(f"plain{n}@bench.test", PASSWORD)
        connections.append(client)
    began = time.perf_counter()
    for n in range(emails):
        message = EmailMessage()
        message["From"] = f"plain{n % mailboxes}@bench.test"
        message["To"] = f"c{n}@example.test"
        message["Subject"] = f"Hello C{n}"
        message["Message-ID"] = f"<plain.{n}@bench.test>"
        message.set_content(f"Hi C{n}")
        connections[n % mailboxes].send_message(message)
    elapsed = time.perf_counter() - began
    for client in connections:
        client.quit()
    return {"elapsed": elapsed, "rate": emails / elapsed}


def busiest_minute(store: Path) -> tuple[int, str]:
    """The most messages one pipeline mailbox had accepted in any sliding 60 seconds."""
    by_login: dict[str, list[dt.datetime]] = defaultdict(list)
    for message in read_messages(store):
        if message["X-Sandbox-Login"].startswith("box"):
            by_login[message["X-Sandbox-Login"]].append(
                dt.datetime.fromisoformat(message["X-Sandbox-Received-At"])
            )
    worst, who = 0, ""
    for login, times in by_login.items():
        left = 0
        for right, moment in enumerate(times):
            while moment - times[left] >= dt.timedelta(seconds=60):
                left += 1
            if right - left + 1 > worst:
                worst, who = right - left + 1, login
    return worst, who


def claim_timings(total: int, mailboxes: int, runs: int = 200) -> dict:
    """p95 of the per-mailbox claim query and of a whole claim, with 90% of rows history."""
    reset()
    populate(emails=total // 10, mailboxes=mailboxes, port=1, history=total - total // 10)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    now = timezone.now()
    box_ids = list(Mailbox.objects.values_list("id", flat=True))
    query, whole = [], []
    for n in range(runs):
        with transaction.atomic():
            began = time.perf_counter()
            list(
                due_emails(now=now, held=held_steps())
                .filter(mailbox_id=box_ids[n % len(box_ids)])
                .order_by("next_attempt_at", "id")
                .select_for_update(skip_locked=True)
                .values_list("id", flat=True)[:100]
            )
            query.append(time.perf_counter() - began)
            began = time.perf_counter()
            emails_claim_due(now=now, mailboxes=1)
            whole.append(time.perf_counter() - began)
            transaction.set_rollback(True)

    def p95(samples: list[float]) -> float:
        return 1000 * statistics.quantiles(samples, n=20)[-1]

    return {"query_p95_ms": p95(query), "claim_p95_ms": p95(whole)}


def start_smtp_sink(port: int, log: Path) -> subprocess.Popen[bytes]:
    """Postfix's smtp-sink: accepts everything, stores nothing; -a: no AUTH offered."""
    process = subprocess.Popen(
        ["smtp-sink", "-a", "-u", "nobody", f"127.0.0.1:{port}", "1000"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return process
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"smtp-sink did not start:\n{log.read_text()}")
        time.sleep(0.1)


def report(server: str, options: argparse.Namespace, pipeline: dict, plain: dict) -> None:
    print(
        f"{server}: pipeline {options.emails} emails over {options.mailboxes} mailboxes, "
        f"{options.workers} workers: {pipeline['elapsed']:.1f} s, "
        f"{pipeline['rate']:.0f} emails/s, {pipeline['cpu_ms']:.2f} worker CPU ms/email"
    )
    print(f"{server}: plain smtplib loop: {plain['elapsed']:.1f} s, {plain['rate']:.0f} emails/s")
    print(f"{server}: ratio pipeline/plain: {pipeline['rate'] / plain['rate']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=20_000)
    parser.add_argument("--mailboxes", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--claim-rows", type=int, default=1_000_000)
    options = parser.parse_args()
    call_command("migrate", verbosity=0)
    runs = (options.emails, options.mailboxes, options.workers)
    with tempfile.TemporaryDirectory() as tmp:
        logs, store, port = Path(tmp), Path(tmp) / "mail", free_port()
        sandbox = start(
            sandbox_args(port, store),
            logs / "sandbox.log",
            ready="listening",
            env=SANDBOX_ENV,
        )
        try:
            pipeline = run_pipeline(*runs, port, logs, sign_in=True)
            plain = run_plain_loop(options.emails, options.mailboxes, port, sign_in=True)
            worst, who = busiest_minute(store)
        finally:
            sandbox.terminate()
            sandbox.wait()
        report("sandbox", options, pipeline, plain)
        print(f"busiest sliding minute at the sandbox: {worst} messages ({who}), cap 600")
        port = free_port()
        sink = start_smtp_sink(port, logs / "smtp-sink.log")
        try:
            pipeline = run_pipeline(*runs, port, logs, sign_in=False)
            plain = run_plain_loop(options.emails, options.mailboxes, port, sign_in=False)
        finally:
            sink.terminate()
            sink.wait()
        report("smtp-sink", options, pipeline, plain)
    # Few mailboxes, so that each claim finds a full batch in both tables: what differs
    # is only the history around the due rows.
    small = claim_timings(options.claim_rows // 100, mailboxes=10)
    large = claim_timings(options.claim_rows, mailboxes=10)
    for name, timing in (("10k", small), ("1M", large)):
        print(
            f"claim on {name} rows: query p95 {timing['query_p95_ms']:.2f} ms, "
            f"whole claim p95 {timing['claim_p95_ms']:.2f} ms"
        )
    print(f"claim query 1M/10k: {large['query_p95_ms'] / small['query_p95_ms']:.2f}x")


if __name__ == "__main__":
    main()
