"""What an operator asked for: the input of a deploy or a rollback, before anything is checked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DeployRequest:
    """What the operator asked for."""

    env: str
    version: str
    artifact: Path | None = None
    dry_run: bool = False
    limit: list[str] = field(default_factory=list)
    reason: str | None = None
    break_glass: str | None = None
    lock_wait: float = 0
    wait_for_window: bool = False
    max_wait: float = 16 * 3600
    no_dump: bool = False


@dataclass
class RollbackRequest:
    """What the operator asked for."""

    env: str
    to: str | None = None
    reason: str | None = None
    break_glass: str | None = None
    lock_wait: float = 0
    with_db: bool = False
    confirm: Callable[[str], bool] | None = None  # asks a person; None: no terminal, so --yes is required
