"""The ledger: who released what, when, why, and how it ended; plus deploy locks.

SQLAlchemy Core over SQLite (default, `<project>/.release/ledger.db`) or PostgreSQL
(RELEASE_LEDGER_URL) so a team shares one record. Every write is one transaction.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from release import ledger_file
from release.clock import Clock, iso
from release.ledger_file import create_whole, sqlite_path
from release.log import redactor
from release.rollback_target import RunFacts

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("env", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # deploy | rollback | restore
    Column("version", String(64)),
    Column("release_id", String(96)),
    Column("previous_release_id", String(96)),  # what was current before (a rollback: the release undone)
    Column("status", String(16), nullable=False),  # running | succeeded | failed | interrupted
    Column("operator", String(128), nullable=False),
    Column("reason", Text),
    Column("break_glass", Boolean, nullable=False, default=False),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("hosts", Text, nullable=False),  # JSON list of host names
    Column("partial", Boolean, nullable=False, default=False),
    Column("artifact_sha256", String(64)),
    Column("backup_id", String(128)),
    Column("controller", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("error", Text),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("env", String(64), nullable=False, index=True),
    Column("at", String(40), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("operator", String(128), nullable=False),
    Column("message", Text, nullable=False),
    Column("data", Text),
)

locks = Table(
    "locks",
    metadata,
    Column("env", String(64), primary_key=True),
    Column("operator", String(128), nullable=False),
    Column("controller", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("version", String(64)),
    Column("command", String(32), nullable=False),
)


backups = Table(
    "backups",
    metadata,
    Column("id", String(160), primary_key=True),
    Column("env", String(64), nullable=False, index=True),
    Column("engine", String(16), nullable=False),
    Column("kind", String(16), nullable=False),  # scheduled | manual | pre-release | safety
    Column("created_at", String(40), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("release_id", String(96)),
    Column("pinned", Boolean, nullable=False, default=False),
    Column("verified_at", String(40)),
    Column("verify_error", Text),
    Column("path", Text, nullable=False),
    Column("remote_path", Text),
    Column("format", String(32), nullable=False),
    Column("server_version", String(64)),
    Column("database", String(255)),
    Column("tables", Text),
)


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
        """The `history --json` contract keys (and a few more)."""
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
        )
        return out


def _engine(url: str) -> Engine:
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _create_tables(target: Engine | str) -> None:
    """Create missing tables (an older ledger gains the new ones)."""
    engine = _engine(target) if isinstance(target, str) else target
    try:
        metadata.create_all(engine)
    except OperationalError:  # another process created the tables between our check and our CREATE
        metadata.create_all(engine)
    if isinstance(target, str):
        engine.dispose()


class Ledger:
    """Records of runs, events and locks; one instance per command invocation."""

    def __init__(self, url: str, clock: Clock) -> None:
        self.clock = clock
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
        """Mark a run ended."""
        if "hosts" in values:
            values["hosts"] = json.dumps(values["hosts"])
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
        """Every run of an environment, oldest first: what a rollback's target is decided from."""
        query = (
            select(runs.c.kind, runs.c.status, runs.c.release_id, runs.c.previous_release_id)
            .where(runs.c.env == env)
            .order_by(runs.c.id)
        )
        with self.engine.connect() as conn:
            return [RunFacts(r.kind, r.status, r.release_id, r.previous_release_id) for r in conn.execute(query)]

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
                    data=redactor.mask(json.dumps(data)),
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
