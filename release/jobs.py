"""Kinds of scheduled job (backup, verify; reports to come) and when each was last due and last done.

The daemon treats every kind alike: a cron job per environment that has the kind's schedule, and a
catch-up check at start and every minute. A job is owed when its schedule's last due time is later
than the last time the job did its work: then it runs at once, so a run missed while the daemon was
down, the machine slept, or a clock change skipped it is never lost. Each kind says only how to run
it and where that "last done" lives: a backup's is the newest catalogued backup (so a failed dump
never counts), a verify's is the ledger event the daemon writes after a scheduled verify ran.

Adding a kind is one more JobKind in KINDS; the daemon, `daemon --once` and the catch-up need no edit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from release.backup.catalog import list_backups
from release.backup.job import run_scheduled_backup
from release.backup.verify import run_scheduled_verify
from release.clock import iso
from release.context import Context
from release.cron import cron_schedule
from release.inventory import Environment, environment_names
from release.ledger_tables import events

RunFn = Callable[[Context, Environment], Any]


@dataclass(frozen=True)
class JobKind:
    """One kind of scheduled job: where its cron is, how to run it, and how its last run is known."""

    name: str  # job ids are "<name>:<env>"
    noun: str  # in log lines and reasons: "backup", "scheduled verify"
    done: str  # what a success is called by `daemon --once`: "backed up", "verified"
    path: tuple[str, ...]  # the inventory key of its cron, e.g. ("backup", "schedule")
    run: RunFn
    last_done: Callable[[Context, Environment], datetime | None]
    recorded: bool = False  # the daemon writes a "<name>-ran" event after each run (else `run` records it)
    idle: Callable[[Context, Environment], bool] = lambda ctx, env: False  # nothing to work on: no catch-up

    def cron(self, env: Environment) -> str | None:
        """The environment's cron for this kind, None when it has none."""
        value: Any = env.inventory
        for part in self.path:
            value = getattr(value, part, None)
            if value is None:
                return None
        return str(value) if value else None


def last_success(ctx: Context, env: Environment) -> datetime | None:
    """When the newest catalogued backup was taken: only complete dumps are catalogued, failures never."""
    times = [datetime.fromisoformat(b.created_at) for b in list_backups(ctx.ledger, env.name) if not b.verify_error]
    return max(times, default=None)


def ran_event(kind: JobKind) -> str:
    """The ledger event a recorded kind's run leaves behind."""
    return f"{kind.name}-ran"


def last_recorded(kind_name: str) -> Callable[[Context, Environment], datetime | None]:
    """When the daemon last recorded a run of this kind for an environment (its newest `<kind>-ran` event)."""

    def last(ctx: Context, env: Environment) -> datetime | None:
        query = (
            select(events.c.at)
            .where(events.c.env == env.name, events.c.kind == f"{kind_name}-ran")
            .order_by(events.c.id.desc())
            .limit(1)
        )
        with ctx.ledger.engine.connect() as conn:
            at = conn.execute(query).scalar()
        return datetime.fromisoformat(at) if at else None

    return last


def record_run(ctx: Context, kind: JobKind, env: Environment, reason: str) -> None:
    """Note that a recorded kind ran (whatever its verdict): its catch-up counts from here."""
    if kind.recorded:
        ctx.ledger.add_event(env.name, ran_event(kind), ctx.operator, f"{kind.noun} ran ({reason})")


def _no_backup(ctx: Context, env: Environment) -> bool:
    return not list_backups(ctx.ledger, env.name)


BACKUP = JobKind("backup", "backup", "backed up", ("backup", "schedule"), run_scheduled_backup, last_success)
VERIFY = JobKind(
    "verify",
    "scheduled verify",
    "verified",
    ("backup", "verify_schedule"),
    run_scheduled_verify,
    last_recorded("verify"),
    recorded=True,
    idle=_no_backup,  # nothing to verify yet: the first backup's own catch-up comes first
)
KINDS = (BACKUP, VERIFY)


def scheduled_environments(ctx: Context, kind: JobKind) -> list[Environment]:
    """Every environment of the inventory with this kind's schedule (checked when the inventory loaded)."""
    found = []
    for name in environment_names(ctx.inventory_dir):
        env = ctx.environment(name)
        if kind.cron(env) is None:
            continue
        if env.inventory.database is None:
            raise env.source.error(kind.path, f"{'.'.join(kind.path)} needs a database block")
        found.append(env)
    return found


def due_reason(ctx: Context, kind: JobKind, env: Environment, now: datetime) -> str | None:
    """Why this kind's job must run for `env` now (its last run is older than its last due time), or None."""
    cron = kind.cron(env)
    assert cron is not None
    due = cron_schedule(cron, env.zone).last_fire(now)
    if due is None or kind.idle(ctx, env):
        return None
    last = kind.last_done(ctx, env)
    if last is None:
        return f"no {kind.noun} yet, and {cron!r} was due at {iso(due)}"
    if last < due:
        return f"the last {kind.noun} ({iso(last)}) is older than the last due time of {cron!r} ({iso(due)})"
    return None
