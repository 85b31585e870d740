from __future__ import annotations

import datetime as dt

import pytest

from sequences.models import Mailbox
from sequences.services.pacing import mailbox_capacity, next_sending_time

PARIS = dt.timezone(dt.timedelta(hours=1))  # Paris in November


def _mailbox(**fields: object) -> Mailbox:
    defaults = {
        "time_zone": "Europe/Paris",
        "sending_days": "12345",
        "window_start": dt.time(9),
        "window_end": dt.time(17),
        "per_minute_limit": 30,
        "daily_limit": 1000,
    }
    return Mailbox(**{**defaults, **fields})


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # Monday 10:00 Paris: inside the window, now.
        (dt.datetime(2026, 11, 23, 10, 0, tzinfo=PARIS), dt.datetime(2026, 11, 23, 10, 0)),
        # Monday 07:00: the window opens at 09:00.
        (dt.datetime(2026, 11, 23, 7, 0, tzinfo=PARIS), dt.datetime(2026, 11, 23, 9, 0)),
        # Monday 17:00 (the end is exclusive): Tuesday 09:00.
        (dt.datetime(2026, 11, 23, 17, 0, tzinfo=PARIS), dt.datetime(2026, 11, 24, 9, 0)),
        # Friday evening: Monday 09:00.
        (dt.datetime(2026, 11, 27, 19, 0, tzinfo=PARIS), dt.datetime(2026, 11, 30, 9, 0)),
    ],
)
def test_it_finds_the_next_moment_inside_the_sending_window(after, expected):
    assert next_sending_time(_mailbox(), after) == expected.replace(tzinfo=PARIS)


def test_it_follows_the_mailbox_time_zone():
    mailbox = _mailbox(time_zone="America/New_York")
    # 14:00 UTC is 09:00 in New York in November.
    after = dt.datetime(2026, 11, 23, 13, 0, tzinfo=dt.UTC)

    assert next_sending_time(mailbox, after) == dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)


NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=PARIS)


def test_it_allows_what_is_left_of_the_minute():
    capacity = mailbox_capacity(
        _mailbox(), now=NOW, started_last_minute=20, started_last_day=100, in_flight=4
    )

    assert capacity.available == 6


def test_it_waits_when_the_minute_is_used_up():
    capacity = mailbox_capacity(
        _mailbox(), now=NOW, started_last_minute=30, started_last_day=100, in_flight=0
    )

    assert capacity.available == 0
    assert NOW < capacity.retry_at <= NOW + dt.timedelta(seconds=5)


def test_it_stops_at_the_daily_limit():
    capacity = mailbox_capacity(
        _mailbox(), now=NOW, started_last_minute=0, started_last_day=1000, in_flight=0
    )

    assert capacity.available == 0


def test_it_waits_for_a_paused_mailbox():
    until = NOW + dt.timedelta(minutes=10)
    capacity = mailbox_capacity(
        _mailbox(paused_until=until),
        now=NOW,
        started_last_minute=0,
        started_last_day=0,
        in_flight=0,
    )

    assert (capacity.available, capacity.retry_at) == (0, until)


def test_it_waits_for_the_window_to_open():
    capacity = mailbox_capacity(
        _mailbox(),
        now=NOW.replace(hour=20),
        started_last_minute=0,
        started_last_day=0,
        in_flight=0,
    )

    assert capacity.retry_at == dt.datetime(2026, 11, 24, 9, 0, tzinfo=PARIS)
