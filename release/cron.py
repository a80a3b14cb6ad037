"""Cron schedules as cron means them, computed here rather than by APScheduler 3's CronTrigger.

Every schedule in release (backups, verifies, and jobs to come) goes through here, for three reasons:

* the syntax: Sunday is 0 (and 7), month and weekday names take ranges and steps like numbers
  (`Jan-Aug/2`), and `@daily`, `@weekly`, `@monthly`, `@yearly`/`@annually`, `@hourly` work;
* the day rule: when both day-of-month and day-of-week are restricted (neither starts with `*`),
  cron fires when *either* matches (`0 2 31 2 0` fires on February's Sundays), else when both do;
* daylight saving, as cron (Vixie cron, cronie) runs jobs: a job due in the hour that the spring
  change skips runs once, at the first minute after the gap; in the hour the autumn change repeats,
  a job at a fixed time runs once (the first time), and a job whose minute or hour field starts
  with `*` (cron's "wildcard" jobs) runs in every real hour. APScheduler 3's trigger instead skips
  `0 0 * * *` the day after the spring change in Europe/Berlin and runs fixed times twice in autumn.

A step on a single value (`MAR/2`, `5/15`) means "from there to the end of the field" (`MAR-DEC/2`),
as croniter and APScheduler read it (cronie refuses it, old Debian cron drops the step: write
`MAR-DEC/2` where a crontab must agree). A schedule that can never fire (`0 2 30 2 *`) is refused.

Example::

    schedule = cron_schedule("0 2 * * 1-5", ZoneInfo("Asia/Shanghai"))
    schedule.next_fire(now)     # the first fire time strictly after now
    schedule.last_fire(now)     # the latest one at or before now
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
LONGEST_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February 29 exists, every 4 years or so
# The Gregorian calendar repeats its weekdays every 400 years: a schedule that can fire fires within that.
HORIZON = timedelta(days=400 * 366)
GAP_LIMIT = 24 * 60  # minutes: no daylight-saving gap is longer than a day


@dataclass(frozen=True)
class Field:
    """One of cron's five fields: its name, its bounds, and the names it takes (index + low = value)."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()


FIELDS = (
    Field("minute", 0, 59),
    Field("hour", 0, 23),
    Field("day of month", 1, 31),
    Field("month", 1, 12, MONTHS),
    Field("day of week", 0, 7, WEEKDAYS),
)


def _value(token: str, field: Field) -> int:
    """A number or (for month and weekday) a three-letter name, within the field's bounds."""
    lowered = token.lower()
    if lowered in field.names:
        return field.names.index(lowered) + (1 if field is FIELDS[3] else 0)
    if not token.isdigit() or not field.low <= int(token) <= field.high:
        names = f" or {field.names[0]}-{field.names[-1]}" if field.names else ""
        raise ValueError(f"{token!r} is not a {field.name} ({field.low}-{field.high}{names})")
    return int(token)


def _item(item: str, field: Field) -> range:
    """`*`, `N`, `A-B`, each with an optional `/STEP`; `N/STEP` runs from N to the field's end."""
    span, slash, step_text = item.partition("/")
    if slash and not (step_text.isdigit() and int(step_text) > 0):
        raise ValueError(f"{item!r}: the step after '/' must be a number from 1")
    step = int(step_text) if slash else 1
    if span == "*":
        return range(field.low, field.high + 1, step)
    first, dash, last = span.partition("-")
    low = _value(first, field)
    high = _value(last, field) if dash else (field.high if slash else low)
    if low > high:
        raise ValueError(f"{item!r} runs backwards (write it as two parts, e.g. 'fri,sat' or '22-23,0-2')")
    return range(low, high + 1, step)


def _field(text: str, field: Field) -> frozenset[int]:
    """The values a field allows (weekday 7 is Sunday, 0)."""
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ValueError(f"{text!r}: an empty item in the {field.name} field")
        values.update(_item(item, field))
    return frozenset(v % 7 for v in values) if field is FIELDS[4] else frozenset(values)


@dataclass(frozen=True)
class CronSpec:
    """A parsed schedule, without a timezone."""

    expr: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 is Sunday
    day_or: bool  # both day fields restricted: either may match (cron's rule)
    per_real_hour: bool  # minute or hour starts with "*": cron's wildcard job, run in every real hour

    def matches(self, day: date) -> bool:
        """Whether the schedule fires on this (local) date."""
        if day.month not in self.months:
            return False
        by_day, by_weekday = day.day in self.days, (day.weekday() + 1) % 7 in self.weekdays
        return (by_day or by_weekday) if self.day_or else (by_day and by_weekday)

    def times(self) -> list[time]:
        """The wall-clock times of a day it fires, in order."""
        return [time(h, m) for h in sorted(self.hours) for m in sorted(self.minutes)]


def parse_cron(expr: str) -> CronSpec:
    """Parse five fields or an @alias; ValueError (a message for the operator) for anything cron refuses,
    and for a schedule that never fires."""
    text = expr.strip()
    if text.lower() == "@reboot":
        raise ValueError("@reboot means 'when cron starts', which no schedule here can mean: use e.g. @daily")
    if text.startswith("@"):
        if text.lower() not in ALIASES:
            raise ValueError(f"unknown {text!r} (known: {', '.join(ALIASES)})")
        text = ALIASES[text.lower()]
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"{len(fields)} fields instead of 5 (minute hour day month weekday)")
    minutes, hours, days, months, weekdays = (_field(f, spec) for f, spec in zip(fields, FIELDS, strict=True))
    restricted_days, restricted_weekdays = not fields[2].startswith("*"), not fields[4].startswith("*")
    spec = CronSpec(
        expr,
        minutes,
        hours,
        days,
        months,
        weekdays,
        day_or=restricted_days and restricted_weekdays,
        per_real_hour=fields[0].startswith("*") or fields[1].startswith("*"),
    )
    _check_fires(spec)
    return spec


def _check_fires(spec: CronSpec) -> None:
    """Refuse a schedule with no date at all: only the day-of-month AND weekday rule can have none, and
    then only when no chosen month has a chosen day (every date falls on every weekday within 400 years)."""
    if spec.day_or or any(d <= LONGEST_MONTH[m - 1] for m in spec.months for d in spec.days):
        return
    months = ", ".join(MONTHS[m - 1].capitalize() for m in sorted(spec.months))
    days = ", ".join(map(str, sorted(spec.days)))
    raise ValueError(f"it never fires: there is no day {days} in {months}")


def _month_edge(day: date, direction: int) -> date:
    """The first day of the next month (direction 1) or the last day of the previous one (-1)."""
    first = day.replace(day=1)
    if direction < 0:
        return first - timedelta(days=1)
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()}: a naive time, expected an aware one")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class CronSchedule:
    """A schedule in a timezone: its fire times as real instants (see the module docstring on DST)."""

    spec: CronSpec
    zone: tzinfo

    def next_fire(self, after: datetime) -> datetime | None:
        """The first fire time strictly after `after` (in the schedule's zone); None past year 9999."""
        start = _utc(after)
        for day in self._days(start.astimezone(self.zone).date(), 1):
            later = [fire for fire in self._fires(day) if fire > start]
            if later:
                return later[0].astimezone(self.zone)
        return None

    def last_fire(self, at: datetime) -> datetime | None:
        """The latest fire time at or before `at` (in the schedule's zone); None before year 1."""
        end = _utc(at)
        for day in self._days(end.astimezone(self.zone).date(), -1):
            earlier = [fire for fire in self._fires(day) if fire <= end]
            if earlier:
                return earlier[-1].astimezone(self.zone)
        return None

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """APScheduler's trigger protocol: after the previous fire time, or from `now` (inclusive)."""
        if previous_fire_time is not None:
            return self.next_fire(previous_fire_time)
        return self.next_fire(now - timedelta(microseconds=1))

    def _days(self, start: date, direction: int) -> Iterator[date]:
        """The dates the schedule fires on, from `start` on in `direction`, within the 400-year horizon."""
        day = start
        try:
            while abs(day - start) <= HORIZON:
                if day.month not in self.spec.months:  # skip the month: "0 0 29 2 *" scans Februaries only
                    day = _month_edge(day, direction)
                    continue
                if self.spec.matches(day):
                    yield day
                day += timedelta(days=direction)
        except (OverflowError, ValueError):  # past date.max or date.min
            return

    def _fires(self, day: date) -> list[datetime]:
        """The instants (UTC, ascending) the schedule fires on a local date."""
        zone = self.zone
        try:
            midnight, next_midnight = (datetime.combine(d, time(), zone) for d in (day, day + timedelta(days=1)))
        except OverflowError:
            return []
        if midnight.utcoffset() == next_midnight.utcoffset():  # no clock change today: plain wall times
            return [datetime.combine(day, t, zone).astimezone(UTC) for t in self.spec.times()]
        fires = {fire for t in self.spec.times() for fire in self._resolve(datetime.combine(day, t))}
        return sorted(fires)

    def _resolve(self, wall: datetime) -> list[datetime]:
        """The instants (UTC) a wall-clock fire time of a clock-change day stands for, as cron runs it."""
        early, late = wall.replace(tzinfo=self.zone, fold=0), wall.replace(tzinfo=self.zone, fold=1)
        if not self._exists(early):  # skipped by the spring change
            return [] if self.spec.per_real_hour else [self._after_gap(wall)]
        if early.utcoffset() != late.utcoffset():  # repeated by the autumn change
            return [early.astimezone(UTC), late.astimezone(UTC)] if self.spec.per_real_hour else [early.astimezone(UTC)]
        return [early.astimezone(UTC)]

    def _exists(self, moment: datetime) -> bool:
        return moment.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) == moment.replace(tzinfo=None)

    def _after_gap(self, wall: datetime) -> datetime:
        """The first whole minute after a gap in the wall clock, when cron runs what the gap skipped."""
        for minutes in range(1, GAP_LIMIT + 1):
            moment = (wall + timedelta(minutes=minutes)).replace(tzinfo=self.zone)
            if self._exists(moment):
                return moment.astimezone(UTC)
        raise ValueError(f"{wall.isoformat()}: no wall-clock time within a day after it in {self.zone}")

    def __str__(self) -> str:
        return f"cron[{self.spec.expr!r}, {self.zone}]"


def cron_schedule(expr: str, zone: tzinfo) -> CronSchedule:
    """Parse `expr` (ValueError if cron would refuse it, or it never fires) as a schedule in `zone`."""
    return CronSchedule(parse_cron(expr), zone)


def cron_trigger(expr: str, zone: tzinfo) -> CronSchedule:
    """The schedule, by its older name (the inventory validates with it); see cron_schedule."""
    return cron_schedule(expr, zone)


def last_due(cron: str, zone: tzinfo, now: datetime) -> datetime | None:
    """The schedule's latest fire time at or before `now` (None: it never fired in 400 years)."""
    return cron_schedule(cron, zone).last_fire(now)
