"""Backups as a check: the newest successful backup is younger than the environment's `backup.max_age`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from release.backup.health import backup_health
from release.checks.base import CheckResult
from release.context import Context
from release.inventory import Environment


def backup_fresh(ctx: Context, env: Environment) -> CheckResult:
    """Gather the backup health (release.backup.health) and judge it; nothing to judge without a backup: block."""
    if env.inventory.database is None or env.inventory.backup is None:
        return CheckResult("ok", f"{env.name}: no backup: block, freshness not checked", {"configured": False})
    return judge_backup_fresh(backup_health(ctx, env))


def judge_backup_fresh(health: Mapping[str, Any]) -> CheckResult:
    """`health` as `backup_health` gives it: ok when the newest good backup is at most `max_age_seconds` old."""
    env, age, max_age = health["env"], health["age_seconds"], float(health["max_age_seconds"])
    evidence = {k: health.get(k) for k in ("last_success", "last_backup_id", "age_seconds", "max_age_seconds")}
    fix = f"run `release backup run {env}`, and schedule it (backup.schedule) with `release daemon`"
    if age is None:
        return CheckResult("fail", f"{env}: no successful backup", evidence, fix)
    hours, limit = age / 3600, max_age / 3600
    if age > max_age:
        reason = f"{env}: the newest backup ({health['last_backup_id']}) is {hours:.1f} h old, over max_age {limit:g} h"
        return CheckResult("fail", reason, evidence, fix)
    return CheckResult("ok", f"{env}: newest backup {health['last_backup_id']} is {hours:.1f} h old", evidence)
