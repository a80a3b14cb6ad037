"""The per-environment deploy lock, kept in the ledger so every controller of a team sees it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from loguru import logger
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from release.checks.base import CheckResult
from release.checks.lock import WAIT_FIX, judge_lock
from release.errors import Refused
from release.ledger import Ledger, controller_name, process_alive
from release.ledger_tables import locks
from release.lock_holder import TAKEOVER_PREFIX, LockHolder

BACKUP_WAIT = 3 * 3600.0  # seconds a deploy, rollback or restore waits for a running backup


class LockWaitCancelled(Refused):
    """The wait for a lock was given up (a daemon stopping): nothing failed, nothing to alert."""


def holder(ledger: Ledger, env: str) -> LockHolder | None:
    """The current holder of `env`'s lock, if any."""
    with ledger.engine.connect() as conn:
        row = conn.execute(select(locks).where(locks.c.env == env)).first()
    return LockHolder(**dict(row._mapping)) if row else None


def try_acquire(ledger: Ledger, env: str, operator: str, command: str, version: str | None) -> LockHolder | None:
    """Take the lock atomically; on failure return who holds it."""
    values = dict(
        env=env,
        operator=operator,
        controller=controller_name(),
        pid=os.getpid(),
        started_at=ledger.now(),
        version=version,
        command=command,
    )
    try:
        with ledger.engine.begin() as conn:
            conn.execute(insert(locks).values(**values))
        return None
    except IntegrityError:
        return holder(ledger, env)


@contextmanager
def deploy_lock(
    ledger: Ledger,
    env: str,
    operator: str,
    command: str,
    version: str | None = None,
    wait: float = 0,
    give_up: Callable[[], bool] | None = None,
) -> Iterator[None]:
    """Hold `env`'s lock for the block; refuse (exit 3) naming the holder, or wait up to `wait` s.

    Every command that changes an environment's hosts or database holds it, and so does a scheduled
    backup: a nightly dump never runs in the middle of a deploy's migration. `give_up` ends a wait early
    (a daemon that is stopping).
    """
    waited = 0.0
    while (current := try_acquire(ledger, env, operator, command, version)) is not None:
        backup = current.command.startswith(TAKEOVER_PREFIX)
        if current.stale and backup:
            logger.warning("taking over the lock of a backup that died: {h}", h=current.describe())
            drop_holder(ledger, current)
            ledger.add_event(env, "unlock", operator, "lock of a dead backup taken over", holder=current.to_json())
            continue
        if current.stale:
            raise _refusal(env, current)
        if give_up is not None and give_up():
            raise LockWaitCancelled(f"{env}: stopped while waiting for the lock held by {current.describe()}")
        if backup and waited < BACKUP_WAIT:
            if waited == 0:  # a backup ends by itself and changes nothing: wait for it instead of refusing
                logger.info("{env}: waiting for the running backup to finish ({h})", env=env, h=current.describe())
        elif waited >= wait:
            raise _refusal(env, current, wait, waited)
        ledger.clock.sleep(1.0)
        waited += 1.0
    try:
        yield
    finally:
        release(ledger, env)


def _refusal(env: str, current: LockHolder, wait: float = 0, waited: float = 0) -> Refused:
    """The refusal in `judge_lock`'s words, as a guard says it before the lock is tried; after a wait, its length.

    The one case the check does not judge: a backup still running after BACKUP_WAIT (the check lets
    a change wait for any backup), refused as any live holder is.
    """
    result = judge_lock(env, current)
    if result.ok:
        result = CheckResult("fail", f"{env} is locked by {current.describe()}", result.evidence, WAIT_FIX)
    if wait > 0 and not current.stale:
        result = replace(result, fix=f"(waited {waited:.0f}s)")
    return Refused(result.message())


def drop_holder(ledger: Ledger, holder: LockHolder) -> None:
    """Remove this holder's lock row (not a newer holder's)."""
    with ledger.engine.begin() as conn:
        conn.execute(
            delete(locks).where(
                locks.c.env == holder.env, locks.c.pid == holder.pid, locks.c.controller == holder.controller
            )
        )


def release(ledger: Ledger, env: str) -> None:
    """Drop the lock held by this process."""
    with ledger.engine.begin() as conn:
        conn.execute(
            delete(locks).where(locks.c.env == env, locks.c.pid == os.getpid(), locks.c.controller == controller_name())
        )


def clear(ledger: Ledger, env: str, operator: str, reason: str, force: bool = False) -> LockHolder:
    """`release unlock`: remove a lock whose holder is gone (or any lock with `force`), recording why."""
    current = holder(ledger, env)
    if current is None:
        raise Refused(f"{env} is not locked")
    alive_here = current.controller == controller_name() and process_alive(current.pid)
    if alive_here and not force:
        raise Refused(f"{env} is locked by a running process: {current.describe()}; it has not died")
    drop_holder(ledger, current)
    ledger.add_event(env, "unlock", operator, reason, holder=current.to_json())
    ledger.mark_interrupted()
    return current
