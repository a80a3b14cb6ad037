"""What every playbook module is: arguments (a pydantic model) and a plan of steps for one host.

A module first gathers facts (read-only commands) and says what it would do; the runner either
prints that plan (`--dry-run`) or carries it out. No module changes anything while planning.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from release.events import Event
from release.hosts import Host
from release.inventory import Environment
from release.layout import release_path


class ModuleArgs(BaseModel):
    """Base for module arguments: unknown keys are mistakes."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Step:
    """One thing a module does on a host; `action` None means nothing needs doing (a note)."""

    description: str
    action: Callable[[], Any] | None = None


@dataclass(frozen=True)
class Artifact:
    """The local artifact of this run."""

    path: Path
    sha256: str
    size: int
    strip: int = 0  # leading name components to strip when unpacking (an artifact wrapped in one folder)
    folder: str | None = None  # that folder's name, for the plan's text


@dataclass
class RunState:
    """What all hosts of one run share: ids, the artifact, and which hosts switched from where."""

    env: Environment
    release_id: str
    version: str
    artifact: Artifact | None = None
    dry_run: bool = False
    switched: dict[str, str | None] = field(default_factory=dict)
    uploads: dict[str, bool] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    publish: Callable[[Event], None] = field(default=lambda event: None, repr=False)  # the run's event bus

    def record_switch(self, host: str, previous: str | None) -> None:
        """Remember a host's previous release, so a failure can switch it back."""
        with self.lock:
            self.switched.setdefault(host, previous)


@dataclass
class TaskContext:
    """One task on one host."""

    run: RunState
    host: Host
    variables: dict[str, Any]

    @property
    def deploy_to(self) -> str:
        """The host's deploy path."""
        return self.host.deploy_to

    @property
    def release_path(self) -> str:
        """The directory of this run's release on the host."""
        return release_path(self.host.deploy_to, self.run.release_id)


class Module(ABC):
    """A task kind. Subclasses set `name`, `Args`, and implement `plan`."""

    name: ClassVar[str]
    Args: ClassVar[type[ModuleArgs]]

    @abstractmethod
    def plan(self, args: Any, ctx: TaskContext) -> list[Step]:
        """Gather facts and return the steps that bring the host to the wanted state."""
