"""Benchmark the sending pipeline end to end, beside a plain smtplib loop, and the claim query.

    .venv/bin/python bench/bench_sending.py [--emails 20000] [--mailboxes 200] [--workers 2]

Against two servers: the SMTP sandbox (Python, aiosmtpd), and Postfix's `smtp-sink` (C, the
fastest peer this machine has: what is left is the client's own cost). The pipeline's
rate is compared with a plain smtplib loop sending the same messages to the same server.

Needs PostgreSQL and Redis on loopback (as `make test` does) and smtp-sink (`make peers`).
Uses its own database (`sequences_bench`, dropped and created) and Redis database 14; runs
the servers and the Celery workers as processes on loopback, with DEBUG off as in
production (DEBUG keeps every query in memory). Prints numbers; asserts nothing.
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

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "sequences_bench"
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
os.environ["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/14"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# Production-like: DEBUG off, with the secrets it then requires (throwaway ones).
os.environ["DEBUG"] = "false"
os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 50)
os.environ.setdefault("ALLOWED_HOSTS", "localhost")
os.environ.setdefault("MAILBOX_SECRET_KEYS", "YmVuY2gtbWFpbGJveC1rZXktMzItYnl0ZXMtbG9uZyE=")
os.environ["CONTACT_ALLOW_TEST_DOMAINS"] = "true"
# Nothing may call out: the workers' domain checks ask a port where no one answers.
os.environ.setdefault("DNS_NAMESERVERS", "127.0.0.1:9")
os.environ.setdefault("DNS_TIMEOUT", "0.2")
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
    Contact,
    Enrollment,
    Mailbox,
    Membership,
    Organization,
    ScheduledEmail,
    Sequence,
    Step,
)
from sequences.services.sending import due_emails, emails_claim_due, held_steps  # noqa: E402
from sequences.tasks import dispatch_due_emails  # noqa: E402

PASSWORD = "bench-password"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def reset() -> None:
    tables = ", ".join(
        model._meta.db_table
        for model in (Organization, Contact, Mailbox, ScheduledEmail, Sequence, Step, Enrollment)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables}, auth_user RESTART IDENTITY CASCADE")


def populate(
    *, emails: int, mailboxes: int, port: int, history: int = 0, sign_in: bool = True
) -> list[Mailbox]:
    """`emails` due now over `mailboxes`, plus `history` already sent, in bulk.

    Without `sign_in` the mailboxes send no AUTH (smtp-sink accepts none)."""
    from django.contrib.auth import get_user_model

    organization = Organization.objects.create(name="Bench", slug="bench")
    owner = get_user_model().objects.create_user("bench")
    Membership.objects.create(user=owner, organization=organization, role="admin")
    template = Mailbox(
        organization=organization,
        owner=owner,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security=Mailbox.Security.NONE,
        sending_days="1234567",
        window_start=dt.time(0),
        window_end=dt.time(23, 59, 59),
        per_minute_limit=600,
        daily_limit=100_000,
    )
    template.password = PASSWORD
    boxes = Mailbox.objects.bulk_create(
        Mailbox(
            **{f.attname: getattr(template, f.attname) for f in Mailbox._meta.concrete_fields}
            | {
                "id": None,
                "email": f"box{n}@bench.test",
                "smtp_username": f"box{n}@bench.test" if sign_in else "",
            }
        )
        for n in range(mailboxes)
    )
    sequences = Sequence.objects.bulk_create(
        Sequence(organization=organization, owner=owner, mailbox=box, name=f"S{n}")
        for n, box in enumerate(boxes)
    )
    steps = Step.objects.bulk_create(
        Step(sequence=s, position=1, subject="Hello {{ first_name }}", body="Hi {{ first_name }}")
        for s in sequences
    )
    now = timezone.now()
    total = emails + history
    for start in range(0, total, 20_000):
        chunk = range(start, min(total, start + 20_000))
        contacts = Contact.objects.bulk_create(
            Contact(organization=organization, email=f"c{n}@example.test", first_name=f"C{n}")
            for n in chunk
        )
        enrollments = Enrollment.objects.bulk_create(
            Enrollment(sequence=sequences[n % mailboxes], contact=c, enrolled_at=now)
            for n, c in zip(chunk, contacts, strict=True)
        )
        ScheduledEmail.objects.bulk_create(
            _email(n, e, steps[n % mailboxes], boxes[n % mailboxes], now, due=n >= history)
            for n, e in zip(chunk, enrollments, strict=True)
        )
    return boxes


def _email(n, enrollment, step, box, now, *, due: bool) -> ScheduledEmail:
    email = ScheduledEmail(
        enrollment=enrollment,
        step=step,
        sequence_id=step.sequence_id,
        contact_id=enrollment.contact_id,
        mailbox=box,
        scheduled_for=now,
        next_attempt_at=now,
    )
    if not due:
        email.status, email.next_attempt_at = ScheduledEmail.Status.SENT, None
        email.sent_at, email.message_id = now, f"<history.{n}@bench.test>"
    return email


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def start(
    args: list[str], log: Path, *, ready: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + 30
    while ready not in log.read_text(errors="replace"):
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"{args} did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return process


def run_pipeline(
    emails: int, mailboxes: int, workers: int, port: int, logs: Path, *, sign_in: bool
) -> dict:
    reset()
    populate(emails=emails, mailboxes=mailboxes, port=port, sign_in=sign_in)
    redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).flushdb()
    procs = [
        start(
            [
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                f"--hostname=w{n}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
            ],
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
            [
                "manage.py",
                "smtp_sandbox",
                "--port",
                str(port),
                "--store",
                str(store),
                "--rate",
                "1000000",
            ],
            logs / "sandbox.log",
            ready="listening",
            env={"DEBUG": "true"},  # the sandboxes are development tools (not installed)
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
