"""What the sending benchmarks share: the production-like environment, the processes they
start, and the population of due emails. No side effects on import (the benchmarks set
their databases up first); the models are imported once Django is set up."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password"
# Production-like: DEBUG off (it keeps every query in memory), with the secrets it then
# requires (throwaway ones).
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings",
    "DEBUG": "false",
    "SECRET_KEY": "bench-" + "x" * 50,
    "ALLOWED_HOSTS": "localhost",
    "MAILBOX_SECRET_KEYS": "YmVuY2gtbWFpbGJveC1rZXktMzItYnl0ZXMtbG9uZyE=",
    "CONTACT_ALLOW_TEST_DOMAINS": "true",
    # Nothing may call out: the mailboxes' domain checks ask a port where no one answers.
    "DNS_NAMESERVERS": "127.0.0.1:9",
    "DNS_TIMEOUT": "0.2",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(
    args: list[str],
    log: Path,
    *,
    ready: str,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """A Python process of the project, once its log says `ready`."""
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        preexec_fn=preexec_fn,
    )
    deadline = time.monotonic() + 60
    while ready not in log.read_text(errors="replace"):
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"{args} did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return process


def sandbox_args(port: int, store: Path) -> list[str]:
    """The SMTP sandbox, storing what it accepts in `store`, with no rate of its own."""
    return [
        *("manage.py", "smtp_sandbox", "--port", str(port), "--store", str(store)),
        *("--rate", "1000000"),
    ]


# The sandboxes are development tools, installed with DEBUG only.
SANDBOX_ENV = {"DEBUG": "true"}


def worker_args(n: int) -> list[str]:
    """Celery worker number `n`, one process (the solo pool)."""
    return [
        *("-m", "celery", "-A", "config", "worker", "--pool=solo", f"--hostname=w{n}@%h"),
        *("--without-gossip", "--without-mingle", "--loglevel=INFO"),
    ]


def reset() -> None:
    from django.db import connection

    from sequences.models import (
        Contact,
        Enrollment,
        Mailbox,
        Organization,
        ScheduledEmail,
        Sequence,
        Step,
    )

    tables = ", ".join(
        model._meta.db_table
        for model in (Organization, Contact, Mailbox, ScheduledEmail, Sequence, Step, Enrollment)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables}, auth_user RESTART IDENTITY CASCADE")


def populate(
    *,
    emails: int,
    mailboxes: int,
    port: int,
    history: int = 0,
    sign_in: bool = True,
    per_minute: int = 600,
) -> None:
    """`emails` due now over `mailboxes`, plus `history` already sent, in bulk.

    Without `sign_in` the mailboxes send no AUTH (smtp-sink accepts none); each sends at
    most `per_minute`."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from sequences.models import (
        Contact,
        Enrollment,
        Mailbox,
        Membership,
        Organization,
        ScheduledEmail,
        Sequence,
        Step,
    )

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
        per_minute_limit=per_minute,
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
    for first in range(0, total, 20_000):
        chunk = range(first, min(total, first + 20_000))
        contacts = Contact.objects.bulk_create(
            Contact(organization=organization, email=f"c{n}@example.test", first_name=f"C{n}")
            for n in chunk
        )
        enrollments = Enrollment.objects.bulk_create(
            Enrollment(sequence=sequences[n % mailboxes], contact=c, enrolled_at=now)
            for n, c in zip(chunk, contacts, strict=True)
        )
        emails_ = []
        for n, enrollment in zip(chunk, enrollments, strict=True):
            email = ScheduledEmail(
                enrollment=enrollment,
                step=steps[n % mailboxes],
                sequence_id=steps[n % mailboxes].sequence_id,
                contact_id=enrollment.contact_id,
                mailbox=boxes[n % mailboxes],
                scheduled_for=now,
                next_attempt_at=now,
            )
            if n < history:
                email.status, email.next_attempt_at = ScheduledEmail.Status.SENT, None
                email.sent_at, email.message_id = now, f"<history.{n}@bench.test>"
            emails_.append(email)
        ScheduledEmail.objects.bulk_create(emails_)
