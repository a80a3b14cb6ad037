"""Telling people and monitoring about backups: a Prometheus textfile and a webhook on failure."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import httpx
from loguru import logger

from release.backup.catalog import list_backups
from release.context import Context
from release.inventory import Environment
from release.secret_url import SecretUrl

ALERT_TIMEOUT = 10.0  # seconds: a robot that hangs must not hold up the daemon's next job
JSON_HEADERS = {"Content-Type": "application/json"}


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

    An alert is the last thing a failing backup does: a robot that is down must not turn the failure
    into a different one, so its problem is only logged.
    """
    spec = env.inventory.backup
    if spec is None or spec.alert_webhook is None:
        return
    body = json.dumps(
        {"env": env.name, "error": error, "time": ctx.clock.now().isoformat(timespec="seconds"), "source": "release"},
        ensure_ascii=False,
    ).encode()
    url = spec.alert_webhook
    problem = _post(url, body)
    if problem:
        # the HTTP library's text may quote the URL: it is masked here, not only by the log's redactor
        logger.error("alert webhook {url} failed: {problem}", url=url, problem=url.redact(problem))


def _post(url: SecretUrl, body: bytes) -> str | None:
    """Why the webhook did not take the alert, or None when it did."""
    try:
        response = httpx.post(url.get_secret_value(), content=body, headers=JSON_HEADERS, timeout=ALERT_TIMEOUT)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return f"{type(exc).__name__}: {exc}"
    if not response.is_success:  # redirects are not followed: the alert was not delivered
        return f"HTTP {response.status_code} {response.reason_phrase}"
    return _robot_error(response.content)


def _robot_error(answer: bytes) -> str | None:
    """The error a robot put in a 200 answer, or None.

    WeCom, DingTalk and Feishu answer a bad token or a refused message with HTTP 200 and a JSON
    `errcode` (or `code`) other than 0 (`{"errcode": 93000, "errmsg": "invalid webhook url"}`).
    """
    try:
        data = json.loads(answer or b"{}")
    except ValueError:  # plain text ("ok") or no body: the HTTP status said it all
        return None
    if not isinstance(data, dict):
        return None
    code = data.get("errcode", data.get("code", 0))
    return None if code in (0, "0", None) else f"the robot answered {code}: {data.get('errmsg') or data.get('msg')}"
