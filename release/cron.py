"""Cron schedules as cron means them, on top of APScheduler 3's CronTrigger.

APScheduler 3 numbers weekdays from Monday 0 and requires day *and* weekday to match; cron numbers
Sunday 0 (and 7) and fires when either matches. Every schedule in release goes through here.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

SEARCH_LIMIT = timedelta(days=9 * 366)  # "0 0 29 2 *" can go 8 years without firing (2096 -> 2104)
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _weekdays(field: str) -> str:
    """Cron's day-of-week field as APScheduler 3 weekday names.

    APScheduler 3 numbers Monday 0 (its issue 286), cron numbers Sunday 0 (and 7): passed through,
    "0 2 * * 1-5" would back up Tuesday to Saturday. Names mean the same to both.
    """
    if field == "*":
        return field

    def day(text: str) -> int:
        if text in WEEKDAYS:
            return WEEKDAYS.index(text)
        if not text.isdigit() or int(text) > 7:
            raise ValueError(f"{text!r} is not a weekday (0-7 or sun-sat)")
        return int(text)

    days: set[int] = set()
    for item in field.lower().split(","):
        span, _, step = item.partition("/")
        first, _, last = span.partition("-")
        low, high = (0, 6) if span == "*" else (day(first), day(last) if last else (6 if step else day(first)))
        if low > high or (step and not step.isdigit()) or step == "0":
            raise ValueError(f"{item!r} is not a weekday range")
        days.update(d % 7 for d in range(low, high + 1, int(step or 1)))
    return ",".join(WEEKDAYS[d] for d in sorted(days))


def cron_trigger(expr: str, zone: tzinfo) -> CronTrigger | OrTrigger:
    """A trigger that fires like cron would: Sunday is 0, and a restricted day *or* weekday matches.

    (APScheduler's `from_crontab` requires both day and weekday to match; cron requires either.)
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"{len(fields)} fields instead of 5 (minute hour day month weekday)")
    minute, hour, day, month, weekday = fields
    days = _weekdays(weekday)

    def trigger(day_field: str, weekday_field: str) -> CronTrigger:
        return CronTrigger(
            minute=minute, hour=hour, day=day_field, month=month, day_of_week=weekday_field, timezone=zone
        )

    if day.startswith("*") or weekday.startswith("*"):
        return trigger(day, days)
    return OrTrigger([trigger(day, "*"), trigger("*", days)])


def last_due(cron: str, zone: tzinfo, now: datetime) -> datetime | None:
    """The schedule's latest fire time at or before `now` (None if it never fired in SEARCH_LIMIT).

    Triggers only look forward, so look forward from ever earlier starts until a fire time at or
    before `now` turns up, then walk forward to the last one.
    """
    trigger = cron_trigger(cron, zone)
    earliest = trigger.get_next_fire_time(None, now - SEARCH_LIMIT)
    if earliest is None or earliest > now:
        return None  # one scan: a schedule that never fires is not scanned to year 9999 once per window
    window = timedelta(minutes=2)
    while True:
        fire = trigger.get_next_fire_time(None, now - window)
        if fire is not None and fire <= now:
            while (following := trigger.get_next_fire_time(fire, fire)) is not None and following <= now:
                fire = following
            return fire
        if window >= SEARCH_LIMIT:
            return None
        window = min(window * 4, SEARCH_LIMIT)
