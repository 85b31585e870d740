"""Helpers for tests that watch other processes (Celery workers, the SMTP sandbox)."""

from __future__ import annotations

import datetime as dt
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.db import connection

if TYPE_CHECKING:
    from sequences.models import Mailbox, Sequence

ROOT = Path(__file__).resolve().parent.parent
TEST_BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment for a child process, less what only this test process needs."""
    # Set for Playwright's event loop in this process (tests/conftest.py); a deployment
    # check or a worker must not inherit it.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {**env, **extra}


@dataclass
class CommandRun:
    first_line: str = ""
    output: str = ""
    errors: str = ""
    returncode: int | None = None


@contextmanager
def running_command(*args: str) -> Iterator[CommandRun]:
    """`manage.py *args` in a child process, once it printed its first line; Ctrl-C after.

    On leaving, the run holds what the command printed after that line and its exit code.
    """
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=subprocess_env(PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = CommandRun()
    try:
        assert select.select([process.stdout], [], [], 15)[0], "the command printed nothing"
        run.first_line = process.stdout.readline()
        yield run
        process.send_signal(signal.SIGINT)
        run.output, run.errors = process.communicate(timeout=10)
        run.returncode = process.returncode
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(predicate: Callable[[], object], *, timeout: float = 30, what: str = "") -> object:
    """Poll until `predicate()` is truthy: for outcomes produced by other processes."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.1)
    return value


class Workers:
    """Real Celery worker processes on Redis and the test database."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.names: list[str] = []

    def start(self, name: str, *, pool: str = "solo", **env: str) -> subprocess.Popen[bytes]:
        """A worker named `name` (one process of `pool`), with `env` added to its
        environment."""
        db = connection.settings_dict
        env = subprocess_env(
            **{
                "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
                "CELERY_BROKER_URL": TEST_BROKER_URL,
                **env,
            }
        )
        log = self.log_dir / f"{name}.log"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                f"--pool={pool}",
                "--concurrency=1",
                f"--hostname={name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.processes[name] = process
        self.names.append(name)
        wait_for(
            lambda: "ready." in log.read_text(errors="replace"), timeout=90, what=f"worker {name}"
        )
        return process

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()


def send_through(mailbox_id: int, sandbox: object, **fields: object) -> None:
    """Point a mailbox at an SMTP sandbox, sending at any hour within generous caps."""
    from sequences.models import Mailbox

    Mailbox.objects.filter(pk=mailbox_id).update(
        **{
            "smtp_port": sandbox.port,
            "smtp_security": Mailbox.Security.NONE,
            "sending_days": "1234567",
            "window_start": dt.time(0),
            "window_end": dt.time(23, 59, 59),
            "per_minute_limit": 10_000,
            "daily_limit": 100_000,
            **fields,
        }
    )


def mailbox_copies(base: Mailbox, count: int) -> list[Mailbox]:
    """`base` and `count - 1` copies of it (same server, own logins)."""
    from sequences.models import Mailbox

    boxes = [base]
    for n in range(1, count):
        box = Mailbox.objects.get(pk=base.pk)
        box.pk, box.email, box.smtp_username = None, f"box{n}@example.test", f"box{n}@example.test"
        box.save()
        boxes.append(box)
    return boxes


def bulk_due(
    sequence: Sequence,
    addresses: Iterable[str],
    *,
    mailboxes: list[Mailbox] | None = None,
    first_name: str = "C",
) -> list[int]:
    """A due email of the sequence's first step to a new contact per address, in bulk,
    spread over `mailboxes` (the sequence's own by default)."""
    from django.utils import timezone

    from sequences.models import Contact, Enrollment, ScheduledEmail

    boxes = mailboxes or [sequence.mailbox]
    step = sequence.steps.get(position=1)
    now = timezone.now()
    contacts = Contact.objects.bulk_create(
        Contact(organization=sequence.organization, email=address, first_name=first_name)
        for address in addresses
    )
    enrollments = Enrollment.objects.bulk_create(
        Enrollment(sequence=sequence, contact=c, enrolled_at=now) for c in contacts
    )
    emails = ScheduledEmail.objects.bulk_create(
        ScheduledEmail(
            enrollment=e,
            step=step,
            sequence=sequence,
            contact=e.contact,
            mailbox=boxes[n % len(boxes)],
            scheduled_for=now,
            next_attempt_at=now,
        )
        for n, e in enumerate(enrollments)
    )
    return [e.pk for e in emails]


def consent(authorize_url: str, *, account: str, allow: bool = True) -> str:
    """Answer the OAuth sandbox's consent page as its user would: the callback URL it
    redirects to (with the code and state, or the error)."""
    import requests

    page = requests.get(authorize_url, timeout=10)
    assert page.status_code == 200, page.text
    answer = requests.post(
        authorize_url,
        data={"account": account, "consent": "allow" if allow else "deny"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]
