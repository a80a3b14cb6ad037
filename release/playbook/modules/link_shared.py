"""link_shared: link `<deploy_to>/shared/<path>` into the release, so data survives releases.

Example::

    - name: Link shared paths
      link_shared:
        paths: "{{ shared_paths }}"

A path the release ships is replaced by the link; the shared directory is created when missing.
Links are relative, so they resolve the same however the host's filesystem is mounted.
"""

from __future__ import annotations

import posixpath
from functools import partial

from pydantic import field_validator

from release.hosts import q
from release.playbook.modules.base import Module, ModuleArgs, Step, TaskContext


class LinkSharedArgs(ModuleArgs):
    """`paths`: paths inside the release (default: none)."""

    paths: list[str] = []

    @field_validator("paths")
    @classmethod
    def _inside(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item or item.startswith("/") or ".." in item.split("/"):
                raise ValueError(f"{item!r} must be a relative path inside the release, without '..'")
        return value


class LinkShared(Module):
    """Link shared paths into the release."""

    name = "link_shared"
    Args = LinkSharedArgs

    def plan(self, args: LinkSharedArgs, ctx: TaskContext) -> list[Step]:
        """One step, one command for all paths: a round trip per host, not per path."""
        if not args.paths:
            return []
        names, commands = [], []
        for item in args.paths:
            item = item.strip("/")
            shared = posixpath.join(ctx.deploy_to, "shared", item)
            inside = posixpath.join(ctx.release_path, item)
            target = posixpath.relpath(shared, posixpath.dirname(inside))
            names.append(item)
            commands.append(
                f"{{ test -e {q(shared)} || mkdir -p {q(shared)}; }} && rm -rf {q(inside)} && "
                f"mkdir -p {q(posixpath.dirname(inside))} && ln -s {q(target)} {q(inside)}"
            )
        command = " && ".join(commands)
        return [Step(f"link {', '.join(names)} -> shared/", partial(ctx.host.run, command))]
