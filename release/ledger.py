"""The ledger: who released what, when, why, and how it ended; plus deploy locks.

SQLAlchemy Core over SQLite (default, `<project>/.release/ledger.db`) or PostgreSQL
(RELEASE_LEDGER_URL) so a team shares one record. Every write is one transaction.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    create_engine,
    event,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from release import ledger_file
from release.clock import Clock, iso
from release.ledger_file import create_whole, sqlite_path
from release.ledger_tables import REFUSED, events, metadata, runs
from release.log import redactor
from release.rollback_target import RunFacts


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def controller_name() -> str:
    """This machine's name, as recorded with runs and locks."""
    return socket.gethostname()


def process_alive(pid: int) -> bool:
    """True if a process with this pid exists on this machine (zombies count as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@dataclass(frozen=True)
class Run:
    """One deploy or rollback as recorded."""

    row: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.row[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_json(self) -> dict[str, Any]:
        """The `history --json` contract keys (and a few more).

        `reason` is the operator's reason (break-glass text included), also for a refused attempt;
        why a guard refused it is `refused_reason` (and `error`, which says why any run did not succeed).
        """
        keys = ("id", "env", "kind", "version", "release_id", "status", "operator", "reason")
        out = {k: self.row[k] for k in keys}
        out.update(
            started_at=self.row["started_at"],
            finished_at=self.row["finished_at"],
            hosts=json.loads(self.row["hosts"]),
            backup_id=self.row["backup_id"],
            break_glass=bool(self.row["break_glass"]),
            partial=bool(self.row["partial"]),
            previous_release_id=self.row["previous_release_id"],
            artifact_sha256=self.row["artifact_sha256"],
            error=self.row["error"],
            failed_host=self.row.get("failed_host"),
            failed_task=self.row.get("failed_task"),
            refused_reason=self.row["error"] if self.row["status"] == REFUSED else None,
        )
        return out


def _engine(url: str) -> Engine:
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _create_tables(target: Engine | str) -> None:
    """Create missing tables and columns (an older ledger gains the new ones, its rows kept)."""
    engine = _engine(target) if isinstance(target, str) else target
    try:
        metadata.create_all(engine)
    except OperationalError:  # another process created the tables between our check and our CREATE
        metadata.create_all(engine)
    _add_columns(engine)
    if isinstance(target, str):
        engine.dispose()


def _add_columns(engine: Engine) -> None:
    """Migrate in place: add the columns a table of an older ledger lacks (all nullable, so old rows stay valid).

    Plain `ALTER TABLE ... ADD COLUMN`, which SQLite and PostgreSQL both do without rewriting the table;
    code of the previous version keeps working on the migrated ledger (it names the columns it knows).
    """
    with engine.connect() as conn:
        found = {name: {c["name"] for c in inspect(conn).get_columns(name)} for name in metadata.tables}
    for table in metadata.sorted_tables:
        for column in table.columns:
            if column.name in found[table.name]:
                continue
            assert column.nullable and column.default is None, f"{table.name}.{column.name} cannot be added in place"
            quote, kind = engine.dialect.identifier_preparer.quote, column.type.compile(engine.dialect)
            try:
                with engine.begin() as conn:
                    conn.execute(text(f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {kind}"))
            except (OperationalError, ProgrammingError):  # another process added it first
                with engine.connect() as conn:
                    if column.name not in {c["name"] for c in inspect(conn).get_columns(table.name)}:
                        raise


class Ledger:
    """Records of runs, events and locks; one instance per command invocation."""

    def __init__(self, url: str, clock: Clock) -> None:
        self.clock = clock
        self.started: list[int] = []  # the runs this instance started (`start_run`), oldest first
        path = sqlite_path(url)
        if path is not None and not path.exists():
            create_whole(path, _create_tables)
        elif path is not None:
            ledger_file.check_existing(path)
            ledger_file.check_tables(path, set(metadata.tables))
        self.engine = _engine(url)
        _create_tables(self.engine)

    def now(self) -> str:
        """The clock's time as stored."""
        return iso(self.clock.now()) or ""

    def start_run(self, **values: Any) -> int:
        """Record a run as `running` and return its id."""
        run_id = self._insert_run(**values)
        self.started.append(run_id)
        return run_id

    def record_refusal(self, refusal: str, **values: Any) -> int:
        """Record an attempt a guard refused (status `refused`, `error` the refusal), started and ended now.

        One insert: no lock is taken (the lock may be what refused), no release is named, so the run
        never counts as any environment's release (see `run_facts`).
        """
        now = self.now()
        values = {**values, "release_id": None, "previous_release_id": None}
        return self._insert_run(**values, status=REFUSED, started_at=now, finished_at=now, error=redactor.mask(refusal))

    def _insert_run(self, **values: Any) -> int:
        values = {**values, "hosts": json.dumps(values.get("hosts", []))}
        if values.get("reason"):
            values["reason"] = redactor.mask(values["reason"])
        values.setdefault("status", "running")
        values.setdefault("started_at", self.now())
        values.setdefault("controller", controller_name())
        values.setdefault("pid", os.getpid())
        with self.engine.begin() as conn:
            key = conn.execute(insert(runs).values(**values)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def update_run(self, run_id: int, **values: Any) -> None:
        """Change fields of a running run (the pre-release dump's id, for example)."""
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def finish_run(self, run_id: int, status: str, error: str | None = None, **values: Any) -> None:
        """Mark a run ended; a failed one with `failed_host` and `failed_task` where they are known."""
        if "hosts" in values:
            values["hosts"] = json.dumps(values["hosts"])
        for key in ("failed_host", "failed_task"):
            if values.get(key):
                values[key] = redactor.mask(str(values[key]))
        with self.engine.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(status=status, finished_at=self.now(), error=redactor.mask(error) if error else None, **values)
            )

    def history(self, env: str | None = None, limit: int = 20) -> list[Run]:
        """Runs, newest first."""
        self.mark_interrupted()
        query = select(runs).order_by(runs.c.id.desc()).limit(limit)
        if env:
            query = query.where(runs.c.env == env)
        with self.engine.connect() as conn:
            return [Run(dict(r._mapping)) for r in conn.execute(query)]

    def succeeded_release_ids(self, env: str) -> list[str]:
        """Release ids whose deploy succeeded, oldest first, no repeats (rollbacks are not counted)."""
        query = (
            select(runs.c.release_id)
            .where(runs.c.env == env, runs.c.status == "succeeded", runs.c.kind == "deploy")
            .order_by(runs.c.id)
        )
        with self.engine.connect() as conn:
            ids = [r[0] for r in conn.execute(query) if r[0]]
        return sorted(set(ids))

    def run_facts(self, env: str) -> list[RunFacts]:
        """Every run of an environment that did something, oldest first: what a rollback's target is decided from.

        Refused attempts are left out: they changed nothing, so they are never a release to undo or go back to.
        """
        query = (
            select(runs.c.kind, runs.c.status, runs.c.release_id, runs.c.previous_release_id)
            .where(runs.c.env == env, runs.c.status != REFUSED)
            .order_by(runs.c.id)
        )
        with self.engine.connect() as conn:
            return [RunFacts(r.kind, r.status, r.release_id, r.previous_release_id) for r in conn.execute(query)]

    def unconfirmed(self, env: str, release_ids: Iterable[str]) -> dict[str, str]:
        """Of these releases, those no deploy or rollback of `env` ever finished with success, each with why.

        A kill -9 after the switch leaves hosts on a release whose run is `interrupted` (or still
        `running`, when its controller is another machine): the ledger never confirmed it.
        """
        wanted = sorted(set(release_ids))
        if not wanted:
            return {}
        query = (
            select(runs.c.id, runs.c.kind, runs.c.status, runs.c.release_id, runs.c.controller)
            .where(
                runs.c.env == env,
                runs.c.release_id.in_(wanted),
                runs.c.kind.in_(("deploy", "rollback")),
                runs.c.status != REFUSED,
            )
            .order_by(runs.c.id)
        )
        confirmed: set[str] = set()
        last: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                last[row.release_id] = row
                if row.status == "succeeded":
                    confirmed.add(row.release_id)
        notes = {}
        for release in wanted:
            if release in confirmed:
                continue
            if release not in last:
                notes[release] = "not in the ledger: not confirmed"
                continue
            run = last[release]
            if run.status == "running":
                where = "" if run.controller == controller_name() else f" on {run.controller}"
                notes[release] = f"{run.kind} run {run.id} still running{where}: not confirmed yet"
            else:
                notes[release] = f"{run.status} {run.kind} run {run.id}: not confirmed"
        return notes

    def mark_interrupted(self) -> None:
        """Runs left `running` by a process of this machine that no longer exists become `interrupted`."""
        here = controller_name()
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(runs.c.id, runs.c.pid).where(runs.c.status == "running", runs.c.controller == here)
            )
            dead = [r.id for r in rows if not process_alive(r.pid)]
            if dead:
                conn.execute(
                    update(runs)
                    .where(runs.c.id.in_(dead))
                    .values(status="interrupted", finished_at=self.now(), error="the release process died")
                )

    def add_event(self, env: str, kind: str, operator: str, message: str, **data: Any) -> None:
        """Record something that happened (lock cleared, break-glass, ...)."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(events).values(
                    env=env,
                    at=self.now(),
                    kind=kind,
                    operator=operator,
                    message=redactor.mask(message),
                    data=json.dumps(redactor.mask_values(data)),
                )
            )

    def events_for(self, env: str) -> list[dict[str, Any]]:
        """Every event of an environment, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(events).where(events.c.env == env).order_by(events.c.id))
            return [dict(r._mapping) for r in rows]

    def close(self) -> None:
        """Dispose of pooled connections."""
        self.engine.dispose()
