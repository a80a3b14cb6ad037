"""Loguru set-up: a readable console on stderr and one JSON log file per run, secrets masked."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loguru import logger

from release.ledger_file import private_dir, private_file

MASK = "***"


class Redactor:
    """Replaces known secret values in every record before any sink sees it."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, *values: str) -> None:
        """Register secrets; short values are ignored because masking them would garble logs."""
        self._secrets.update(v for v in values if v and len(v) >= 4)

    def mask(self, text: str) -> str:
        """`text` with every registered secret replaced by ***."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def __call__(self, record: Any) -> None:
        record["message"] = self.mask(record["message"])
        for key, value in list(record["extra"].items()):
            if isinstance(value, str):
                record["extra"][key] = self.mask(value)


redactor = Redactor()


def setup_console(verbose: bool) -> None:
    """Console logging on stderr; -v shows debug lines."""
    logger.remove()
    logger.configure(patcher=redactor)
    logger.add(
        sys.stderr,
        level="DEBUG" if verbose else "INFO",
        format="<level>{level: <7}</level> {message}",
        colorize=None,
    )


def start_run_log(project_dir: Path, env: str, command: str) -> Path:
    """Add a JSON-lines log file for this run under `<project>/.release/logs/`."""
    private_dir(project_dir / ".release")
    logs = private_dir(project_dir / ".release" / "logs")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = private_file(logs / f"{stamp}-{env}-{command}.jsonl")  # before loguru opens it: 0600, not 0644
    logger.add(path, level="DEBUG", serialize=True, enqueue=False)
    return path
