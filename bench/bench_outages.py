"""Fault injection: the sending pipeline through a database restart, a database outage and a
broker outage, at the default settings.

    .venv/bin/python bench/bench_outages.py [--emails 3000] [--mailboxes 30] [--scenarios a,b,c]

Runs everything it needs privately, on loopback and free ports: a PostgreSQL 15 cluster
(initdb in a temporary directory, run as the `postgres` user), a Redis that keeps nothing
on disk, the SMTP sandbox, two Celery workers (solo pool) and beat, all with DEBUG off as
in production. The machine's own PostgreSQL and Redis are not touched.

Each scenario starts from a fresh population of emails due now (as bench/bench_sending.py
makes it), sent at a per-minute cap per mailbox so that the run lasts long enough for the
fault to land mid-run; the fault is injected once a share of the emails is sent. Then it
waits for every email to settle (none scheduled, retrying or sending) and prints one line:
what was sent, what the sandbox received twice, what is left unsent, and how long after the
recovery all had settled. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from harness import (
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

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE = "outages"
UNCERTAIN = "pipeline.delivery_uncertain"
SCENARIOS = {
    # No fault: how long the rest takes from the moment a fault would land (the pacing).
    "0": "baseline",
    "a": "postgres_restart",
    "b": "postgres_down_45s",
    "c": "redis_down_30s",
}


def log(text: str) -> None:
    """Progress, on stderr: stdout has the results only."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _die_with_parent() -> None:
    """In the child: killed if the benchmark dies without cleaning up (SIGKILL)."""
    os.setsid()  # a Ctrl-C at the terminal is for the benchmark, which stops its children
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def as_postgres(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A PostgreSQL binary as the `postgres` user (initdb and postgres refuse root)."""
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *map(str, args)],
        check=check,
        capture_output=True,
        text=True,
    )


class Postgres:
    """A private cluster: trust authentication, loopback only, no fsync."""

    def __init__(self, base: Path, port: int) -> None:
        self.port = port
        self.home = base / "pg"
        self.data = self.home / "data"
        self.logfile = self.home / "postgres.log"
        self.home.mkdir()
        shutil.chown(self.home, "postgres", "postgres")
        as_postgres(PG_BIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-N")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.home}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 100\n"
            )
        self.running = False

    def ctl(self, *args: str) -> None:
        began = time.monotonic()
        result = as_postgres(
            PG_BIN / "pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t", "60", *args
        )
        log(f"pg_ctl {' '.join(args)}: {time.monotonic() - began:.1f} s {result.stdout.strip()}")

    def start(self) -> None:
        self.ctl("start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        self.ctl("stop", "-m", mode)
        self.running = False

    def restart(self) -> None:
        self.ctl("restart", "-m", "fast")
        self.running = True

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def close(self) -> None:
        if self.running or (self.data / "postmaster.pid").exists():
            as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "stop", "-m", "immediate", check=False)
            self.running = False


class Redis:
    """A private Redis that keeps nothing on disk: restarted, it comes back empty."""

    def __init__(self, base: Path, port: int) -> None:
        self.port, self.dir = port, base / "redis"
        self.dir.mkdir()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=(self.dir / f"redis-{self.starts}.log").open("wb"),
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        import redis

        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    return
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def flush(self) -> None:
        import redis

        redis.Redis(port=self.port).flushall()


def stop(processes: list[subprocess.Popen[bytes]], grace: float = 15) -> None:
    """SIGTERM (a worker's warm shutdown), then SIGKILL after `grace` seconds."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- Watching the private database directly (psycopg), through its outages.


class Watcher:
    def __init__(self, url: str) -> None:
        self.url = url
        self.pg = None

    def counts(self) -> dict[str, int] | None:
        """Emails per status, and the uncertain and the due retrying; None while the
        database cannot be reached."""
        import psycopg

        try:
            if self.pg is None or self.pg.closed:
                self.pg = psycopg.connect(self.url, autocommit=True, connect_timeout=2)
            rows = self.pg.execute(
                "SELECT status, count(*), "
                "count(*) FILTER (WHERE error_code = %s), "
                "count(*) FILTER (WHERE next_attempt_at <= now()) "
                "FROM sequences_scheduledemail GROUP BY status",
                [UNCERTAIN],
            ).fetchall()
        except psycopg.Error:
            with contextlib.suppress(Exception):
                if self.pg is not None:
                    self.pg.close()
            self.pg = None
            return None
        counts = Counter()
        for status, n, uncertain, due in rows:
            counts[status] += n
            counts["uncertain"] += uncertain
            if status == "retrying":
                counts["retrying_due"] += due
        return counts

    def query(self, sql: str) -> list[tuple]:
        self.counts()  # (re)connects
        return self.pg.execute(sql).fetchall()

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()


def unsettled(counts: dict[str, int]) -> int:
    return counts["scheduled"] + counts["retrying"] + counts["sending"]


def summary(counts: dict[str, int] | None) -> str:
    if counts is None:
        return "database unreachable"
    keys = ("scheduled", "sending", "sent", "retrying", "blocked", "failed", "uncertain")
    return " ".join(f"{k}={counts[k]}" for k in keys if counts[k])


# -- One scenario.


class Run:
    def __init__(self, options: argparse.Namespace, base: Path, pg: Postgres, redis: Redis):
        self.options, self.base, self.pg, self.redis = options, base, pg, redis
        self.processes: list[subprocess.Popen[bytes]] = []

    def start_processes(self, logs: Path, store: Path, smtp_port: int) -> None:
        def child(args: list[str], log: str, ready: str, **env: str) -> None:
            self.processes.append(
                start(
                    args,
                    logs / log,
                    ready=ready,
                    env={"LOG_LEVEL": "INFO", **env},
                    preexec_fn=_die_with_parent,
                )
            )

        child(sandbox_args(smtp_port, store), "sandbox.log", "listening", **SANDBOX_ENV)
        for n in range(self.options.workers):
            child(worker_args(n), f"worker{n}.log", "ready.")
        schedule = str(logs / "celerybeat-schedule")
        beat = ["-m", "celery", "-A", "config", "beat", "--schedule", schedule, "--loglevel=INFO"]
        child(beat, "beat.log", "beat: Starting")

    def inject(self, scenario: str) -> None:
        if scenario == "baseline":
            pass
        elif scenario == "postgres_restart":
            self.pg.restart()
        elif scenario == "postgres_down_45s":
            self.pg.stop()
            time.sleep(45)
            self.pg.start()
        elif scenario == "redis_down_30s":
            self.redis.kill()
            time.sleep(30)
            self.redis.start()
        else:
            raise ValueError(scenario)

    def scenario(self, scenario: str) -> tuple[str, str]:
        from django.db import connections

        options = self.options
        logs = self.base / scenario
        logs.mkdir()
        store, smtp_port = logs / "mail", free_port()
        reset()
        populate(
            emails=options.emails,
            mailboxes=options.mailboxes,
            port=smtp_port,
            per_minute=options.per_minute,
        )
        connections.close_all()  # the database may restart under it
        self.redis.flush()
        watcher = Watcher(self.pg.url(DATABASE))
        try:
            self.start_processes(logs, store, smtp_port)
            began = time.monotonic()
            trigger = int(options.emails * options.fault_at)
            counts = watcher.counts()
            while counts is None or counts["sent"] < trigger:
                if time.monotonic() - began > 300:
                    raise SystemExit(f"{scenario}: stalled before the fault: {summary(counts)}")
                time.sleep(0.2)
                counts = watcher.counts()
            log(f"{scenario}: fault at {time.monotonic() - began:.1f} s: {summary(counts)}")
            faulted = time.monotonic()
            self.inject(scenario)
            recovered = time.monotonic()
            log(f"{scenario}: recovered after {recovered - faulted:.1f} s")
            settled_at, shown = None, 0.0
            while time.monotonic() - recovered < options.settle_timeout:
                counts = watcher.counts()
                if counts is not None and not unsettled(counts):
                    settled_at = time.monotonic()
                    break
                if time.monotonic() - shown >= 15:
                    log(f"{scenario}: +{time.monotonic() - recovered:.0f} s: {summary(counts)}")
                    shown = time.monotonic()
                time.sleep(0.5)
            total = time.monotonic() - began
            counts = watcher.counts()
            log(f"{scenario}: end after {total:.0f} s: {summary(counts)}")
            detail = self.detail(scenario, watcher, store, logs)
        finally:
            stop(self.processes)
            self.processes.clear()
            watcher.close()
            if options.logs:
                shutil.copytree(logs, Path(options.logs) / scenario, dirs_exist_ok=True)
        received = self.received(store)
        ended = sum(counts[s] for s in ("sent", "failed", "blocked", "cancelled"))
        settled = (
            f"{settled_at - recovered:.0f}" if settled_at else f">{options.settle_timeout:.0f}"
        )
        line = (
            f"{scenario}: emails={options.emails} sent={counts['sent']} "
            f"duplicates={received['duplicate_ids']} lost={options.emails - ended} "
            f"stuck_sending={counts['sending']} uncertain={counts['uncertain']} "
            f"failed={counts['failed']} seconds_to_all_settled_after_recovery={settled}"
        )
        since_fault = f"{settled_at - faulted:.0f} s" if settled_at else "not"
        extra = (
            f"  {scenario}: settled {since_fault} after the fault landed "
            f"({faulted - began:.0f} s into the run); sandbox received {received['messages']} "
            f"messages for {received['recipients']} recipients "
            f"({received['duplicate_recipients']} recipients twice or more); "
            f"left scheduled={counts['scheduled']} retrying={counts['retrying']} "
            f"(due {counts['retrying_due']}); {detail}"
        )
        return line, extra

    def received(self, store: Path) -> dict[str, int]:
        from sandboxes.smtp_server import RCPT_TO_HEADER, read_messages

        messages = read_messages(store) if store.exists() else []
        ids = Counter(m["Message-ID"] for m in messages)
        recipients = Counter(m[RCPT_TO_HEADER] for m in messages)
        return {
            "messages": len(messages),
            "duplicate_ids": sum(1 for n in ids.values() if n > 1),
            "recipients": len(recipients),
            "duplicate_recipients": sum(1 for n in recipients.values() if n > 1),
        }

    def detail(self, scenario: str, watcher: Watcher, store: Path, logs: Path) -> str:
        """Mailboxes left out of service, and the workers' warnings and errors."""
        boxes = watcher.query(
            "SELECT state, count(*), count(*) FILTER (WHERE paused_until > now()) "
            "FROM sequences_mailbox GROUP BY state"
        )
        attempts = watcher.query(
            "SELECT outcome, count(*) FROM sequences_sendattempt GROUP BY outcome ORDER BY 1"
        )
        problems: Counter[str] = Counter()
        for logfile in sorted(logs.glob("*.log")):
            for line in logfile.read_text(errors="replace").splitlines():
                match = re.search(r"\b(WARNING|ERROR|CRITICAL)\b[/: ]+(.*)", line) or (
                    re.search(r"\b(INFO)/\w+\] (.* (?:retry|expired|revoked).*)", line)
                )
                if match:
                    if "DeprecationWarning" in line:
                        continue
                    text = re.sub(r"\[?[0-9a-f]{8}-[0-9a-f-]{27}\]?", "<id>", match.group(2))
                    text = re.sub(r"\d+(\.\d+)?", "N", text)[:140]
                    problems[f"{logfile.stem.rstrip('0123456789')} {match.group(1)} {text}"] += 1
        boxes_text = ", ".join(f"{s}={n} (paused {p})" for s, n, p in boxes)
        attempts_text = ", ".join(f"{o}={n}" for o, n in attempts)
        top = "; ".join(f"{n}x {text}" for text, n in problems.most_common(6)) or "none"
        return f"mailboxes {boxes_text}; attempts {attempts_text}; log warnings/errors: {top}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=3000)
    parser.add_argument("--mailboxes", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--per-minute",
        type=int,
        default=40,
        help="Each mailbox's per_minute_limit: what stretches the run over minutes.",
    )
    parser.add_argument(
        "--fault-at", type=float, default=0.2, help="Share of the emails sent before the fault."
    )
    parser.add_argument("--settle-timeout", type=float, default=300)
    parser.add_argument(
        "--scenarios",
        default="0,a,b,c",
        help="Of: 0 (no fault), a (PostgreSQL restart), b (PostgreSQL down), c (Redis down).",
    )
    parser.add_argument("--logs", help="Keep the processes' logs in this directory.")
    options = parser.parse_args()
    chosen = [SCENARIOS[key.strip()] for key in options.scenarios.split(",")]

    # Stopped by a signal: the cleanup below runs as for Ctrl-C.
    def interrupted(number: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(number).name)

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, interrupted)
    began = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="bench-outages-"))
    base.chmod(0o755)  # the postgres user reaches its data directory through it
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, base, ignore_errors=True)
        pg = Postgres(base, free_port())
        cleanup.callback(pg.close)
        pg.start()
        redis = Redis(base, free_port())
        cleanup.callback(redis.kill)
        redis.start()
        import psycopg

        with psycopg.connect(pg.url("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{DATABASE}"')
        os.environ.update(
            PRODUCTION_ENV
            | {
                "DATABASE_URL": pg.url(DATABASE),
                "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis.port}/0",
                "DATA_DIR": str(base / "data"),
            }
        )
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True
        )
        sys.path.insert(0, str(ROOT))
        os.environ["LOG_LEVEL"] = "WARNING"
        import django

        django.setup()
        run = Run(options, base, pg, redis)
        cleanup.callback(lambda: stop(run.processes, grace=5))
        for scenario in chosen:
            log(f"{scenario}: start")
            line, extra = run.scenario(scenario)
            print(line, flush=True)
            print(extra, flush=True)
    print(f"total: {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt as stopped:
        sys.exit(f"interrupted ({stopped or 'SIGINT'}); cleaned up")
