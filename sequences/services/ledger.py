"""The writes every sent email makes, as plain SQL: an attempt started, an acceptance.

The send loop commits these once per email, around each SMTP conversation, so that a
worker killed at any moment leaves at most one email uncertain. Each is one statement in
autocommit (its own transaction), written with the cursor rather than the ORM: on this
path the ORM spends about five times the CPU building the same statement (measured in the
closing note of the sending issue; bench/bench_sending.py). Everything else, including
every failure, goes through the ORM.

The statements are plain SQL-92 with RETURNING, which PostgreSQL and SQLite (3.35+) both
run; table and column names come from the models.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from typing import NamedTuple

from django.db import InterfaceError, OperationalError, connection

from sequences.models import ScheduledEmail, SendAttempt

logger = logging.getLogger(__name__)
Status = ScheduledEmail.Status


class _Statements(NamedTuple):
    take: str
    start: str
    blanks: int
    sent: str
    attempt_sent: str


@functools.cache
def _statements() -> _Statements:
    email = connection.ops.quote_name(ScheduledEmail._meta.db_table)
    attempt = connection.ops.quote_name(SendAttempt._meta.db_table)
    given = {"id", "email_id", "mailbox_id", "number", "started_at", "outcome", "message_id"}
    # An attempt row as the model writes it: its other text fields empty, not NULL.
    fields = SendAttempt._meta.concrete_fields
    blank = [f.column for f in fields if f.column not in given and not f.null]
    return _Statements(
        # The attempt count as the run read it: a second run of the claim that read the
        # same count finds it changed and leaves the email alone.
        take=f"UPDATE {email} SET attempt_count = attempt_count + 1, updated_at = %s "
        "WHERE id = %s AND status = %s AND claimed_at = %s AND attempt_count = %s",
        start=f"INSERT INTO {attempt} (email_id, mailbox_id, number, started_at, outcome, "
        f"message_id{''.join(', ' + c for c in blank)}) "
        f"VALUES (%s, %s, %s, %s, %s, %s{', %s' * len(blank)}) RETURNING id",
        blanks=len(blank),
        # Sent even if a recovery gave up on it meanwhile: the server said it has it. The
        # claim stays until its follow-ups are released (sending.emails_settle).
        sent=f"UPDATE {email} SET status = %s, sent_at = %s, message_id = %s, subject = %s, "
        "next_attempt_at = NULL, status_reason = '', updated_at = %s WHERE id = %s",
        attempt_sent=f"UPDATE {attempt} SET outcome = %s, finished_at = %s WHERE id = %s",
    )


def stored_datetime(value: dt.datetime) -> object:
    """A datetime as the backend stores it (SQLite keeps text in Django's own format: a
    parameter left to the driver would never equal a stored claim)."""
    return connection.ops.adapt_datetimefield_value(value)


def attempt_start(
    email: ScheduledEmail, *, claimed_at: dt.datetime, message_id: str, now: dt.datetime
) -> int | None:
    """Start the email's next attempt if this claim still holds it; returns the attempt's id.

    The attempt is committed before anything is said to the server. `email.attempt_count`
    becomes the attempt's number.
    """
    sql, at = _statements(), stored_datetime(now)
    with connection.cursor() as cursor:
        claim = stored_datetime(claimed_at)
        cursor.execute(sql.take, [at, email.pk, Status.SENDING, claim, email.attempt_count])
        if cursor.rowcount != 1:
            return None
        email.attempt_count += 1
        cursor.execute(
            sql.start,
            [
                email.pk,
                email.mailbox_id,
                email.attempt_count,
                at,
                SendAttempt.Outcome.STARTED,
                message_id,
                *[""] * sql.blanks,
            ],
        )
        return cursor.fetchone()[0]


def email_sent(
    email: ScheduledEmail, *, attempt_id: int, message_id: str, subject: str, now: dt.datetime
) -> None:
    """The server accepted the email: it is sent, then its attempt is.

    In that order, each committed at once: a crash between leaves a sent email whose attempt
    still says started, which the stale-claim recovery finishes; never an email that could
    be sent again.
    """
    sql, at = _statements(), stored_datetime(now)
    with connection.cursor() as cursor:
        cursor.execute(sql.sent, [Status.SENT, at, message_id, subject, at, email.pk])
        cursor.execute(sql.attempt_sent, [SendAttempt.Outcome.SENT, at, attempt_id])


def retrying(write: Callable[[], None], *, for_seconds: float) -> None:
    """Run `write` until it goes through, for up to `for_seconds` while the database is
    unreachable (reconnecting between tries), then let the last error through.

    Only in autocommit: inside a transaction a lost connection has lost the transaction.
    """
    give_up = time.monotonic() + for_seconds
    pause = 0.5
    while True:
        try:
            write()
            return
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or time.monotonic() + pause > give_up:
                raise
            logger.warning("database unreachable; recording again in %.1f s", pause)
            connection.close()
            time.sleep(pause)
            pause = min(pause * 2, 5)
