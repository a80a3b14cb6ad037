"""Everything a command needs, passed explicitly: settings, clock, console, inventory dir, ledger."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import tzinfo
from functools import cached_property
from pathlib import Path

from rich.console import Console

from release.clock import Clock, SystemClock, local_zone
from release.errors import ReleaseError
from release.events import EventBus
from release.inventory import Environment, load_environment, require_inventory_dir
from release.isolation import check_isolation
from release.ledger import Ledger
from release.log import redactor
from release.progress import LiveProgress, LogProgress
from release.prompt import Prompter, TerminalPrompter
from release.settings import Settings


@dataclass
class Context:
    """One invocation of `release`."""

    inventory_dir: Path = Path("inventory")
    json_output: bool = False
    verbose: bool = False
    settings: Settings = field(default_factory=Settings)
    clock: Clock = field(default_factory=SystemClock)
    console: Console = field(default_factory=lambda: Console(stderr=True))
    interactive: bool = field(default_factory=lambda: sys.stdin.isatty())
    prompter: Prompter | None = None  # who answers questions; None: the terminal, on this console
    _zones: dict[str, tzinfo] = field(default_factory=dict, init=False, repr=False)
    _loaded: dict[str, Environment] = field(default_factory=dict, init=False, repr=False)

    @property
    def project_dir(self) -> Path:
        """The inventory directory's parent: ledger, logs and artifacts are found from it."""
        return self.inventory_dir.resolve().parent

    @cached_property
    def ledger(self) -> Ledger:
        """The ledger, opened on first use (it lives beside the inventory, which must be there)."""
        require_inventory_dir(self.inventory_dir)
        return Ledger(self.settings.ledger_url_for(self.project_dir), self.clock)

    def close(self) -> None:
        """Close the ledger if it was opened: SQLite folds its write-ahead log back in now, not at exit."""
        ledger = self.__dict__.pop("ledger", None)
        if ledger is not None:
            ledger.close()

    @property
    def operator(self) -> str:
        """Who is running this."""
        return self.settings.operator_name()

    def environment(self, name: str) -> Environment:
        """Load an environment, register its secrets for masking, and refuse it if not isolated."""
        env = load_environment(self.inventory_dir, name)
        redactor.add(*env.secrets)
        check_isolation(env, self.inventory_dir)
        self._loaded[name] = env
        return env

    def loaded(self, name: str) -> Environment:
        """The environment as this invocation loaded it (loading it now if it has not)."""
        return self._loaded.get(name) or self.environment(name)

    @cached_property
    def events(self) -> EventBus:
        """The event bus of this invocation, its subscribers registered (release.subscribers)."""
        from release.subscribers import default_bus  # the subscribers reach the backup modules, which need Context

        return default_bus(self)

    def zone_of(self, name: str) -> tzinfo:
        """The zone an environment's times are shown in (`Environment.zone`).

        For a history row whose environment's inventory is gone or broken: the machine's zone, so
        that reading the record never fails on the inventory.
        """
        if name in self._loaded:
            return self._loaded[name].zone
        if name not in self._zones:  # environments read only for their zone (history of every environment)
            try:
                self._zones[name] = load_environment(self.inventory_dir, name).zone
            except (ReleaseError, OSError):
                self._zones[name] = local_zone()
        return self._zones[name]

    def person(self) -> Prompter:
        """Who answers this invocation's questions: the given prompter, else the terminal."""
        return self.prompter or TerminalPrompter(self.console)

    def progress(self, hosts: list[str], title: str) -> LiveProgress | LogProgress:
        """A live table on a terminal, log lines otherwise."""
        if self.console.is_terminal and not self.json_output:
            return LiveProgress(self.console, hosts, title)
        return LogProgress()
