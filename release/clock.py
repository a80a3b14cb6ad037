"""The clock is passed in, never read from module globals: tests swap it, not `datetime`."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

import tzlocal


class Clock(Protocol):
    """Something that tells the time (always timezone-aware)."""

    def now(self) -> datetime:
        """The current instant, aware."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait; a fake clock just advances."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Now, in UTC."""
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        """Really wait."""
        time.sleep(seconds)


@dataclass
class FixedClock:
    """A clock standing at a given instant; `sleep` moves it forward (for tests and `--at`)."""

    at: datetime

    def now(self) -> datetime:
        """The fixed instant."""
        return self.at

    def sleep(self, seconds: float) -> None:
        """Advance instead of waiting."""
        self.at += timedelta(seconds=seconds)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with offset, to the second, or None."""
    return moment.isoformat(timespec="seconds") if moment else None


def local_zone() -> tzinfo:
    """The controller's own timezone (TZ, else /etc/localtime): where an environment without a window lives.

    A named zone (tzlocal), not today's offset, so a schedule and a time shown follow summer time.
    """
    name = os.environ.get("TZ", "").lstrip(":")  # read each time: tzlocal caches, a test or a shell changes it
    try:
        return ZoneInfo(name) if name else tzlocal.get_localzone()
    except (LookupError, ValueError, OSError):  # a POSIX rule such as CST-8: today's offset is all there is
        zone = datetime.now().astimezone().tzinfo
        return zone if zone is not None else UTC


def shown(moment: datetime | str | None, zone: tzinfo) -> str:
    """A time for people: wall time in `zone` with its offset, to the minute ("2026-12-02 19:05 +08:00")."""
    if moment is None or moment == "":
        return "-"
    at = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if at.tzinfo is None:  # the ledger stores UTC; an old naive value is UTC too
        at = at.replace(tzinfo=UTC)
    local = at.astimezone(zone)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]}"
