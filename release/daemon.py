"""`release daemon`: every environment's `backup.schedule`, run by APScheduler, and no missed backup dropped.

APScheduler alone forgets a run missed while the daemon was down or the machine slept (a re-added job
only looks forward). So the daemon also asks the catalog, at start and every minute: is the newest
backup older than the schedule's last due time? Then that environment is backed up at once, and the
log says why. `release daemon --once` is that check alone, for people who prefer cron.

An environment with `backup.verify_schedule` also gets a verify job: at each due time it verifies its
newest backup not verified yet (else its newest), in a scratch copy. Verify jobs have worker threads
and a "running" set of their own, so a slow or failing verify never delays or blocks a backup; like
backups, two verifies of one environment never overlap. A verify that fails marks that backup bad,
so the next catch-up check no longer counts it as the last success and takes a fresh backup.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from loguru import logger

from release import lock as locks
from release.backup.catalog import list_backups
from release.backup.job import run_scheduled_backup
from release.backup.prune import schedule_zone
from release.backup.verify import run_scheduled_verify
from release.clock import iso
from release.context import Context
from release.cron import cron_trigger, last_due
from release.errors import BadInput, Refused, ReleaseError
from release.inventory import Environment, environment_names
from release.ledger import controller_name

DAEMON_LOCK = "__daemon__"  # a row in the ledger's locks table: one daemon per ledger
CHECK_INTERVAL = 60.0  # seconds between catch-up checks: also how soon a wake-up from sleep is noticed
TICK = 0.5  # seconds: how soon a stop signal is acted on
RETRY_AFTER = 900.0  # seconds before a failed environment is caught up again: retry, but do not flood alerts

BackupFn = Callable[[Context, Environment], Any]
VerifyFn = Callable[[Context, Environment], Any]


def scheduled_environments(ctx: Context, key: str = "schedule") -> list[Environment]:
    """Every environment of the inventory with a `backup.<key>` (schedule or verify_schedule), its cron
    checked (file:line, exit 2)."""
    found = []
    for name in environment_names(ctx.inventory_dir):
        env = ctx.environment(name)
        spec = env.inventory.backup
        cron = getattr(spec, key) if spec is not None else None
        if not cron:
            continue
        try:
            never = cron_trigger(cron, schedule_zone(env)).get_next_fire_time(None, ctx.clock.now()) is None
        except ValueError as exc:
            raise env.source.error(("backup", key), f"{cron!r} is not a cron schedule: {exc}") from None
        if never:
            raise env.source.error(("backup", key), f"{cron!r} never fires (no such date)")
        if env.inventory.database is None:
            raise env.source.error(("backup", key), f"a backup {key.replace('_', ' ')} needs a database block")
        found.append(env)
    return found


def last_success(ctx: Context, env: Environment) -> datetime | None:
    """When the newest catalogued backup was taken: only complete dumps are catalogued, failures never."""
    times = [datetime.fromisoformat(b.created_at) for b in list_backups(ctx.ledger, env.name) if not b.verify_error]
    return max(times, default=None)


def due_reason(ctx: Context, env: Environment, now: datetime) -> str | None:
    """Why `env` must be backed up now (its last backup is older than its last due time), or None."""
    assert env.inventory.backup is not None and env.inventory.backup.schedule
    cron = env.inventory.backup.schedule
    due = last_due(cron, schedule_zone(env), now)
    if due is None:
        return None
    last = last_success(ctx, env)
    if last is None:
        return f"no backup yet, and {cron!r} was due at {iso(due)}"
    if last < due:
        return f"the last backup ({iso(last)}) is older than the last due time of {cron!r} ({iso(due)})"
    return None


def due_environments(ctx: Context, environments: list[Environment]) -> list[tuple[Environment, str]]:
    """The environments that missed a due backup, each with the reason (by ctx.clock)."""
    now = ctx.clock.now()
    return [(env, why) for env in environments if (why := due_reason(ctx, env, now)) is not None]


@contextmanager
def daemon_lock(ctx: Context, command: str) -> Iterator[None]:
    """Hold the ledger's daemon lock; refuse (exit 3) naming a live holder, take over a dead one."""
    while (holder := locks.try_acquire(ctx.ledger, DAEMON_LOCK, ctx.operator, command, None)) is not None:
        # a container restarts with the same pid: a row naming *us* was left by our previous life
        ours = holder.pid == os.getpid() and holder.controller == controller_name()
        if not (holder.stale or ours):
            raise Refused(
                f"another release daemon is running for this ledger: pid {holder.pid} on {holder.controller} "
                f"(started {holder.started_at} by {holder.operator}, {holder.command})"
            )
        logger.warning("taking over the lock of a daemon that died: {h}", h=holder.describe())
        locks.drop_holder(ctx.ledger, holder)
        ctx.ledger.add_event(
            DAEMON_LOCK, "unlock", ctx.operator, "stale daemon lock taken over", holder=holder.to_json()
        )
    try:
        yield
    finally:
        locks.release(ctx.ledger, DAEMON_LOCK)


@dataclass(frozen=True)
class Outcome:
    """One backup the daemon ran: why, and how it ended."""

    env: str
    reason: str
    backup_id: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """The backup was taken and catalogued."""
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        """As printed by `release daemon --once --json`."""
        return {"env": self.env, "reason": self.reason, "ok": self.ok, "backup_id": self.backup_id, "error": self.error}


def backup_now(ctx: Context, env: Environment, reason: str, backup: BackupFn) -> Outcome:
    """Run one backup; a failure is logged with the environment and error, and returned, never raised."""
    try:
        made = backup(ctx, env)
    except Exception as exc:
        expected = isinstance(exc, ReleaseError | OSError)  # anything else is a bug: keep its traceback
        error = str(exc) or type(exc).__name__
        logger.opt(exception=None if expected and not ctx.verbose else exc).error(
            "backup of {env} ({why}) failed: {error}", env=env.name, why=reason, error=error
        )
        return Outcome(env.name, reason, error=error)
    return Outcome(env.name, reason, backup_id=getattr(made, "id", None))


def verify_now(ctx: Context, env: Environment, verify: VerifyFn) -> None:
    """Run one scheduled verify; its verdict is recorded and alerted by `verify`, anything else is logged."""
    try:
        verify(ctx, env)
    except Exception as exc:
        expected = isinstance(exc, ReleaseError | OSError)  # anything else is a bug: keep its traceback
        logger.opt(exception=None if expected and not ctx.verbose else exc).error(
            "scheduled verify of {env} failed: {error}", env=env.name, error=str(exc) or type(exc).__name__
        )


def run_due(ctx: Context, backup: BackupFn = run_scheduled_backup) -> list[Outcome]:
    """`--once`: back up every environment whose last backup is older than its last due time."""
    environments = scheduled_environments(ctx)
    with daemon_lock(ctx, "daemon --once"):
        outcomes = []
        for env, why in due_environments(ctx, environments):
            logger.info("catch-up of {env}: {why}", env=env.name, why=why)
            outcomes.append(backup_now(ctx, env, f"catch-up: {why}", backup))
    return outcomes


class _ToLoguru(logging.Handler):
    """APScheduler logs with `logging`; its warnings (a skipped overlapping run) belong in our log."""

    def emit(self, record: logging.LogRecord) -> None:
        logger.log(record.levelname, "scheduler: {}", record.getMessage())


class Daemon:
    """One cron job per scheduled environment (and per verify schedule), the catch-up check, and a clean
    stop on SIGTERM/SIGINT."""

    def __init__(
        self,
        ctx: Context,
        backup: BackupFn | None = None,
        check_interval: float = CHECK_INTERVAL,
        retry_after: float = RETRY_AFTER,
        verify: VerifyFn = run_scheduled_verify,
    ) -> None:
        self.ctx, self.check_interval, self.retry_after = ctx, check_interval, retry_after
        self.verify = verify
        self.environments = {env.name: env for env in scheduled_environments(ctx)}
        self.verify_environments = {env.name: env for env in scheduled_environments(ctx, "verify_schedule")}
        if not self.environments and not self.verify_environments:
            raise BadInput(
                f"no environment in {ctx.inventory_dir} has a backup.schedule or backup.verify_schedule: nothing to run"
            )
        self._signalled = False  # set by the signal handler, which must take no lock
        self._stop = threading.Event()  # no new backups: seen by the worker threads
        # the real backup waits for a deploy's lock, but not past a stop
        self.backup: BackupFn = backup or partial(run_scheduled_backup, stop=self._stop)
        self._guard = threading.Lock()  # over the three below, shared with the worker threads
        self._running: set[str] = set()
        self._verifying: set[str] = set()  # apart from _running: a verify never holds up a backup
        self._failed: dict[str, float] = {}  # environment -> monotonic time of its last failed run
        self._why: dict[str, str] = {}  # environment -> why its catch-up was asked for
        self._held = ExitStack()  # the daemon lock, from start() to stop()
        # Nothing persistent: jobs are rebuilt from the inventory at every start, so there is nothing
        # to unpickle; one worker per job, so a hung dump (or verify) never delays another job.
        self.scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(len(self.environments) + len(self.verify_environments))},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},  # late, never lost
            timezone=UTC,
        )
        apscheduler_log = logging.getLogger("apscheduler")
        if not any(isinstance(h, _ToLoguru) for h in apscheduler_log.handlers):
            apscheduler_log.addHandler(_ToLoguru(logging.WARNING))

    def start(self) -> list[tuple[str, str]]:
        """Take the daemon lock, schedule every environment, and start what was missed (returned)."""
        self._held.enter_context(daemon_lock(self.ctx, "daemon"))
        for name, env in self.environments.items():
            assert env.inventory.backup is not None and env.inventory.backup.schedule
            cron, zone = env.inventory.backup.schedule, schedule_zone(env)
            self.scheduler.add_job(
                self._scheduled, cron_trigger(cron, zone), args=[name], id=job_id(name), name=f"{cron} {zone}"
            )
        for name, env in self.verify_environments.items():
            assert env.inventory.backup is not None and env.inventory.backup.verify_schedule
            cron, zone = env.inventory.backup.verify_schedule, schedule_zone(env)
            trigger = cron_trigger(cron, zone)
            self.scheduler.add_job(
                self._verify, trigger, args=[name], id=verify_job_id(name), name=f"verify {cron} {zone}"
            )
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            logger.info("{job}: next run {at}", job=job.id, at=iso(job.next_run_time))
        return self.check_catch_ups()

    def check_catch_ups(self) -> list[tuple[str, str]]:
        """Run at once every environment that missed a due time (at start, after a sleep, after a failure)."""
        started = []
        now = datetime.now(UTC)
        for env, why in due_environments(self.ctx, list(self.environments.values())):
            job = self.scheduler.get_job(job_id(env.name))
            with self._guard:
                if env.name in self._running or (job.next_run_time and job.next_run_time <= now):
                    continue  # already on its way: asking again would only log a skipped run
                if time.monotonic() - self._failed.get(env.name, -self.retry_after) < self.retry_after:
                    continue  # failed a moment ago: retry later rather than alert every minute
                self._why[env.name] = f"catch-up: {why}"
            logger.warning("catch-up of {env} now: {why}", env=env.name, why=why)
            # the cron job itself runs it, so max_instances=1 covers scheduled and catch-up runs alike
            job.modify(next_run_time=now)
            started.append((env.name, why))
        return started

    def _scheduled(self, name: str) -> None:
        """The job: one backup of `name`, never two at once, none after a stop was asked for."""
        with self._guard:
            if self._stop.is_set():
                logger.info("not starting the backup of {env}: stopping", env=name)
                return
            if name in self._running:
                logger.warning("backup of {env} skipped: the previous one is still running", env=name)
                return
            self._running.add(name)
            reason = self._why.pop(name, "scheduled")
        outcome = None
        try:
            outcome = backup_now(self.ctx, self.environments[name], reason, self.backup)
        finally:
            with self._guard:
                self._running.discard(name)
                if outcome is not None and outcome.ok:
                    self._failed.pop(name, None)
                else:
                    self._failed[name] = time.monotonic()

    def _verify(self, name: str) -> None:
        """The verify job: one scheduled verify of `name`, never two at once, none after a stop was asked for."""
        with self._guard:
            if self._stop.is_set():
                logger.info("not starting the verify of {env}: stopping", env=name)
                return
            if name in self._verifying:
                logger.warning("verify of {env} skipped: the previous one is still running", env=name)
                return
            self._verifying.add(name)
        try:
            verify_now(self.ctx, self.verify_environments[name], self.verify)
        finally:
            with self._guard:
                self._verifying.discard(name)

    def stop(self) -> None:
        """Start nothing new, let running backups and verifies finish (neither leaves anything behind), unlock."""
        self._stop.set()
        try:
            if self.scheduler.running:
                with self._guard:
                    running = sorted(self._running)
                    verifying = sorted(self._verifying)
                if running:
                    logger.info("stopping: waiting for the backup of {envs} to finish", envs=", ".join(running))
                if verifying:
                    logger.info("stopping: waiting for the verify of {envs} to finish", envs=", ".join(verifying))
                self.scheduler.shutdown(wait=True)
        finally:
            self._held.close()

    def run(self) -> None:
        """Until SIGTERM/SIGINT: the schedule, plus a catch-up check every `check_interval` seconds.

        The wall clock is compared with the monotonic one so a sleep of the machine is named in the log.
        """
        handlers = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            logger.info(
                "daemon running for {envs}", envs=", ".join(sorted({*self.environments, *self.verify_environments}))
            )
            wall, mono = self.ctx.clock.now(), time.monotonic()
            while not self._signalled:
                time.sleep(TICK)
                if time.monotonic() - mono < self.check_interval or self._signalled:
                    continue
                jump = (self.ctx.clock.now() - wall).total_seconds() - (time.monotonic() - mono)
                if jump > self.check_interval:
                    logger.warning("the wall clock moved {s:.0f}s more than this process ran (asleep?)", s=jump)
                wall, mono = self.ctx.clock.now(), time.monotonic()
                self.check_catch_ups()
            logger.info("stop requested: no new backups")
        finally:
            self.stop()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # only a plain flag: a lock (logging, Event.set) taken here can deadlock with the interrupted code
        self._signalled = True


def job_id(env: str) -> str:
    """The scheduler job of an environment."""
    return f"backup:{env}"


def verify_job_id(env: str) -> str:
    """The scheduler job verifying an environment's backups."""
    return f"verify:{env}"
