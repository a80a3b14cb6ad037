"""switch_current: point `<deploy_to>/current` at the new release, atomically.

Example::

    - name: Switch to the new release
      switch_current: {}

A temporary link is renamed over `current` (rename(2) is atomic), so `current` is never missing
and always names a complete release. The previous target is remembered for the automatic switch-back.
"""

from __future__ import annotations

from release.events import HostSwitched
from release.layout import read_state, switch_command
from release.playbook.modules.base import Module, ModuleArgs, Step, TaskContext


class SwitchArgs(ModuleArgs):
    """No arguments."""


class SwitchCurrent(Module):
    """Switch `current`."""

    name = "switch_current"
    Args = SwitchArgs

    def plan(self, args: SwitchArgs, ctx: TaskContext) -> list[Step]:
        """One step, or a note when `current` already points at the release."""
        current, _ = read_state(ctx.host)
        release_id = ctx.run.release_id
        if current == release_id:
            return [Step(f"current already -> {release_id}")]

        def switch() -> None:
            ctx.run.record_switch(ctx.host.name, current)
            ctx.host.run(switch_command(ctx.deploy_to, release_id))
            ctx.run.publish(HostSwitched(ctx.run.env.name, ctx.host.name, release_id, current))

        return [Step(f"current: {current or '(none)'} -> {release_id}", switch)]
