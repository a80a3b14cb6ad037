"""Telling people and monitoring about backups: a Prometheus textfile and a webhook on failure."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

from loguru import logger

from release.backup.catalog import list_backups
from release.context import Context
from release.inventory import Environment


def failures(ctx: Context, env: Environment) -> list[dict[str, object]]:
    """Recorded backup failures of an environment, oldest first."""
    return [e for e in ctx.ledger.events_for(env.name) if e["kind"] == "backup-failed"]


def write_metrics(ctx: Context, env: Environment, duration: float | None = None) -> Path | None:
    """Rewrite `backup.metrics_file` atomically (node_exporter's textfile collector reads it)."""
    spec = env.inventory.backup
    if spec is None or not spec.metrics_file:
        return None
    path = (env.project_dir / spec.metrics_file).resolve()
    backups = list_backups(ctx.ledger, env.name)
    label = f'{{env="{env.name}"}}'
    lines = [
        "# HELP release_backup_failures_total Backup runs that failed.",
        "# TYPE release_backup_failures_total counter",
        f"release_backup_failures_total{label} {len(failures(ctx, env))}",
    ]
    if backups:
        newest = backups[0]
        taken = datetime.fromisoformat(newest.created_at).timestamp()
        lines += [
            "# HELP release_backup_last_success_timestamp_seconds When the newest complete backup was taken.",
            "# TYPE release_backup_last_success_timestamp_seconds gauge",
            f"release_backup_last_success_timestamp_seconds{label} {taken:.0f}",
            "# HELP release_backup_last_size_bytes Size of the newest complete backup.",
            "# TYPE release_backup_last_size_bytes gauge",
            f"release_backup_last_size_bytes{label} {newest.size}",
        ]
    if duration is not None:
        lines += [
            "# HELP release_backup_last_duration_seconds How long the last successful backup run took.",
            "# TYPE release_backup_last_duration_seconds gauge",
            f"release_backup_last_duration_seconds{label} {duration:.3f}",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def alert(ctx: Context, env: Environment, error: str) -> None:
    """POST the failure to `backup.alert_webhook` as JSON; a webhook that fails is logged (URL masked), never raised.

    Chat robots answer their errors with HTTP 200 and a JSON `errcode`/`code` other than 0: that is a failure too.
    """
    spec = env.inventory.backup
    if spec is None or not spec.alert_webhook:
        return
    body = json.dumps(
        {"env": env.name, "error": error, "time": ctx.clock.now().isoformat(timespec="seconds"), "source": "release"},
        ensure_ascii=False,
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - http(s) only, validated in the inventory
        spec.alert_webhook.get_secret_value(), data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            problem = _robot_error(response.read(65536))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        problem = str(exc)
    if problem:
        logger.error("alert webhook {url} failed: {problem}", url=spec.alert_webhook, problem=problem)


def _robot_error(answer: bytes) -> str | None:
    """The error a robot put in a 200 answer (`{"errcode": 93000, "errmsg": …}`), or None."""
    try:
        data = json.loads(answer or b"{}")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    code = data.get("errcode", data.get("code", 0))
    return None if code in (0, "0", None) else f"the robot answered {code}: {data.get('errmsg') or data.get('msg')}"
