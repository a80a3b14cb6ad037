"""`release daemon`: every environment's scheduled jobs (backups, verifies), run by APScheduler, none dropped.

APScheduler alone forgets a run missed while the daemon was down or the machine slept (a re-added job
only looks forward). So the daemon also asks, at start and every minute, for every kind of job (see
`release.jobs`): is its last run older than its schedule's last due time? Then it runs at once, and
the log says why. `release daemon --once` is that check alone, for people who prefer cron.

Fire times are computed by `release.cron` (cron's day rule and daylight-saving behaviour), not by
APScheduler's own CronTrigger. Each job has its worker thread, and a "running" set keyed by job, so a
slow or failing verify never delays or blocks a backup, and two runs of one job never overlap. A
verify that fails marks that backup bad, so the next catch-up check no longer counts it as the last
success and takes a fresh backup.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from loguru import logger

from release import lock as locks
from release.backup.job import run_scheduled_backup
from release.backup.verify import run_scheduled_verify
from release.clock import iso
from release.context import Context
from release.cron import CronSchedule, cron_schedule
from release.errors import BadInput, Refused, ReleaseError
from release.inventory import Environment
from release.jobs import BACKUP, KINDS, VERIFY, JobKind, RunFn, due_reason, record_run, scheduled_environments
from release.ledger import controller_name

DAEMON_LOCK = "__daemon__"  # a row in the ledger's locks table: one daemon per ledger
CHECK_INTERVAL = 60.0  # seconds between catch-up checks: also how soon a wake-up from sleep is noticed
TICK = 0.5  # seconds: how soon a stop signal is acted on
RETRY_AFTER = 900.0  # seconds before a failed job is caught up again: retry, but do not flood alerts

BackupFn = RunFn
VerifyFn = RunFn


@dataclass(frozen=True)
class Job:
    """One kind of job for one environment, and its schedule."""

    kind: JobKind
    env: Environment
    schedule: CronSchedule

    @property
    def id(self) -> str:
        """The scheduler's job id, "<kind>:<env>"."""
        return f"{self.kind.name}:{self.env.name}"


def scheduled_jobs(ctx: Context, kinds: tuple[JobKind, ...] = KINDS) -> list[Job]:
    """Every (kind, environment) with a schedule, in kind order."""
    jobs = []
    for kind in kinds:
        for env in scheduled_environments(ctx, kind):
            cron = kind.cron(env)
            assert cron is not None  # validated when the inventory loaded
            jobs.append(Job(kind, env, cron_schedule(cron, env.zone)))
    return jobs


def due_jobs(ctx: Context, jobs: list[Job]) -> list[tuple[Job, str]]:
    """The jobs that missed a due run, each with the reason (by ctx.clock)."""
    now = ctx.clock.now()
    return [(job, why) for job in jobs if (why := due_reason(ctx, job.kind, job.env, now)) is not None]


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
    """One job the daemon ran: why, and how it ended."""

    env: str
    reason: str
    backup_id: str | None = None  # the backup taken, or verified
    error: str | None = None  # the job failed (raised), or its verdict was bad
    kind: str = BACKUP.name
    ran: bool = True  # the job did its work (False: it raised, and will be retried)

    @property
    def ok(self) -> bool:
        """The job ran and found nothing wrong (a backup taken and catalogued, a verify passed)."""
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        """As printed by `release daemon --once --json`."""
        return {
            "env": self.env,
            "kind": self.kind,
            "reason": self.reason,
            "ok": self.ok,
            "backup_id": self.backup_id,
            "error": self.error,
        }


def run_job(ctx: Context, job: Job, reason: str) -> Outcome:
    """Run one job; a failure is logged with the environment and error, and returned, never raised.

    A kind whose runs the daemon records (verify) is recorded here, whatever its verdict."""
    kind, env = job.kind, job.env
    try:
        made = kind.run(ctx, env)
    except Exception as exc:
        expected = isinstance(exc, ReleaseError | OSError)  # anything else is a bug: keep its traceback
        error = str(exc) or type(exc).__name__
        logger.opt(exception=None if expected and not ctx.verbose else exc).error(
            "{noun} of {env} ({why}) failed: {error}", noun=kind.noun, env=env.name, why=reason, error=error
        )
        return Outcome(env.name, reason, error=error, kind=kind.name, ran=False)
    record_run(ctx, kind, env, reason)
    verdict = None if getattr(made, "ok", True) else str(getattr(made, "error", None) or "failed")
    return Outcome(env.name, reason, backup_id=getattr(made, "id", None), error=verdict, kind=kind.name)


def run_due(
    ctx: Context, backup: BackupFn = run_scheduled_backup, verify: VerifyFn = run_scheduled_verify
) -> list[Outcome]:
    """`--once`: run every job whose last run is older than its last due time (backups first)."""
    jobs = scheduled_jobs(ctx, (replace(BACKUP, run=backup), replace(VERIFY, run=verify)))
    with daemon_lock(ctx, "daemon --once"):
        outcomes = []
        for job, why in due_jobs(ctx, jobs):
            logger.info("catch-up of {env}: {why}", env=job.env.name, why=why)
            outcomes.append(run_job(ctx, job, f"catch-up: {why}"))
    return outcomes


class _ToLoguru(logging.Handler):
    """APScheduler logs with `logging`; its warnings (a skipped overlapping run) belong in our log."""

    def emit(self, record: logging.LogRecord) -> None:
        logger.log(record.levelname, "scheduler: {}", record.getMessage())


class CronTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no type hints
    """APScheduler's trigger protocol over a `release.cron` schedule (cron's DST and day rules)."""

    __slots__ = ("schedule",)

    def __init__(self, schedule: CronSchedule) -> None:
        self.schedule = schedule

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """After the previous fire time, or from `now` on (inclusive)."""
        return self.schedule.get_next_fire_time(previous_fire_time, now)

    def __str__(self) -> str:
        return str(self.schedule)


class Daemon:
    """One cron job per scheduled (kind, environment), the catch-up check, and a clean stop on SIGTERM/SIGINT."""

    def __init__(
        self,
        ctx: Context,
        backup: BackupFn | None = None,
        check_interval: float = CHECK_INTERVAL,
        retry_after: float = RETRY_AFTER,
        verify: VerifyFn = run_scheduled_verify,
    ) -> None:
        self.ctx, self.check_interval, self.retry_after = ctx, check_interval, retry_after
        self._signalled = False  # set by the signal handler, which must take no lock
        self._stop = threading.Event()  # no new runs: seen by the worker threads
        # the real backup waits for a deploy's lock, but not past a stop
        run_backup = backup or partial(run_scheduled_backup, stop=self._stop)
        kinds = (replace(BACKUP, run=run_backup), replace(VERIFY, run=verify))
        self.jobs = {job.id: job for job in scheduled_jobs(ctx, kinds)}
        if not self.jobs:
            raise BadInput(
                f"no environment in {ctx.inventory_dir} has a backup.schedule or backup.verify_schedule: nothing to run"
            )
        self._guard = threading.Lock()  # over the three below, shared with the worker threads
        self._running: set[str] = set()  # job ids: a verify running never holds up a backup
        self._failed: dict[str, float] = {}  # job id -> monotonic time of its last failed run
        self._why: dict[str, str] = {}  # job id -> why its catch-up was asked for
        self._held = ExitStack()  # the daemon lock, from start() to stop()
        # Nothing persistent: jobs are rebuilt from the inventory at every start, so there is nothing
        # to unpickle; one worker per job, so a hung dump (or verify) never delays another job.
        self.scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(len(self.jobs))},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},  # late, never lost
            timezone=UTC,
        )
        apscheduler_log = logging.getLogger("apscheduler")
        if not any(isinstance(h, _ToLoguru) for h in apscheduler_log.handlers):
            apscheduler_log.addHandler(_ToLoguru(logging.WARNING))

    def start(self) -> list[tuple[str, str]]:
        """Take the daemon lock, schedule every job, and start what was missed (returned: env, why)."""
        self._held.enter_context(daemon_lock(self.ctx, "daemon"))
        for job in self.jobs.values():
            label = "" if job.kind.name == BACKUP.name else f"{job.kind.name} "
            name = f"{label}{job.schedule.spec.expr} {job.schedule.zone}"
            self.scheduler.add_job(self._run, CronTrigger(job.schedule), args=[job.id], id=job.id, name=name)
        self.scheduler.start()
        for scheduled in self.scheduler.get_jobs():
            logger.info("{job}: next run {at}", job=scheduled.id, at=iso(scheduled.next_run_time))
        return self.check_catch_ups()

    def check_catch_ups(self) -> list[tuple[str, str]]:
        """Run at once every job that missed a due time (at start, after a sleep, after a failure)."""
        started = []
        now = datetime.now(UTC)
        for job, why in due_jobs(self.ctx, list(self.jobs.values())):
            scheduled = self.scheduler.get_job(job.id)
            with self._guard:
                if job.id in self._running or (scheduled.next_run_time and scheduled.next_run_time <= now):
                    continue  # already on its way: asking again would only log a skipped run
                if time.monotonic() - self._failed.get(job.id, -self.retry_after) < self.retry_after:
                    continue  # failed a moment ago: retry later rather than alert every minute
                self._why[job.id] = f"catch-up: {why}"
            logger.warning("catch-up of {env} now: {why}", env=job.env.name, why=why)
            # the cron job itself runs it, so max_instances=1 covers scheduled and catch-up runs alike
            scheduled.modify(next_run_time=now)
            started.append((job.env.name, why))
        return started

    def _run(self, job_id: str) -> None:
        """The scheduler's callback: one run of a job, never two at once, none after a stop was asked for."""
        job = self.jobs[job_id]
        with self._guard:
            if self._stop.is_set():
                logger.info("not starting the {noun} of {env}: stopping", noun=job.kind.noun, env=job.env.name)
                return
            if job_id in self._running:
                logger.warning(
                    "{noun} of {env} skipped: the previous one is still running", noun=job.kind.noun, env=job.env.name
                )
                return
            self._running.add(job_id)
            reason = self._why.pop(job_id, "scheduled")
        outcome = None
        try:
            outcome = run_job(self.ctx, job, reason)
        finally:
            with self._guard:
                self._running.discard(job_id)
                if outcome is not None and outcome.ran:
                    self._failed.pop(job_id, None)
                else:
                    self._failed[job_id] = time.monotonic()

    def stop(self) -> None:
        """Start nothing new, let running jobs finish (none leaves anything behind), unlock."""
        self._stop.set()
        try:
            if self.scheduler.running:
                with self._guard:
                    running = sorted(self._running)
                if running:
                    logger.info("stopping: waiting for {jobs} to finish", jobs=", ".join(running))
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
            names = sorted({job.env.name for job in self.jobs.values()})
            logger.info("daemon running for {envs}", envs=", ".join(names))
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
    """The scheduler job of an environment's backups."""
    return f"{BACKUP.name}:{env}"


def verify_job_id(env: str) -> str:
    """The scheduler job verifying an environment's backups."""
    return f"{VERIFY.name}:{env}"
