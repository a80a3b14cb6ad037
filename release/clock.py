"""The clock is passed in, never read from module globals: tests swap it, not `datetime`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


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
