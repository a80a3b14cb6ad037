"""What happened, as typed events, and the bus that hands them to every subscriber (issue 12).

One event per thing a person cares about (pyinfra's state callbacks): the ledger's event log, the
metrics textfile and the failure webhook are subscribers, and so are the work-chat announcements of
later issues. A subscriber that raises or hangs never fails or slows the work that published: each
runs in a thread of its own and is waited for at most `timeout` seconds per event; what goes wrong is
logged and handed to `on_problem` (the ledger records it).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

DEFAULT_TIMEOUT = 5.0  # seconds one subscriber may take over one event before the publisher moves on


@dataclass(frozen=True)
class Event:
    """Something that happened in one environment."""

    env: str

    @property
    def name(self) -> str:
        """`backup-failed` for BackupFailed: how the ledger's event log and the chat rules name it."""
        return "".join(f"-{c.lower()}" if c.isupper() else c for c in type(self).__name__).lstrip("-")


@dataclass(frozen=True)
class RunStarted(Event):
    kind: str  # deploy | rollback | restore
    run_id: int
    version: str | None
    operator: str


@dataclass(frozen=True)
class HostSwitched(Event):
    host: str
    release_id: str
    previous: str | None


@dataclass(frozen=True)
class HostSwitchedBack(Event):
    host: str
    release_id: str | None  # what it is back on


@dataclass(frozen=True)
class RunFinished(Event):
    kind: str
    run_id: int
    status: str  # succeeded | failed | interrupted
    version: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class DatabaseRestored(Event):
    backup_id: str
    detail: str  # "restored ID", or "put back the safety dump ID: why"


@dataclass(frozen=True)
class BackupSucceeded(Event):
    backup_id: str
    kind: str  # scheduled | manual | pre-release | safety
    duration: float | None = None


@dataclass(frozen=True)
class BackupFailed(Event):
    kind: str
    error: str
    operator: str


@dataclass(frozen=True)
class BackupVerified(Event):
    backup_id: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class BreakGlassUsed(Event):
    operator: str
    reason: str
    window: str  # why the window was closed


@dataclass(frozen=True)
class LockCleared(Event):
    operator: str
    reason: str
    holder: dict[str, Any]  # who held it (LockHolder.to_json())


Handler = Callable[[Any], None]


@dataclass
class _Subscriber:
    """One subscriber and the thread that calls it, one event after the other."""

    name: str
    handle: Handler
    kinds: tuple[type[Event], ...]
    report: Callable[[str, Event, str], None]
    _inbox: queue.Queue[tuple[Event, threading.Event]] = field(default_factory=queue.Queue)
    _thread: threading.Thread | None = None
    _late: bool = False  # an event was not finished in time and it has not caught up since

    def wants(self, event: Event) -> bool:
        return not self.kinds or isinstance(event, self.kinds)

    def deliver(self, event: Event, timeout: float) -> None:
        """Hand the event over; wait for it (not at all while an earlier one is still late)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=f"subscriber {self.name}", daemon=True)
            self._thread.start()
        done = threading.Event()
        self._inbox.put((event, done))
        if not self._late and not done.wait(timeout):
            self._late = True
            self.report(self.name, event, f"took longer than {timeout:g} s: carried on without it")

    def _work(self) -> None:
        while True:
            event, done = self._inbox.get()
            try:
                self.handle(event)
            except Exception as exc:  # noqa: BLE001 - a subscriber's failure is reported, never raised
                self.report(self.name, event, f"{type(exc).__name__}: {exc}")
            finally:
                done.set()
                if self._inbox.empty():
                    self._late = False


class EventBus:
    """Subscribers in the order they registered; `publish` hands each event to those that want it."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self.problems: list[str] = []
        self.on_problem: Callable[[Event, str], None] | None = None
        self._subscribers: list[_Subscriber] = []

    def subscribe(self, name: str, handle: Handler, *kinds: type[Event]) -> None:
        """Call `handle(event)` for every event of `kinds` (all events when none are given)."""
        self._subscribers.append(_Subscriber(name, handle, kinds, self._report))

    def publish(self, event: Event) -> None:
        """Deliver to every subscriber that wants it; never raises, waits at most `timeout` per subscriber."""
        for subscriber in self._subscribers:
            if subscriber.wants(event):
                subscriber.deliver(event, self.timeout)

    def _report(self, name: str, event: Event, problem: str) -> None:
        text = f"subscriber {name} on {event.name} of {event.env}: {problem}"
        self.problems.append(text)
        logger.warning(text)
        if self.on_problem is not None:
            try:
                self.on_problem(event, text)
            except Exception as exc:  # noqa: BLE001 - recording the problem must not become one
                logger.warning("could not record it: {error}", error=exc)
