"""Who hears of every event: registered here, in one place (issue 12).

The ledger's event log, the backup metrics textfile and the backup failure webhook are subscribers of
the event bus; the work-chat announcements of later issues register beside them. Each is bounded in
time by the bus and its failure is logged and recorded, never raised into the work that published.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from release.events import (
    BackupFailed,
    BackupSucceeded,
    BackupVerified,
    BreakGlassUsed,
    DatabaseRestored,
    Event,
    EventBus,
)

if TYPE_CHECKING:
    from release.context import Context
    from release.inventory import Environment


def default_bus(ctx: Context) -> EventBus:
    """The bus of one invocation, with every subscriber the inventory asks for."""
    bus = EventBus()
    logged = (BackupFailed, BackupVerified, BreakGlassUsed, DatabaseRestored)
    bus.subscribe("ledger", lambda event: ledger_log(ctx, event), *logged)
    bus.subscribe("metrics", lambda event: _with_env(ctx, event, _metrics), BackupSucceeded, BackupFailed)
    bus.subscribe("alert webhook", lambda event: _with_env(ctx, event, _alert), BackupFailed, BackupVerified)
    bus.on_problem = lambda event, text: ctx.ledger.add_event(event.env, "subscriber-failed", ctx.operator, text)
    return bus


def ledger_log(ctx: Context, event: Event) -> None:
    """The ledger's event log: what an audit reads besides the runs (`release unlock` records its own)."""
    ledger, env = ctx.ledger, event.env
    if isinstance(event, BackupFailed):
        ledger.add_event(env, "backup-failed", event.operator, event.error, backup_kind=event.kind)
    elif isinstance(event, BackupVerified) and not event.ok:
        message = f"backup {event.backup_id} {event.detail}"
        ledger.add_event(env, "verify-failed", ctx.operator, message, backup=event.backup_id)
    elif isinstance(event, BreakGlassUsed):
        ledger.add_event(env, "break-glass", event.operator, event.reason, window=event.window)
    elif isinstance(event, DatabaseRestored):
        ledger.add_event(env, "restore", ctx.operator, event.detail, backup=event.backup_id)


def _with_env(ctx: Context, event: Event, act: Callable[[Context, Environment, Event], None]) -> None:
    act(ctx, ctx.loaded(event.env), event)


def _metrics(ctx: Context, env: Environment, event: Event) -> None:
    from release.backup.notify import write_metrics

    write_metrics(ctx, env, event.duration if isinstance(event, BackupSucceeded) else None)


def _alert(ctx: Context, env: Environment, event: Event) -> None:
    from release.backup.notify import alert

    if isinstance(event, BackupFailed):
        alert(ctx, env, event.error)
    elif isinstance(event, BackupVerified) and not event.ok:
        alert(ctx, env, f"backup {event.backup_id} {event.detail}")
