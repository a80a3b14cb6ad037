"""service: restart the application, with systemctl or a command of your own.

Example::

    - name: Restart
      service:
        systemd: oa-portal        # systemctl restart oa-portal
    - name: Restart (own command)
      service:
        restart: "sudo systemctl restart oa-portal"
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from release.hosts import q
from release.playbook.modules.base import Module, ModuleArgs, Step, TaskContext


class ServiceArgs(ModuleArgs):
    """Exactly one of `systemd` (a unit name) or `restart` (a command); `action` for systemd."""

    systemd: str | None = None
    restart: str | None = None
    action: Literal["restart", "reload", "start", "stop"] = "restart"
    timeout: float | None = 120

    @model_validator(mode="after")
    def _one_way(self) -> ServiceArgs:
        if bool(self.systemd) == bool(self.restart):
            raise ValueError("give exactly one of systemd (a unit) or restart (a command)")
        return self


class Service(Module):
    """Restart the application."""

    name = "service"
    Args = ServiceArgs

    def plan(self, args: ServiceArgs, ctx: TaskContext) -> list[Step]:
        """One step."""
        command = f"systemctl {args.action} {q(args.systemd)}" if args.systemd else str(args.restart)
        return [Step(f"run: {command}", lambda: ctx.host.run(command, timeout=args.timeout))]
