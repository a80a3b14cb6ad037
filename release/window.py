"""Release window: may a deploy run at a given instant?

Government customers only accept changes outside office hours.  An inventory's
``window:`` block (see :class:`WindowPolicy`) says when that is; :func:`evaluate`
answers "open or closed at this instant, and when does that change".

How a calendar day D (in the policy timezone) contributes open time:

* non-workday (weekend, public holiday, ``extra_holidays``): open all day;
* workday (including make-up workdays 调休, ``extra_workdays`` and every date no
  calendar source knows, see :mod:`release.holidays`): open from
  ``open`` until midnight, and the evening continues into the next morning;
* every day's early morning, 00:00 until ``close``, is open when the window
  crosses midnight (``close <= open`` wall-clock, the usual 18:30 -> 08:00):
  after a workday it is that evening's window; after a non-workday we treat it
  the same way, because nobody works at 03:00 on a Monday either;
* with a same-day window (``close > open``, e.g. 12:00 -> 14:00) a workday is
  open only in ``[open, close)``;
* a freeze date is closed for its whole calendar day, evening and holiday
  included.  Freeze is by calendar date only: the night before a freeze day
  ends at midnight, and the early morning after the last freeze day is open
  again (it is not a freeze date).

Because the morning rule no longer depends on the previous day, each day's
open hours depend on that day alone; adjacent pieces are merged, so a Friday
evening window runs without a break until Monday 08:00.

All wall-clock times are in the policy timezone, never the machine's.  A wall
time that does not exist (DST gap) means the first valid instant after it; an
ambiguous one (DST fall-back) means its first occurrence (fold=0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

from release.holidays import NO_FILES, WEEKDAYS, Calendar, DayInfo, HolidayFiles

HORIZON_DAYS = 400  # how far ahead next_open/next_close are searched
_DATE_RE = re.compile(r"^\d{4}-\d\d-\d\d$")  # date.fromisoformat alone also takes 20260301, 2026-W10-1
_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")
_MACHINE_DEPENDENT_ZONES = frozenset({"localtime", "Factory", "posixrules"})
NO_POLICY_REASON = "no release window configured (never blocked)"
ROLLBACK_REASON = "rollbacks are always allowed"


def _parse_date(value: Any) -> date:
    """Accept date objects (YAML unquoted) or "YYYY-MM-DD"; no ints (pydantic would read epochs)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE_RE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a date YYYY-MM-DD, got {value!r}")


class DateRange(BaseModel):
    """Inclusive range of calendar dates; written ``"2026-03-01..2026-03-15"`` or ``"2026-03-01"``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    start: date
    end: date

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return value
        if isinstance(value, str) and ".." in value:
            first, _, last = value.partition("..")
            return {"start": _parse_date(first), "end": _parse_date(last)}
        try:
            day = _parse_date(value)
        except ValueError:
            raise ValueError(f"freeze entry must be 'YYYY-MM-DD' or 'YYYY-MM-DD..YYYY-MM-DD', got {value!r}") from None
        return {"start": day, "end": day}

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.start > self.end:
            raise ValueError(f"freeze range {self.start}..{self.end} ends before it starts")
        return self

    @model_serializer
    def _to_text(self) -> str:
        return str(self)

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end

    def __str__(self) -> str:
        return str(self.start) if self.start == self.end else f"{self.start}..{self.end}"


class WindowPolicy(BaseModel):
    """The inventory's ``window:`` block.  Absent block = never blocked (use ``None``)."""

    model_config = ConfigDict(extra="forbid")
    timezone: str = "Asia/Shanghai"
    open: time = time(18, 30)
    close: time = time(8, 0)
    calendar: Literal["cn", "none"] = "cn"
    extra_holidays: list[date] = Field(default_factory=list)
    extra_workdays: list[date] = Field(default_factory=list)
    freeze: list[DateRange] = Field(default_factory=list)
    rollback: Literal["always", "window"] = "always"
    holiday_files: list[str] = Field(default_factory=list)  # besides calendar/*.json, relative to the project

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        # "localtime" would silently follow the machine's zone, which is exactly what we must not do.
        problem = name in _MACHINE_DEPENDENT_ZONES
        if not problem:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                problem = True
        if problem:
            raise ValueError(f"unknown timezone {name!r}: use an IANA name such as 'Asia/Shanghai'")
        return name

    @field_validator("open", "close", mode="before")
    @classmethod
    def _wall_time(cls, value: Any) -> time:
        # YAML 1.1 reads unquoted 18:30 as the base-60 integer 1110; pydantic would then take it as seconds.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            hint = f'"{int(value) // 60:02d}:{int(value) % 60:02d}"' if 0 <= value < 1440 else '"18:30"'
            raise ValueError(
                f"got the number {value!r}: YAML reads an unquoted HH:MM as a base-60 number; "
                f"quote the time, e.g. {hint}"
            )
        if isinstance(value, time):
            if value.tzinfo is not None:
                raise ValueError("give a wall-clock time without timezone; set 'timezone' instead")
            return value
        match = _TIME_RE.match(value.strip()) if isinstance(value, str) else None
        if not match:
            raise ValueError(f'expected a time "HH:MM" (quoted in YAML), got {value!r}')
        return time(int(match[1]), int(match[2]), int(match[3] or 0))

    @field_validator("extra_holidays", "extra_workdays", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        return [_parse_date(v) for v in value] if isinstance(value, (list, tuple)) else value

    @field_validator("holiday_files")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item.strip() or "\0" in item:
                raise ValueError(f"{item!r} is not a path: give e.g. calendar/2027.json")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> WindowPolicy:
        if self.holiday_files and self.calendar == "none":
            raise ValueError("holiday_files needs calendar: cn (calendar: none has no holidays)")
        if self.open == self.close:
            raise ValueError(f"open and close are both {self.open:%H:%M}: a window needs a length")
        both = sorted(set(self.extra_holidays) & set(self.extra_workdays))
        if both:
            raise ValueError(f"dates in both extra_holidays and extra_workdays: {', '.join(map(str, both))}")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def needs_holiday_files(self) -> bool:
        """Whether the decisions of this policy read holiday files (calendar: none never does)."""
        return self.calendar == "cn"

    def days(self, files: HolidayFiles = NO_FILES) -> Calendar:
        """The calendar this policy decides by: the extras over ``files`` over chinese-calendar."""
        return Calendar(files, frozenset(self.extra_holidays), frozenset(self.extra_workdays), self.calendar == "cn")


@dataclass(frozen=True)
class WindowDecision:
    """Answer for one instant.  ``at``/``next_open``/``next_close`` are aware, in the policy timezone.

    Near a DST change compare and add to them in UTC (or via ``.timestamp()``): Python compares and
    adds datetimes that share a tzinfo by wall clock, ignoring ``fold``.
    """

    open: bool
    reason: str
    at: datetime
    next_open: datetime | None
    next_close: datetime | None
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "open": self.open,
            "reason": self.reason,
            "next_open": iso(self.next_open),
            "next_close": iso(self.next_close),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class _Day:
    workday: bool
    label: str  # "workday", "weekend (Sat 2026-11-28)", "public holiday (National Day, 2026-10-05)", ...
    guessed: bool = False  # no calendar source knew this date: treated as a workday


def _classify(calendar: Calendar, day: date) -> _Day:
    """Workday or not (see :meth:`Calendar.day`), and how to describe it to the operator."""
    return _Day((info := calendar.day(day)).workday, _label(info, day), guessed=not info.known)


def _label(info: DayInfo, day: date) -> str:
    """The day as the reason names it: "workday", "weekend (Sat …)", "public holiday (春节, …, file)"."""
    stamp = f"{WEEKDAYS[day.weekday()]} {day}"
    weekend = day.weekday() >= 5
    listed = info.listed
    source = listed.source if listed is not None else None
    origin = f", {listed.file}" if listed is not None and listed.file else ""
    if source == "extra_holidays":
        return f"holiday (extra_holidays, {day})"
    if source == "extra_workdays":
        return f"make-up workday ({stamp}, extra_workdays)" if weekend else "workday (extra_workdays)"
    if not info.workday:
        return f"public holiday ({listed.name}, {day}{origin})" if listed and listed.name else f"weekend ({stamp})"
    if weekend and listed is not None:
        return f"make-up workday ({stamp}{origin})"
    if weekend and not info.known:
        return f"workday ({stamp}: no holiday data for {day.year})"
    return "workday"


def _exists(candidate: datetime) -> bool:
    """False for a wall time inside a DST gap (it does not survive a round trip through UTC)."""
    roundtrip = candidate.astimezone(UTC).astimezone(candidate.tzinfo)
    return roundtrip.replace(tzinfo=None) == candidate.replace(tzinfo=None)


def _localize(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """Wall time on ``day`` as a UTC instant: first occurrence if ambiguous, gap end if nonexistent."""
    first = datetime.combine(day, wall, tzinfo=zone)  # fold=0: first occurrence
    if _exists(first):
        return first.astimezone(UTC)
    # In a gap fold=0 and fold=1 land on either side of the transition; bisect for it (whole seconds).
    lo, hi = sorted(int(first.replace(fold=f).timestamp()) for f in (0, 1))
    after = datetime.fromtimestamp(hi, zone).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if datetime.fromtimestamp(mid, zone).utcoffset() == after else (mid, hi)
    return datetime.fromtimestamp(hi, UTC)


def _freeze_for(policy: WindowPolicy, day: date) -> DateRange | None:
    return next((r for r in policy.freeze if day in r), None)


def _open_pieces(policy: WindowPolicy, day: date, info: _Day) -> list[tuple[datetime, datetime]]:
    """Open intervals (UTC) falling on calendar ``day`` alone; see the module docstring."""
    if _freeze_for(policy, day) is not None:
        return []
    zone = policy.zone
    midnight, next_midnight = _localize(day, time(0), zone), _localize(day + timedelta(days=1), time(0), zone)
    if not info.workday:
        return [(midnight, next_midnight)]
    opens, closes = _localize(day, policy.open, zone), _localize(day, policy.close, zone)
    if policy.close > policy.open:  # same-day window
        return [(opens, closes)]
    return [(midnight, closes), (opens, next_midnight)]


def _format_runs(days: list[date]) -> str:
    """Sorted dates as compact runs: ``2027-01-01..2027-01-03, 2027-01-05``."""
    runs: list[list[date]] = []
    for day in days:
        if runs and day - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}..{r[-1]}" for r in runs)


def _check_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()}: pass an aware datetime (with a timezone)")


def _walk(
    policy: WindowPolicy, calendar: Calendar, today: date, now: datetime
) -> tuple[list[list[datetime]], dict[date, _Day], datetime]:
    """Merged open periods (UTC) from ``today`` on, the days consulted, and the horizon reached.

    Stops as soon as the period containing ``now`` (or the next one, when closed) is known to end,
    i.e. a later period has started; gives up after HORIZON_DAYS.
    """
    infos: dict[date, _Day] = {}
    merged: list[list[datetime]] = []
    day = today
    for offset in range(HORIZON_DAYS + 1):
        day = today + timedelta(days=offset)
        infos[day] = _classify(calendar, day)
        for start, end in _open_pieces(policy, day, infos[day]):
            if merged and merged[-1][1] >= start:
                merged[-1][1] = max(merged[-1][1], end)
            elif start < end:
                merged.append([start, end])
        is_open = any(s <= now < e for s, e in merged)
        if sum(s > now for s, _ in merged) >= (1 if is_open else 2):
            break
    return merged, infos, _localize(day + timedelta(days=1), time(0), policy.zone)


def evaluate(policy: WindowPolicy | None, at: datetime, holidays: HolidayFiles = NO_FILES) -> WindowDecision:
    """Decide whether ``at`` (aware, any timezone) is inside the release window.

    ``holidays`` is what the project's holiday files say (:func:`release.holidays.load_holiday_files`).
    """
    _check_aware(at)
    if policy is None:
        return WindowDecision(True, NO_POLICY_REASON, at, None, None)
    zone = policy.zone
    local = at.astimezone(zone)
    today = local.date()
    now = at.astimezone(UTC)  # compare in UTC: same-tzinfo comparisons ignore fold
    calendar = policy.days(holidays)
    merged, infos, horizon = _walk(policy, calendar, today, now)

    current = next((p for p in merged if p[0] <= now < p[1]), None)
    upcoming = next((p for p in merged if p[0] > now), None)
    period = current or upcoming
    next_open = upcoming[0].astimezone(zone) if upcoming else None
    next_close = period[1].astimezone(zone) if period and period[1] < horizon else None

    def when(moment: datetime | None, time_first: bool) -> str:
        if moment is None:
            return f"not within {HORIZON_DAYS} days"
        day = moment.date()
        word = {today: "today", today + timedelta(days=1): "tomorrow"}.get(day, f"{WEEKDAYS[day.weekday()]} {day}")
        return f"{moment:%H:%M} {word}" if time_first else f"{word} {moment:%H:%M}"

    clock = f"{local:%H:%M} {policy.timezone}"
    info, frozen = infos[today], _freeze_for(policy, today)
    if frozen is not None:
        reason = f"freeze {frozen} ({clock}); opens {when(next_open, False)}"
    elif current and not info.workday:
        reason = f"{info.label}, open all day ({clock}; until {when(next_close, True)})"
    elif current:
        if policy.close > policy.open:
            kind = "workday window"
        elif now < _localize(today, policy.close, zone):
            kind = "night window"
        else:
            kind = "workday evening window"
        reason = f"{kind} {clock} (until {when(next_close, True)})"
    else:
        reason = f"{info.label if info.workday else 'closed'} {clock}; opens {when(next_open, False)}"

    # Warn only about guessed dates that shaped this answer: today through the last reported instant.
    last = max([today] + [m.date() for m in (next_open, next_close) if m is not None])
    guessed = sorted(d for d, i in infos.items() if d <= last and i.guessed)
    years = sorted({d.year for d in guessed})
    warnings = tuple(calendar.unknown_warning(y, _format_runs([d for d in guessed if d.year == y])) for y in years)
    return WindowDecision(current is not None, reason, local, next_open, next_close, warnings)


def allows_rollback(policy: WindowPolicy | None, at: datetime, holidays: HolidayFiles = NO_FILES) -> WindowDecision:
    """Rollbacks repair an outage, so by default (``rollback: always``) the window never blocks them."""
    _check_aware(at)
    if policy is None:
        return evaluate(None, at)
    if policy.rollback == "always":
        return WindowDecision(True, ROLLBACK_REASON, at.astimezone(policy.zone), None, None)
    return evaluate(policy, at, holidays)
