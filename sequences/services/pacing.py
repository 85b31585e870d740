"""When a mailbox may send: its sending window and its per-minute and per-day caps."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sequences.models import Mailbox

# Sends are counted a little beyond the minute, so that the time an SMTP server takes to
# accept a message cannot let two bursts fall into one sliding minute at the server.
MINUTE = dt.timedelta(seconds=65)
DAY = dt.timedelta(hours=24)


def next_sending_time(mailbox: Mailbox, after: dt.datetime) -> dt.datetime:
    """The earliest moment at or after `after` inside the mailbox's sending window."""
    zone = ZoneInfo(mailbox.time_zone)
    local = after.astimezone(zone)
    days = {int(day) for day in mailbox.sending_days}
    for offset in range(8):
        day = local.date() + dt.timedelta(days=offset)
        if day.isoweekday() not in days:
            continue
        start = dt.datetime.combine(day, mailbox.window_start, zone)
        end = dt.datetime.combine(day, mailbox.window_end, zone)
        if local < start:
            return start.astimezone(dt.UTC)
        if local < end:
            return after
    raise ValueError(f"Mailbox {mailbox.pk} has no sending day.")


@dataclass(frozen=True)
class Capacity:
    """How many emails a mailbox may start now, and when to look again if none."""

    available: int
    retry_at: dt.datetime | None


def mailbox_capacity(
    mailbox: Mailbox,
    *,
    now: dt.datetime,
    started_last_minute: int,
    started_last_day: int,
    in_flight: int,
) -> Capacity:
    """The mailbox's free sending slots now (the per-day cap is a rolling 24 hours, as Gmail's)."""
    if mailbox.paused_until and mailbox.paused_until > now:
        return Capacity(0, mailbox.paused_until)
    window_opens = next_sending_time(mailbox, now)
    if window_opens > now:
        return Capacity(0, window_opens)
    if started_last_day + in_flight >= mailbox.daily_limit:
        return Capacity(0, now + dt.timedelta(hours=1))
    available = min(
        mailbox.per_minute_limit - started_last_minute - in_flight,
        mailbox.daily_limit - started_last_day - in_flight,
    )
    if available <= 0:
        return Capacity(0, now + dt.timedelta(seconds=60 / mailbox.per_minute_limit))
    return Capacity(available, None)


def sending_slots(
    mailbox: Mailbox,
    *,
    after: dt.datetime,
    count: int,
    minutes: Counter[dt.datetime],
    days: Counter[dt.date],
) -> list[dt.datetime]:
    """`count` send times from `after` on, inside the mailbox's sending window, so that no
    minute holds more than its per_minute_limit and no day (the mailbox's) more than its
    daily_limit, counting what is planned already: `minutes` (UTC minutes) and `days`
    (local dates), which are updated. A minute's sends are spread evenly over it."""
    zone = ZoneInfo(mailbox.time_zone)
    gap = dt.timedelta(seconds=60 / mailbox.per_minute_limit)
    moment = next_sending_time(mailbox, after.astimezone(dt.UTC))
    slots: list[dt.datetime] = []
    while len(slots) < count:
        minute = moment.replace(second=0, microsecond=0)
        day = moment.astimezone(zone).date()
        if days[day] >= mailbox.daily_limit:
            tomorrow = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone)
            moment = next_sending_time(mailbox, tomorrow.astimezone(dt.UTC))
        elif minutes[minute] >= mailbox.per_minute_limit:
            moment = next_sending_time(mailbox, minute + dt.timedelta(minutes=1))
        else:
            slots.append(max(moment, minute + gap * minutes[minute]))
            minutes[minute] += 1
            days[day] += 1
    return slots
