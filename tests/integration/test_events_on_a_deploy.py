"""Events of a real deploy reach every subscriber; a subscriber that raises or hangs neither fails nor
holds up the deploy, and the ledger records what went wrong (issue 12). Local hosts, in-process."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from release.context import Context
from release.deploy import deploy
from release.events import Event, HostSwitched, HostSwitchedBack, RunFinished, RunStarted
from release.lifecycle.reports import RunFailed
from release.lifecycle.requests import DeployRequest
from tests.support.project import Project, local_env


def test_a_broken_and_a_hung_subscriber_leave_the_deploy_alone(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj")
    project.write_env("test", local_env(project.root))
    project.artifact("1.0.0")
    ctx = Context(inventory_dir=project.inventory, interactive=False)
    heard: list[Event] = []
    stuck = threading.Event()

    def broken(event: Event) -> None:
        raise RuntimeError("robot said errcode 310000")

    ctx.events.timeout = 0.3
    ctx.events.subscribe("recorder", heard.append, RunStarted, RunFinished)
    ctx.events.subscribe("broken chat", broken, RunStarted)
    ctx.events.subscribe("hung chat", lambda event: stuck.wait(30), RunStarted)
    try:
        started = time.monotonic()
        report = deploy(ctx, DeployRequest("test", "1.0.0"))
        took = time.monotonic() - started
        assert report.status == "succeeded"
        assert took < 10, f"the deploy took {took:.1f} s with one hung subscriber (0.3 s allowed per event)"
        assert [type(e) for e in heard] == [RunStarted, RunFinished]
        assert isinstance(heard[1], RunFinished) and heard[1].status == "succeeded" and heard[1].version == "1.0.0"
        problems = [e["message"] for e in ctx.ledger.events_for("test") if e["kind"] == "subscriber-failed"]
        assert any("broken chat on run-started of test: RuntimeError: robot said errcode 310000" in p for p in problems)
        assert any("hung chat on run-started of test: took longer than 0.3 s" in p for p in problems)
        history = ctx.ledger.history("test")
        assert [run.status for run in history] == ["succeeded"]
    finally:
        stuck.set()
        ctx.close()


def test_a_failed_deploy_publishes_each_switch_and_switch_back(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj")
    project.write_env("test", local_env(project.root, service={"restart": "exit 3"}))
    project.artifact("1.0.0")
    ctx = Context(inventory_dir=project.inventory, interactive=False)
    heard: list[Event] = []
    ctx.events.subscribe("recorder", heard.append)
    try:
        with pytest.raises(RunFailed):
            deploy(ctx, DeployRequest("test", "1.0.0"))
    finally:
        ctx.close()
    switched = sorted((e.host, e.previous) for e in heard if isinstance(e, HostSwitched))
    back = sorted((e.host, e.release_id) for e in heard if isinstance(e, HostSwitchedBack))
    assert switched == [("web1", None), ("web2", None)] and back == [("web1", None), ("web2", None)]
    assert isinstance(heard[0], RunStarted)
    finished = heard[-1]
    assert isinstance(finished, RunFinished) and finished.status == "failed" and "Restart" in (finished.error or "")
