"""The writes every sent email makes, as plain SQL: an attempt started, an acceptance.

The send loop commits these around each SMTP conversation, so that a worker killed at any
moment leaves at most one email uncertain: an email's attempt is committed before its
conversation starts, and its acceptance before anything else is said to the server. Both
go in one transaction when they meet: the acceptance of one email with the start of the
next. Written with the cursor rather than the ORM: on this path the ORM spends about five
times the CPU building the same statements (measured in the closing note of the sending
issue; bench/bench_sending.py). Everything else, including every failure, goes through
the ORM.

On PostgreSQL each transaction is one statement (its writes as data-modifying `WITH`
queries), so one round trip and one commit per email; on SQLite, which has no such
queries, the same statements run one by one in a transaction. Table and column names
come from the models; the statuses are the models' constants, written in as literals.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Callable
from typing import NamedTuple

from django.db import InterfaceError, OperationalError, connection, transaction

from sequences.models import ScheduledEmail, SendAttempt

logger = logging.getLogger(__name__)
Status = ScheduledEmail.Status
Outcome = SendAttempt.Outcome


class Acceptance(NamedTuple):
    """An email the server accepted, to record as sent."""

    email_id: int
    attempt_id: int
    message_id: str
    subject: str


class _Statements(NamedTuple):
    sent: str
    attempt_sent: str
    take: str
    start: str
    start_taken: str


@functools.cache
def _statements() -> _Statements:
    email = connection.ops.quote_name(ScheduledEmail._meta.db_table)
    attempt = connection.ops.quote_name(SendAttempt._meta.db_table)
    given = {"id", "email_id", "mailbox_id", "number", "started_at", "outcome", "message_id"}
    # An attempt row as the model writes it: its other text fields empty, not NULL.
    fields = SendAttempt._meta.concrete_fields
    blanks = "".join(", ''" for f in fields if f.column not in given and not f.null)
    columns = "email_id, mailbox_id, number, started_at, outcome, message_id" + "".join(
        f", {f.column}" for f in fields if f.column not in given and not f.null
    )
    return _Statements(
        # Sent even if a recovery gave up on it meanwhile: the server said it has it. The
        # claim stays until its follow-ups are released (sending.emails_settle).
        sent=f"UPDATE {email} SET status = '{Status.SENT}', sent_at = %s, message_id = %s, "
        "subject = %s, next_attempt_at = NULL, status_reason = '', updated_at = %s "
        "WHERE id = %s",
        attempt_sent=f"UPDATE {attempt} SET outcome = '{Outcome.SENT}', finished_at = %s "
        "WHERE id = %s",
        # The attempt count as the run read it: a second run of the claim that read the
        # same count finds it changed (waiting for this transaction's row lock first) and
        # leaves the email alone.
        take=f"UPDATE {email} SET attempt_count = attempt_count + 1, updated_at = %s "
        f"WHERE id = %s AND status = '{Status.SENDING}' AND claimed_at = %s "
        "AND attempt_count = %s RETURNING id, mailbox_id, attempt_count",
        start=f"INSERT INTO {attempt} ({columns}) "
        f"VALUES (%s, %s, %s, %s, '{Outcome.STARTED}', %s{blanks}) RETURNING id",
        # PostgreSQL: the attempt of the email `taken` (a WITH query) returned, if any.
        start_taken=f"INSERT INTO {attempt} ({columns}) SELECT id, mailbox_id, "
        f"attempt_count, %s, '{Outcome.STARTED}', %s{blanks} FROM taken RETURNING id",
    )


def stored_datetime(value: dt.datetime) -> object:
    """A datetime as the backend stores it (SQLite keeps text in Django's own format: a
    parameter left to the driver would never equal a stored claim)."""
    return connection.ops.adapt_datetimefield_value(value)


class _Write(NamedTuple):
    name: str  # its name as a WITH query
    sql: str
    params: list[object]


def _acceptance(accepted: Acceptance, at: object) -> list[_Write]:
    """The email sent, then its attempt."""
    sql = _statements()
    return [
        _Write(
            "sent", sql.sent, [at, accepted.message_id, accepted.subject, at, accepted.email_id]
        ),
        _Write("attempt_sent", sql.attempt_sent, [at, accepted.attempt_id]),
    ]


def _as_one_statement(before: list[_Write], last: _Write) -> tuple[str, list[object]]:
    """PostgreSQL: `before` as data-modifying WITH queries of `last` (all of them run)."""
    withs = ", ".join(f"{write.name} AS ({write.sql})" for write in before)
    return f"WITH {withs} {last.sql}", [p for write in (*before, last) for p in write.params]


def attempt_start(
    email: ScheduledEmail,
    *,
    claimed_at: dt.datetime,
    message_id: str,
    now: dt.datetime,
    accepted: Acceptance | None = None,
) -> int | None:
    """Start the email's next attempt if this claim still holds it; returns the attempt's id.

    The attempt is committed before anything is said to the server, in one transaction
    with the acceptance of the email sent before it (`accepted`), which is recorded
    whether or not this one starts. `email.attempt_count` becomes the attempt's number.
    """
    sql, at = _statements(), stored_datetime(now)
    before = _acceptance(accepted, at) if accepted else []
    take = _Write(
        "taken", sql.take, [at, email.pk, stored_datetime(claimed_at), email.attempt_count]
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                *_as_one_statement([*before, take], _Write("", sql.start_taken, [at, message_id]))
            )
            row = cursor.fetchone()
    else:
        with transaction.atomic(), connection.cursor() as cursor:
            for write in (*before, take):
                cursor.execute(write.sql, write.params)
            row = taken = cursor.fetchone()
            if taken is not None:
                cursor.execute(sql.start, [*taken, at, message_id])
                row = cursor.fetchone()
    if row is None:
        return None
    email.attempt_count += 1
    return row[0]


def email_sent(accepted: Acceptance, *, now: dt.datetime) -> None:
    """Record an acceptance no start follows (the batch's last): the email sent, then its
    attempt, in one transaction."""
    sent, attempt_sent = _acceptance(accepted, stored_datetime(now))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(*_as_one_statement([attempt_sent], sent))
    else:
        with transaction.atomic(), connection.cursor() as cursor:
            for write in (sent, attempt_sent):
                cursor.execute(write.sql, write.params)


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
