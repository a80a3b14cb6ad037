"""The event bus (issue 12): every subscriber hears what it subscribed to, in order; one that raises
or hangs never fails or holds up the work that published, and what went wrong is reported."""

from __future__ import annotations

import threading
import time

from release.events import BackupFailed, BackupSucceeded, BreakGlassUsed, Event, EventBus, RunFinished

FAILED = BackupFailed("prod", "scheduled", "disk full", "ops")
DONE = BackupSucceeded("prod", "prod-20261202T020000Z", "scheduled", 3.5)


def test_subscribers_hear_their_kinds_in_the_order_they_registered() -> None:
    bus, heard = EventBus(), []
    bus.subscribe("all", lambda e: heard.append(("all", e.name)))
    bus.subscribe("failures", lambda e: heard.append(("failures", e.name)), BackupFailed)
    bus.publish(DONE)
    bus.publish(FAILED)
    assert heard == [("all", "backup-succeeded"), ("all", "backup-failed"), ("failures", "backup-failed")]


def test_a_subscriber_that_raises_is_reported_and_the_others_still_hear() -> None:
    bus, heard, recorded = EventBus(), [], []
    bus.on_problem = lambda event, text: recorded.append((event, text))

    def broken(event: Event) -> None:
        raise ConnectionError("robot unreachable")

    bus.subscribe("chat", broken)
    bus.subscribe("ledger", heard.append)
    bus.publish(FAILED)  # no exception reaches the publisher
    assert heard == [FAILED]
    assert recorded == [(FAILED, "subscriber chat on backup-failed of prod: ConnectionError: robot unreachable")]
    assert bus.problems == [recorded[0][1]]


def test_a_subscriber_that_hangs_holds_up_the_publisher_once_and_briefly() -> None:
    bus, release, heard = EventBus(timeout=0.2), threading.Event(), []

    def hanging(event: Event) -> None:
        release.wait(30)
        heard.append(event.name)

    bus.subscribe("hangs", hanging)
    started = time.monotonic()
    for _ in range(5):
        bus.publish(FAILED)
    waited = time.monotonic() - started
    assert waited < 2.0, f"five events waited {waited:.1f} s for one hung subscriber (timeout 0.2 s)"
    assert bus.problems == ["subscriber hangs on backup-failed of prod: took longer than 0.2 s: carried on without it"]
    release.set()  # it recovers: nothing was lost, in order
    deadline = time.monotonic() + 10
    while len(heard) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert heard == ["backup-failed"] * 5


def test_event_names_are_what_the_ledger_and_chat_rules_use() -> None:
    assert [e.name for e in (FAILED, BreakGlassUsed("prod", "li", "hotfix", "workday 14:00"))] == [
        "backup-failed",
        "break-glass-used",
    ]
    assert RunFinished("prod", "deploy", 3, "succeeded").name == "run-finished"
