"""Sign-in attempt counters (sequences.auth): one atomic statement an attempt."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection
from django.utils import timezone

from sequences.models import SignInCounter
from sequences.services.ledger import stored_datetime

_COUNT = f"""
    INSERT INTO {SignInCounter._meta.db_table} AS counter (key, attempts, window_started_at)
    VALUES (%s, 1, %s)
    ON CONFLICT (key) DO UPDATE SET
        attempts = CASE WHEN counter.window_started_at < %s THEN 1
                        ELSE counter.attempts + 1 END,
        window_started_at = CASE WHEN counter.window_started_at < %s THEN %s
                                 ELSE counter.window_started_at END
    RETURNING attempts
"""


def sign_in_attempt(key: str, *, now: dt.datetime | None = None) -> int:
    """Count one attempt under `key`; returns the attempts in the window, this one included."""
    now = now or timezone.now()
    started = stored_datetime(now)
    expired = stored_datetime(now - dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW))
    with connection.cursor() as cursor:
        cursor.execute(_COUNT, [key, started, expired, expired, started])
        return cursor.fetchone()[0]


def sign_in_counters_purge(*, now: dt.datetime | None = None) -> int:
    """Forget the counters whose window has passed; returns how many."""
    now = now or timezone.now()
    since = now - dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW)
    deleted, _ = SignInCounter.objects.filter(window_started_at__lt=since).delete()
    return deleted


def sign_in_forget(key: str) -> None:
    """A successful sign-in: its account and address start afresh."""
    SignInCounter.objects.filter(key=key).delete()
