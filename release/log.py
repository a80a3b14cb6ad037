"""Loguru set-up: a readable console on stderr and one JSON log file per run, secrets masked."""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loguru import logger

from release.ledger_file import private_dir, private_file

MASK = "***"


class Redactor:
    """Replaces known secret values in every record before any sink sees it.

    A safety net behind the typed secrets (SecretStr, SecretUrl), which never print their value: it
    catches a secret a tool echoes back. A secret is masked where it stands as a whole value, not
    inside a longer word, so a password `postgres` masks `postgres://oa:postgres@db` but leaves the
    engine `postgresql` alone.
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *values: str) -> None:
        """Register secrets; short values are ignored because masking them would garble logs."""
        self._secrets.update(v for v in values if v and len(v) >= 4)
        alternatives = "|".join(re.escape(v) for v in sorted(self._secrets, key=len, reverse=True))
        self._pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])") if alternatives else None

    def mask(self, text: str) -> str:
        """`text` with every registered secret replaced by ***."""
        return self._pattern.sub(MASK, text) if self._pattern is not None else text

    def mask_values(self, data: Any) -> Any:
        """JSON-ready data with every string value masked; keys, numbers and structure untouched."""
        if isinstance(data, str):
            return self.mask(data)
        if isinstance(data, dict):
            return {key: self.mask_values(value) for key, value in data.items()}
        if isinstance(data, list | tuple):
            return [self.mask_values(item) for item in data]
        return data

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
        _current_stderr,
        level="DEBUG" if verbose else "INFO",
        format="<level>{level: <7}</level> {message}",
        colorize=_is_terminal(sys.stderr) and "NO_COLOR" not in os.environ,
    )


def _current_stderr(message: str) -> None:
    """Write to sys.stderr as it is now: while a live progress display runs, Rich puts a proxy there
    that prints each line above the display. The stream captured at set-up would write into the
    display's own line, and two warnings would run together with it."""
    sys.stderr.write(message)
    sys.stderr.flush()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def start_run_log(project_dir: Path, env: str, command: str) -> Path:
    """Add a JSON-lines log file for this run under `<project>/.release/logs/`."""
    private_dir(project_dir / ".release")
    logs = private_dir(project_dir / ".release" / "logs")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = private_file(logs / f"{stamp}-{env}-{command}.jsonl")  # before loguru opens it: 0600, not 0644
    logger.add(path, level="DEBUG", serialize=True, enqueue=False)
    return path
