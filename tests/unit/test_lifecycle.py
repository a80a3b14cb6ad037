"""The run lifecycle's failure paths without servers: a real SQLite ledger, `connection: local` hosts in tmp_path.

Whatever ends a run (success, a failure, Ctrl-C or SIGTERM after a switch, an exception anywhere),
the ledger run is finished exactly once and the environment's lock is released.
"""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml

from release import lock as locks
from release.backup.catalog import list_backups
from release.cli import main
from release.clock import SystemClock
from release.context import Context
from release.errors import Refused
from release.ledger import Ledger
from release.lifecycle.reports import HostOutcome, RunFailed, RunReport
from release.lifecycle.run import Lifecycle
from release.refusals import Attempt
from tests.support.project import CliResult, Project, local_env


class SpyLedger(Ledger):
    """The real ledger, noting every start and finish of a run (and calling `on_start` just before a start)."""

    def __init__(self, url: str, on_start: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__(url, SystemClock())
        self.calls: list[tuple[str, int, str]] = []
        self.on_start = on_start

    def start_run(self, **values: Any) -> int:
        if self.on_start is not None:
            self.on_start(values)
        run_id = super().start_run(**values)
        self.calls.append(("start", run_id, str(values["kind"])))
        return run_id

    def finish_run(self, run_id: int, status: str, error: str | None = None, **values: Any) -> None:
        self.calls.append(("finish", run_id, status))
        super().finish_run(run_id, status, error, **values)

    def finishes(self, run_id: int | None = None) -> list[str]:
        """The statuses each finish of `run_id` (default: the last run started) wrote."""
        if run_id is None:
            run_id = [c for c in self.calls if c[0] == "start"][-1][1]
        return [status for call, rid, status in self.calls if call == "finish" and rid == run_id]

    def last(self, env: str = "test") -> Any:
        return self.history(env, limit=1)[0]


def spy_for(project: Project, on_start: Callable[[dict[str, Any]], None] | None = None) -> SpyLedger:
    (project.root / ".release").mkdir(parents=True, exist_ok=True)
    return SpyLedger(f"sqlite:///{project.root / '.release' / 'ledger.db'}", on_start)


def run_cli(project: Project, ledger: Ledger, *args: str) -> CliResult:
    """`release -i <inventory> ARGS` in this process, with `ledger` as the invocation's ledger."""
    ctx = Context(clock=project.clock, interactive=False)
    ctx.__dict__["ledger"] = ledger  # the cached property, filled in before the command opens its own
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(project.root)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["-i", str(project.inventory), *args], ctx)
    finally:
        os.chdir(cwd)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(tmp_path / "proj")
    project.write_env("test", local_env(project.root))
    for version in ("1.0.0", "1.1.0"):
        project.artifact(version)
    return project


def versions(project: Project) -> list[str]:
    return [(project.root / "hosts" / h / "current" / "VERSION").read_text().strip() for h in ("web1", "web2")]


# --- the sequence itself ------------------------------------------------------------------------------


def lifecycle(project: Project, ledger: SpyLedger, kind: str = "deploy") -> Lifecycle:
    project.inventory.mkdir(parents=True, exist_ok=True)
    ctx = Context(inventory_dir=project.inventory, clock=project.clock, interactive=False)
    ctx.__dict__["ledger"] = ledger
    return Lifecycle(ctx, Attempt(kind, "test", "1.0.0", "a reason"))


def report(status: str = "failed") -> RunReport:
    hosts = [HostOutcome("web1", "local", "switched back", "r1")]
    return RunReport("test", "1.0.0", "r2", 1, status, hosts, [], "boom", failure={"failed_host": "web1"})


ENDINGS: list[tuple[str, Callable[[], BaseException | None], str]] = [
    ("success", lambda: None, "succeeded"),
    ("run failed", lambda: RunFailed(report()), "failed"),
    ("ctrl-c", lambda: KeyboardInterrupt("signal 15"), "interrupted"),
    ("a bug", lambda: ZeroDivisionError("division by zero"), "failed"),
    ("a refusal after the start", lambda: Refused("no"), "failed"),
]


@pytest.mark.parametrize(("name", "ending", "status"), ENDINGS, ids=[e[0] for e in ENDINGS])
def test_a_run_is_finished_once_and_the_lock_released_however_it_ends(
    project: Project, name: str, ending: Callable[[], BaseException | None], status: str
) -> None:
    ledger = spy_for(project)
    exc = ending()
    life = lifecycle(project, ledger)
    try:
        with life, life.locked("1.0.0"):
            assert locks.holder(ledger, "test") is not None
            life.start(version="1.0.0", hosts=["web1"])
            if exc is not None:
                raise exc
    except BaseException as raised:  # noqa: BLE001 - the test looks at what came out
        assert raised is exc
    else:
        assert exc is None
    assert ledger.finishes() == [status]
    assert locks.holder(ledger, "test") is None
    run = ledger.last()
    assert run.status == status and run.operator
    assert [r.status for r in ledger.history("test")] == [status], "a refusal after the start is not recorded twice"
    if name == "run failed":
        assert run.error == "boom" and run.failed_host == "web1"


def test_the_first_finish_is_the_only_one(project: Project) -> None:
    ledger = spy_for(project)
    life = lifecycle(project, ledger)
    with pytest.raises(ZeroDivisionError), life, life.locked():
        life.start(version="1.0.0", hosts=[])
        life.finish("succeeded", previous_release_id="r0")
        assert not life.finish("failed")
        raise ZeroDivisionError  # after the finish: the run stays as it was finished
    assert ledger.finishes() == ["succeeded"] and ledger.last().previous_release_id == "r0"


def test_a_refusal_before_the_start_is_recorded_as_refused_and_no_run_is_started(project: Project) -> None:
    ledger = spy_for(project)
    life = lifecycle(project, ledger)
    with pytest.raises(Refused), life, life.locked():
        raise Refused("preflight: web1 cannot be used")
    assert ledger.calls == []
    run = ledger.last()
    assert (run.status, run.kind, run.error) == ("refused", "deploy", "preflight: web1 cannot be used")
    assert locks.holder(ledger, "test") is None


def test_a_run_is_recorded_only_under_the_lock(project: Project) -> None:
    life = lifecycle(project, spy_for(project))
    with pytest.raises(RuntimeError, match="lock"), life:
        life.start(version="1.0.0")


# --- deploys and rollbacks through it ----------------------------------------------------------------


def test_an_exception_after_the_switch_switches_back_and_finishes_once(project: Project) -> None:
    ledger = spy_for(project)
    assert run_cli(project, ledger, "deploy", "test", "--version", "1.0.0").code == 0
    project.insert_task({"name": "Notify", "shell": {"cmd": "exit 5"}}, before="Restart the service")
    result = run_cli(project, ledger, "deploy", "test", "--version", "1.1.0")
    assert result.code == 1, result.stderr
    assert "deploy of 1.1.0 to test failed" in result.stderr and "everything is as it was before" in result.stderr
    assert versions(project) == ["1.0.0", "1.0.0"]
    assert ledger.finishes() == ["failed"]
    assert ledger.last().failed_task == "Notify"
    assert locks.holder(ledger, "test") is None


def test_sigterm_between_switch_and_finish_switches_back_and_records_interrupted(project: Project) -> None:
    ledger = spy_for(project)
    assert run_cli(project, ledger, "deploy", "test", "--version", "1.0.0").code == 0
    kill = {"name": "Terminated", "shell": {"cmd": f"kill -TERM {os.getpid()}; sleep 1"}, "run_once": True}
    project.insert_task(kill, before="Restart the service")
    result = run_cli(project, ledger, "deploy", "test", "--version", "1.1.0")
    assert result.code == 130, result.stderr
    assert versions(project) == ["1.0.0", "1.0.0"]
    assert ledger.finishes() == ["interrupted"]
    assert locks.holder(ledger, "test") is None


class SignalledLedger(SpyLedger):
    """A ledger that receives SIGTERM in the middle of writing a run's end."""

    def finish_run(self, run_id: int, status: str, error: str | None = None, **values: Any) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the signal is pending now; a handler would have run already
        super().finish_run(run_id, status, error, **values)


def test_sigterm_during_the_final_ledger_write_waits_for_the_write(project: Project) -> None:
    ledger = SignalledLedger(f"sqlite:///{project.root / 'ledger.db'}")

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")  # what the CLI installs for SIGTERM

    previous = signal.signal(signal.SIGTERM, interrupt)
    life = lifecycle(project, ledger)
    try:
        with pytest.raises(KeyboardInterrupt, match="signal 15"), life, life.locked("1.0.0"):
            life.start(version="1.0.0", hosts=["web1"])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert signal.getsignal(signal.SIGTERM) is previous
    assert ledger.finishes() == ["succeeded"]  # written whole, once: the signal came after it
    assert ledger.last().status == "succeeded" and ledger.last().finished_at
    assert locks.holder(ledger, "test") is None


def test_a_failed_rollback_playbook_says_rollback_and_where_each_host_is(project: Project) -> None:
    ledger = spy_for(project)
    assert run_cli(project, ledger, "deploy", "test", "--version", "1.0.0").code == 0
    assert run_cli(project, ledger, "deploy", "test", "--version", "1.1.0").code == 0
    now = ledger.last().release_id
    target = ledger.history("test")[1].release_id
    failing = {"name": "Check", "shell": {"cmd": "echo check failed on {{ host.name }}; exit 4"}}
    book = [{"name": "After switching back", "hosts": "app", "tasks": [failing | {"when": "version == '1.0.0'"}]}]
    (project.root / "playbooks").mkdir(exist_ok=True)
    (project.root / "playbooks" / "rollback.yml").write_text(yaml.safe_dump(book))
    result = run_cli(project, ledger, "rollback", "test", "--json")
    assert result.code == 1, result.stderr
    assert f"rollback of test to {target} failed" in result.stderr and "task 'Check' failed" in result.stderr
    assert "deploy of" not in result.stderr and "nothing changed" not in result.stderr
    assert "everything is as it was before" in result.stderr
    assert f"web1: back on {now}" in result.stderr and f"web2: back on {now}" in result.stderr
    assert [h["status"] for h in result.json()["hosts"]] == ["switched back"] * 2
    assert versions(project) == ["1.1.0", "1.1.0"]
    run = ledger.last()
    assert (run.kind, run.status, run.failed_task) == ("rollback", "failed", "Check")
    assert ledger.finishes() == ["failed"] and locks.holder(ledger, "test") is None


def test_a_rollback_with_db_is_recorded_before_the_database_is_touched(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj")
    db = project.root / "app.db"
    project.write_env("test", local_env(project.root, database={"engine": "sqlite", "name": "app.db"}))
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO people VALUES (1, 'a');"
        )
    for version in ("1.0.0", "1.1.0"):
        project.artifact(version)
    seen: list[tuple[list[str], list[str]]] = []

    def at_start(values: dict[str, Any]) -> None:  # what the database and the catalog hold when the run is recorded
        with sqlite3.connect(db) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        seen.append((tables, [b.kind for b in list_backups(ledger, "test")]))

    ledger = spy_for(project, at_start)
    assert run_cli(project, ledger, "deploy", "test", "--version", "1.0.0").code == 0
    script = f"import sqlite3; c = sqlite3.connect('{db}'); c.executescript('DROP TABLE people;'); c.commit()"
    project.insert_task({"name": "Migrate", "shell": {"cmd": f'{sys.executable} -c "{script}"'}, "run_once": True})
    assert run_cli(project, ledger, "deploy", "test", "--version", "1.1.0").code == 0
    seen.clear()
    result = run_cli(project, ledger, "rollback", "test", "--with-db", "--yes")
    assert result.code == 0, result.stderr
    assert seen == [([], ["pre-release", "pre-release"])], "recorded before the safety dump and the restore"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM people").fetchall() == [("a",)]
    assert ledger.finishes() == ["succeeded"] and ledger.last().kind == "rollback"
