"""Which dates are days off: holiday files, chinese-calendar, and the inventory's extras.

chinese-calendar knows 2004-2026 only, and a new year's arrangement is published by the State
Council only weeks before the year begins. Projects therefore drop holiday files in the format of
the holiday-cn data (https://github.com/NateScarlet/holiday-cn) into ``calendar/*.json``::

    {"year": 2027, "papers": [...], "days": [{"name": "春节", "date": "2027-02-06", "isOffDay": true}, ...]}

``isOffDay: false`` marks a make-up workday (调休上班). Per date, the first source that knows it
decides:

1. ``extra_holidays`` / ``extra_workdays`` of the inventory;
2. a day a holiday file lists;
3. a year a holiday file covers: its other days are plain (Mon-Fri work, weekends off). The file
   is the whole arrangement of its year, so chinese-calendar is not consulted for that year: a
   day the library calls a holiday but the file does not is a workday (the safer mistake);
4. chinese-calendar;
5. nothing: the date counts as a **workday**, weekends too (after hours only), and the caller
   warns. Guessing Mon-Fri would open a make-up Saturday all day while the customer works.

A file with no days (holiday-cn publishes ``2027.json`` empty until the notice is out) covers
nothing. holiday-cn files name years by their notice: ``2019.json`` also lists 2018-12-29..31, so
a file may list dates of the December before its year; any other date outside it is a mistake.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

import chinese_calendar

from release.errors import SourceError

CALENDAR_DIR = "calendar"
MAX_FILE_BYTES = 1_000_000  # a year of holiday-cn data is ~4 KB; anything far larger is not one
Source = Literal["extra_holidays", "extra_workdays", "file", "chinese-calendar"]
_DATE_RE = re.compile(r"^\d{4}-\d\d-\d\d$")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # not strftime: locale-proof
_FIX = "see the holiday-cn format: {year, days: [{name, date: YYYY-MM-DD, isOffDay}]}"


@dataclass(frozen=True)
class Listed:
    """A date some source names: a day off or a make-up workday, and who named it."""

    day: date
    off: bool
    name: str | None
    source: Source
    file: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The `window --year --json` entry."""
        kind = "off" if self.off else "workday"
        return {
            "date": str(self.day),
            "weekday": WEEKDAYS[self.day.weekday()],
            "name": self.name,
            "kind": kind,
            "source": self.source,
            "file": self.file,
        }


@dataclass(frozen=True)
class DayInfo:
    """How one date counts. ``listed`` is the entry that decided it (None for a plain day)."""

    workday: bool
    listed: Listed | None = None
    known: bool = True  # False: no source knows the year, so it is treated as a workday


@dataclass(frozen=True)
class HolidayFiles:
    """What the project's holiday files say, merged."""

    days: Mapping[date, Listed] = field(default_factory=dict)
    covers: Mapping[int, str] = field(default_factory=dict)  # year -> a file holding that year's days
    empty: Mapping[int, str] = field(default_factory=dict)  # year -> a file that lists no days yet
    folder: str = CALENDAR_DIR  # where a missing year's file belongs, as shown to the operator


NO_FILES = HolidayFiles()


@dataclass(frozen=True)
class Calendar:
    """Every source, in precedence order; see the module docstring."""

    files: HolidayFiles = NO_FILES
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    cn: bool = True  # calendar: none -> every day is a workday unless an extra says otherwise

    def day(self, day: date) -> DayInfo:
        """Workday or not, and which source said so."""
        extra = self._extra(day)
        if extra is not None:
            return DayInfo(not extra.off, extra)
        if not self.cn:
            return DayInfo(True)
        listed = self.files.days.get(day)
        if listed is not None:
            return DayInfo(not listed.off, listed)
        plain = day.weekday() < 5
        if day.year in self.files.covers:
            return DayInfo(plain)
        if not _library_knows(day.year):
            return DayInfo(True, known=False)
        off, name = chinese_calendar.get_holiday_detail(day)
        if name is None:
            return DayInfo(not off)
        return DayInfo(not off, Listed(day, bool(off), str(name), "chinese-calendar"))

    def known_by(self, year: int) -> Source | None:
        """The source that decides the plain days of ``year`` (None: nobody knows it)."""
        if not self.cn:
            return None
        if year in self.files.covers:
            return "file"
        return "chinese-calendar" if _library_knows(year) else None

    def year_days(self, year: int) -> list[Listed]:
        """The days off and make-up workdays of ``year``, each with the source that decides it."""
        found: dict[date, Listed] = {}
        if self.cn:
            found.update(_library_days(year) if year not in self.files.covers else {})
            found.update({d: e for d, e in self.files.days.items() if d.year == year})
        for day in self.extra_holidays | self.extra_workdays:
            extra = self._extra(day)
            if extra is not None and day.year == year:
                found[day] = extra
        return [found[d] for d in sorted(found)]

    def unknown_warning(self, year: int, days: str) -> str:
        """What to tell the operator about dates of a year no source knows."""
        name = f"{self.files.folder}/{year}.json"
        empty = self.files.empty.get(year)
        fix = (
            f"{empty} lists no days yet: replace it once the State Council notice is out"
            if empty
            else f"add {name} (holiday-cn format)"
        )
        return (
            f"no holiday data for {year} ({days}): treated as workdays, weekends too (after hours only); "
            f"{fix}, or list the days in extra_holidays/extra_workdays"
        )

    def _extra(self, day: date) -> Listed | None:
        if day in self.extra_holidays:
            return Listed(day, True, None, "extra_holidays")
        if day in self.extra_workdays:
            return Listed(day, False, None, "extra_workdays")
        return None


@cache
def _library_knows(year: int) -> bool:
    """chinese-calendar raises for years outside its data; ask it rather than hard-code 2004-2026."""
    try:
        chinese_calendar.get_holiday_detail(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def _library_days(year: int) -> dict[date, Listed]:
    """chinese-calendar's named days off and make-up workdays of ``year``."""
    found: dict[date, Listed] = {}
    for table, off in ((chinese_calendar.holidays, True), (chinese_calendar.workdays, False)):
        for day, name in table.items():
            if day.year == year:
                found[day] = Listed(day, off, str(name), "chinese-calendar")
    return found


# --- loading -----------------------------------------------------------------------------------


def _shown(path: Path) -> str:
    """The path relative to the working directory when below it; no symlinks resolved (a loop raises)."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(os.getcwd()))
    except ValueError:
        return str(path)


def load_holiday_files(project_dir: Path, named: Iterable[str] = ()) -> HolidayFiles:
    """Read ``calendar/*.json`` and the files ``window.holiday_files`` names (relative to the project).

    A named file must exist; a missing ``calendar/`` folder is fine. Any mistake is one SourceError.
    """
    folder = project_dir / CALENDAR_DIR
    found = sorted(p for p in folder.glob("*.json")) if folder.is_dir() else []
    explicit = [project_dir / name for name in named]
    for path in explicit:
        if not path.exists():
            raise SourceError(_shown(path), None, "", "file not found (named in window.holiday_files)")
    merged = _Merge()
    seen: set[str] = set()
    for path in [*found, *explicit]:
        real = os.path.realpath(path)  # never raises, unlike Path.resolve on a symlink loop
        if real not in seen:
            seen.add(real)
            merged.add(path, _shown(path))
    return HolidayFiles(merged.days, merged.covers, merged.empty, _shown(folder))


@dataclass
class _Merge:
    """Holiday files folded together; a date two entries disagree on is an error."""

    days: dict[date, Listed] = field(default_factory=dict)
    covers: dict[int, str] = field(default_factory=dict)
    empty: dict[int, str] = field(default_factory=dict)

    def add(self, path: Path, shown: str) -> None:
        text = _read(path, shown)
        data = _parse(text, shown)
        year = _year(data, path, shown)
        entries = data.get("days")
        if not isinstance(entries, list):
            raise SourceError(shown, None, "days", f"expected a list of days; {_FIX}")
        if not entries:
            self.empty.setdefault(year, shown)
            return
        self.covers.setdefault(year, shown)
        for index, raw in enumerate(entries):
            entry = _entry(raw, index, year, shown, text)
            earlier = self.days.get(entry.day)
            if earlier is not None and earlier.off != entry.off:
                same = earlier.file == shown
                also = "earlier in this file" if same else f"also in {earlier.file}"
                raise SourceError(
                    shown,
                    _line_of(text, f'"{entry.day}"', 2 if same else 1),
                    f"days[{index}]",
                    f"{entry.day} is both a day off and a workday ({also}): keep one",
                )
            self.days.setdefault(entry.day, entry)


def _read(path: Path, shown: str) -> str:
    """The file as UTF-8 text; a FIFO or device would hang or flood the reader, so only regular files."""
    if not path.is_file():
        raise SourceError(shown, None, "", "not a regular file: a holiday file must be a JSON file")
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SourceError(shown, None, "", f"larger than {MAX_FILE_BYTES} bytes: not a holiday file")
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(shown, None, "", f"not UTF-8 (byte {exc.start}): save the file as UTF-8") from None
    except OSError as exc:
        raise SourceError(shown, None, "", f"cannot read: {exc.strerror}") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    repeated = next((k for k in keys if keys.count(k) > 1), None)
    if repeated is not None:
        raise ValueError(f"duplicate key {repeated!r}")
    return dict(pairs)


def _parse(text: str, shown: str) -> dict[str, Any]:
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise SourceError(shown, exc.lineno, "", f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise SourceError(shown, None, "", f"not a holiday file: {exc}") from None
    if not isinstance(data, dict):
        raise SourceError(shown, None, "", f"expected a JSON object; {_FIX}")
    return data


def _year(data: dict[str, Any], path: Path, shown: str) -> int:
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 1 <= year <= 9999:
        raise SourceError(shown, None, "year", f"expected a year such as 2027, got {year!r}")
    if re.fullmatch(r"\d{4}", path.stem) and int(path.stem) != year:
        raise SourceError(shown, None, "year", f"the file is named {path.name} but says year {year}: fix one")
    return year


def _entry(raw: Any, index: int, year: int, shown: str, text: str) -> Listed:
    """One item of ``days``, checked: name, a real date in (or the December before) ``year``, isOffDay."""
    where = f"days[{index}]"
    if not isinstance(raw, dict):
        raise SourceError(shown, None, where, f"expected an object {{name, date, isOffDay}}, got {raw!r}")
    value, name, off = raw.get("date"), raw.get("name"), raw.get("isOffDay")
    line = _line_of(text, f'"{value}"') if isinstance(value, str) else None
    day = _date(value)
    if day is None:
        raise SourceError(shown, line, f"{where}.date", f"expected a date YYYY-MM-DD, got {value!r}")
    if not isinstance(name, str) or not name.isprintable() or "[" in name or "]" in name:
        # reasons and tables print the name: control characters, lone surrogates or Rich markup would garble them
        raise SourceError(
            shown, line, f"{where}.name", f"expected the holiday's name as plain text (no brackets), got {name!r}"
        )
    if not isinstance(off, bool):
        raise SourceError(shown, line, f"{where}.isOffDay", f"expected true (day off) or false (workday), got {off!r}")
    if day.year != year and (day.year, day.month) != (year - 1, 12):
        raise SourceError(
            shown, line, f"{where}.date", f"{day} is outside the file's year {year}: fix the date or the year"
        )
    return Listed(day, off, name, "file", shown)


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or not _DATE_RE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _line_of(text: str, needle: str, nth: int = 1) -> int | None:
    """The line of the nth occurrence of ``needle``: json gives no positions for valid documents."""
    at = -1
    for _ in range(nth):
        at = text.find(needle, at + 1)
        if at < 0:
            return None
    return text.count("\n", 0, at) + 1


def year_listing(calendar: Calendar, year: int) -> dict[str, Any]:
    """``window ENV --year`` data: the year's listed days by source, to check against the notice."""
    source = calendar.known_by(year)
    known = source is not None or not calendar.cn
    days = calendar.year_days(year)
    warnings = [] if known else [calendar.unknown_warning(year, f"{year}-01-01..{year}-12-31")]
    return {
        "year": year,
        "known": known,
        "known_by": source,
        "file": calendar.files.covers.get(year) if source == "file" else None,
        "days": [d.to_json() for d in days],
        "warnings": warnings,
    }
