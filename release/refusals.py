"""Refused attempts go on record: an audit asks who tried to change what, and when, not only what was done.

A deploy, rollback or restore that a guard refuses (window closed, lock held, isolation, preflight,
checklist: everything that raises `Refused`, exit 3) is recorded as a run with status `refused`: the
operator, the environment, the kind, the version asked for, the operator's reason and the refusal.
It names no release, so it never counts as an environment's release (`Ledger.run_facts`).

Recording takes no lock (the lock may be what refused) and never turns the refusal into another
error: a ledger that cannot be written costs a warning, and the command still exits 3. The run
lifecycle (`release.lifecycle.run.Lifecycle`) records a refusal that ends it before a run was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loguru import logger

from release.context import Context


@dataclass(frozen=True)
class Attempt:
    """What an operator tried: recorded as it was asked if a guard refuses it."""

    kind: str  # deploy | rollback | restore
    env: str
    version: str | None = None
    reason: str | None = None  # the operator's reason, break-glass text included
    break_glass: bool = False
    hosts: list[str] = field(default_factory=list)  # the hosts named (--limit); none: all of them
    backup_id: str | None = None


def operator_reason(reason: str | None, break_glass: str | None) -> str | None:
    """The reason as recorded: the operator's, and the break-glass text."""
    return "; ".join(filter(None, [reason, break_glass_text(break_glass)])) or None


def break_glass_text(text: str | None) -> str | None:
    """`break-glass: why`, as the ledger's reason holds it."""
    return f"break-glass: {text.strip()}" if text else None


def record(ctx: Context, attempt: Attempt, refusal: str) -> int | None:
    """Record one refused attempt; on any ledger failure log a warning and return None."""
    try:
        run_id = ctx.ledger.record_refusal(
            refusal,
            env=attempt.env,
            kind=attempt.kind,
            version=attempt.version,
            operator=ctx.operator,
            reason=attempt.reason,
            break_glass=attempt.break_glass,
            hosts=list(attempt.hosts),
            partial=bool(attempt.hosts),
            backup_id=attempt.backup_id,
        )
    except Exception as exc:  # noqa: BLE001 - the refusal is what the operator must see, not the ledger's trouble
        first = (str(getattr(exc, "orig", None) or exc).splitlines() or [type(exc).__name__])[0]
        logger.warning("the refusal could not be recorded in the ledger: {error}", error=first)
        return None
    logger.debug("refusal recorded in the ledger as run {id}", id=run_id)
    return run_id
