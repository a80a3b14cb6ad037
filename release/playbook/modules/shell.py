"""shell: run a command on the host (in the new release by default).

Example::

    - name: Migrate the database
      shell:
        cmd: ./manage migrate
        chdir: "{{ release_path }}"
      run_once: true

The command runs with `sh -c` semantics on the host; its output is kept for the failure report.
"""

from __future__ import annotations

from release.hosts import q
from release.playbook.modules.base import Module, ModuleArgs, Step, TaskContext


class ShellArgs(ModuleArgs):
    """`cmd`: the command; `chdir`: where to run it (default: the new release); `timeout` in seconds."""

    cmd: str
    chdir: str | None = None
    timeout: float | None = None


class Shell(Module):
    """Run one command."""

    name = "shell"
    Args = ShellArgs

    def plan(self, args: ShellArgs, ctx: TaskContext) -> list[Step]:
        """One step: cd and run."""
        where = args.chdir or ctx.release_path
        command = f"cd {q(where)} && {args.cmd}"
        return [Step(f"run in {where}: {args.cmd}", lambda: ctx.host.run(command, timeout=args.timeout))]
