"""Benchmark reading mailboxes over IMAP (sequences.services.inbox) against a real Dovecot.

    .venv/bin/python bench/bench_inbox.py [--messages 5000] [--mailboxes 1000]

Needs PostgreSQL on loopback and Debian's dovecot-imapd (`make peers`). Uses its own
database (`sequences_bench_inbox`, dropped and created) and a private Dovecot
(tests/dovecot.py). Measures, in this process:

- one mailbox with `--messages` new messages of every kind (bounces, delay notices,
  replies, out-of-office replies, complaints, other mail), each about one of its sent
  emails: messages read and applied per second;
- an idle read of `--mailboxes` mailboxes (nothing new: a sign-in and one STATUS per
  folder each, no message fetched): the time per mailbox.

Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "sequences_bench_inbox"
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")  # the development setup, as manage.py runs it
os.environ.setdefault("LOG_LEVEL", "WARNING")
sys.path.insert(0, str(ROOT))

import django  # noqa: E402
import psycopg  # noqa: E402

with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as pg:
    pg.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')
    pg.execute(f'CREATE DATABASE "{BENCH_DB}"')
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from sandboxes import mail_answers  # noqa: E402
from sequences.models import (  # noqa: E402
    Contact,
    Enrollment,
    Mailbox,
    Membership,
    Organization,
    ScheduledEmail,
    SendAttempt,
    Sequence,
    Step,
)
from sequences.services.inbox import mailbox_read_inbox  # noqa: E402
from tests.dovecot import Dovecot  # noqa: E402

PASSWORD = "bench-password"


def _mailbox(organization, owner, dovecot: Dovecot, n: int) -> Mailbox:
    login = f"rep{n}@bench.test"
    dovecot.add_user(login, PASSWORD)
    dovecot.make_folder(login, "Junk")  # the spam folder exists, empty
    mailbox = Mailbox(
        organization=organization,
        owner=owner,
        email=login,
        smtp_host="127.0.0.1",
        smtp_username=login,
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        imap_security=Mailbox.Security.NONE,
    )
    mailbox.password = PASSWORD
    mailbox.save()
    return mailbox


def _sent_emails(sequence: Sequence, count: int) -> list[ScheduledEmail]:
    now = timezone.now() - dt.timedelta(hours=1)
    step = sequence.steps.get()
    contacts = Contact.objects.bulk_create(
        Contact(organization=sequence.organization, email=f"lead{n}@example.test")
        for n in range(count)
    )
    enrollments = Enrollment.objects.bulk_create(
        Enrollment(sequence=sequence, contact=contact, enrolled_at=now) for contact in contacts
    )
    emails = ScheduledEmail.objects.bulk_create(
        ScheduledEmail(
            enrollment=enrollment,
            step=step,
            sequence=sequence,
            contact=enrollment.contact,
            mailbox=sequence.mailbox,
            status=ScheduledEmail.Status.SENT,
            scheduled_for=now,
            sent_at=now,
            message_id=f"<bench.{n}@bench.test>",
            attempt_count=1,
        )
        for n, enrollment in enumerate(enrollments)
    )
    SendAttempt.objects.bulk_create(
        SendAttempt(
            email=email,
            mailbox=sequence.mailbox,
            number=1,
            started_at=now,
            finished_at=now,
            outcome=SendAttempt.Outcome.SENT,
            message_id=email.message_id,
        )
        for email in emails
    )
    return emails


def _message(n: int, email: ScheduledEmail, rep: str) -> bytes:
    """Every kind, about `email`, in the proportions of a busy outbound mailbox."""
    to = email.contact.email
    kind = n % 10
    if kind < 3:
        return mail_answers.postfix_report(sender=rep, to=to, message_id=email.message_id)
    if kind == 3:
        return mail_answers.postfix_report(
            sender=rep,
            to=to,
            message_id=email.message_id,
            action="delayed",
            status="4.4.1",
            diagnostic="X-Postfix; connect to mx.example.test[192.0.2.10]:25: Connection refused",
        )
    if kind < 6:
        return mail_answers.reply(sender=to, to=rep, in_reply_to=email.message_id)
    if kind == 6:
        back = dt.date.today() + dt.timedelta(days=5)
        return mail_answers.out_of_office(
            sender=to, to=rep, in_reply_to=email.message_id, back=back
        )
    if kind == 7:
        return mail_answers.complaint(complainer=to, sender=rep, message_id=email.message_id)
    return (
        f"From: colleague@bench.test\r\nTo: {rep}\r\nSubject: lunch {n}?\r\n"
        f"Message-ID: <other.{n}@bench.test>\r\n\r\nAt noon.\r\n"
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--mailboxes", type=int, default=1000)
    options = parser.parse_args()
    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user("bench", password="x")
    organization = Organization.objects.create(name="Bench", slug="bench")
    Membership.objects.create(user=owner, organization=organization, role="admin")
    with Dovecot() as dovecot:
        busy = _mailbox(organization, owner, dovecot, 0)
        sequence = Sequence.objects.create(
            organization=organization, owner=owner, mailbox=busy, name="Bench"
        )
        Step.objects.create(sequence=sequence, position=1, subject="Hi", body="Hello")
        emails = _sent_emails(sequence, options.messages)
        for n, email in enumerate(emails):
            dovecot.deliver(busy.imap_login, _message(n, email, busy.email))
        # Statistics, as a database in service has them: without, the planner takes the
        # bulk-filled tables for empty ones (a guard's count then scans them per message).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        started = time.perf_counter()
        result = mailbox_read_inbox(mailbox_id=busy.pk)
        took = time.perf_counter() - started
        print(
            f"one mailbox, {result.read} new messages: {took:.1f} s, "
            f"{result.read / took:.0f} messages read and applied a second "
            f"({dict(result.applied)})"
        )

        boxes = [busy] + [
            _mailbox(organization, owner, dovecot, n) for n in range(1, options.mailboxes)
        ]
        SendAttempt.objects.bulk_create(
            SendAttempt(
                email=emails[0],
                mailbox=box,
                number=n + 2,
                started_at=timezone.now(),
                outcome=SendAttempt.Outcome.SENT,
            )
            for n, box in enumerate(boxes[1:])
        )
        for box in boxes[1:]:  # a first read records where each folder is
            mailbox_read_inbox(mailbox_id=box.pk)
        started = time.perf_counter()
        for box in boxes:
            mailbox_read_inbox(mailbox_id=box.pk)
        took = time.perf_counter() - started
        print(
            f"idle read of {len(boxes)} mailboxes (2 folders each, nothing new): "
            f"{took:.1f} s, {took / len(boxes) * 1000:.1f} ms a mailbox"
        )


if __name__ == "__main__":
    main()
