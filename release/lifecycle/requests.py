"""What an operator asked for: the input of a deploy or a rollback, before anything is checked."""

from __future__ import annotations

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
    yes: bool = False  # confirmed in advance (--yes): production is not asked


@dataclass
class RollbackRequest:
    """What the operator asked for."""

    env: str
    to: str | None = None
    reason: str | None = None
    break_glass: str | None = None
    lock_wait: float = 0
    with_db: bool = False
    yes: bool = False  # confirmed in advance (--yes): neither the rollback nor --with-db's loss is asked
