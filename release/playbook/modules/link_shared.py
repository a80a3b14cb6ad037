"""link_shared: link `<deploy_to>/shared/<path>` into the release, so data survives releases.

Example::

    - name: Link shared paths
      link_shared:
        paths: "{{ shared_paths }}"

A path the release ships is replaced by the link; the shared directory is created when missing.
Links are relative, so they resolve the same however the host's filesystem is mounted.

Replacing means `rm -rf`, and a link in the release (from the artifact, or made by an earlier
task) could lead it anywhere: before each removal the host resolves the path's directory
(`realpath -m`, GNU coreutils) and the task fails, removing nothing there, unless it is inside the
release.
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
        names, commands = [], [_guard(ctx.release_path)]
        for item in args.paths:
            item = item.strip("/")
            shared = posixpath.join(ctx.deploy_to, "shared", item)
            inside = posixpath.join(ctx.release_path, item)
            target = posixpath.relpath(shared, posixpath.dirname(inside))
            names.append(item)
            commands.append(
                f"inside_release {q(item)} {q(posixpath.dirname(inside))} && "
                f"{{ test -e {q(shared)} || mkdir -p {q(shared)}; }} && rm -rf {q(inside)} && "
                f"mkdir -p {q(posixpath.dirname(inside))} && ln -s {q(target)} {q(inside)}"
            )
        command = " && ".join(commands)
        return [Step(f"link {', '.join(names)} -> shared/", partial(ctx.host.run, command))]


def _guard(release: str) -> str:
    """Shell that defines `inside_release PATH DIR`: fail, naming PATH, unless DIR resolves inside the release.

    Checked per path just before its removal, so links made for earlier paths count too. The
    release itself is resolved as well: deploy_to may well be reached through a link.
    """
    refusal = "link_shared: refusing to replace %s: its directory resolves to %s, outside the release %s\\n"
    return (
        f"release_root=$(realpath -m -- {q(release)}) && inside_release() {{ "
        'resolved=$(realpath -m -- "$2") && case "$resolved/" in "$release_root"/*) ;; '
        f'*) printf {q(refusal)} "$1" "$resolved" "$release_root" >&2; return 1;; esac; }}'
    )
