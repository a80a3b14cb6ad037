"""Who holds an environment's lock: the value `release.lock` takes the lock with and `release.checks.lock` judges.

Why a module of its own: the lock refuses with the check's words (one text, whether the check ran
first or the lock found the holder itself), so the lock imports the check; the holder, which both
need, lives here, below the two, and neither imports the other the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from release.ledger import controller_name, process_alive

# a backup changes nothing on the hosts or in the database: a live one is waited for, a dead one taken over
TAKEOVER_PREFIX = "backup"


@dataclass(frozen=True)
class LockHolder:
    """Who holds an environment's lock."""

    env: str
    operator: str
    controller: str
    pid: int
    started_at: str
    version: str | None
    command: str

    @property
    def stale(self) -> bool:
        """The holder ran on this machine and its process is gone."""
        return self.controller == controller_name() and not process_alive(self.pid)

    def describe(self) -> str:
        """One line naming the holder."""
        what = f"{self.command} {self.version}" if self.version else self.command
        state = " (STALE: that process is gone)" if self.stale else ""
        return f"{self.operator} on {self.controller} pid {self.pid} since {self.started_at} ({what}){state}"

    def to_json(self) -> dict[str, Any]:
        """The holder as a dict, with the stale flag."""
        return {**self.__dict__, "stale": self.stale}
