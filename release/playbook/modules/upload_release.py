"""upload_release: put this run's artifact on the host and unpack it into `releases/<id>/`.

Example::

    - name: Upload and unpack
      upload_release: {}

The artifact is sent only if the host does not already hold one with the same sha256; a release
already unpacked from the same artifact is hard-linked (`cp -al`) instead of unpacked again. Releases
are therefore read-only by contract: what the application writes belongs in `shared/`. Unpacking happens in
`releases/.<id>.partial` and is renamed when complete, so a killed run never leaves a half release.
"""

from __future__ import annotations

import posixpath

from release.hosts import q
from release.layout import MARKER, artifact_path, releases_dir
from release.playbook.modules.base import Module, ModuleArgs, Step, TaskContext


class UploadArgs(ModuleArgs):
    """No arguments: the artifact comes from `--artifact` or the inventory's `artifact` pattern."""


class UploadRelease(Module):
    """Send and unpack the release."""

    name = "upload_release"
    Args = UploadArgs

    def plan(self, args: UploadArgs, ctx: TaskContext) -> list[Step]:
        """Steps: prepare dirs, upload (unless present), unpack or copy, mark complete."""
        artifact = ctx.run.artifact
        if artifact is None:
            raise ValueError("upload_release needs an artifact for this run")
        host, deploy_to, sha = ctx.host, ctx.deploy_to, artifact.sha256
        remote = artifact_path(deploy_to, sha)
        final = ctx.release_path
        partial = posixpath.join(releases_dir(deploy_to), f".{ctx.run.release_id}.partial")
        facts = host.run(
            f"test -f {q(remote)} && echo artifact; test -d {q(final)} && echo release; "
            f"grep -lx {q(sha)} {q(releases_dir(deploy_to))}/*/{MARKER} 2>/dev/null | tail -n 1 || true",
        ).stdout.splitlines()
        has_artifact, has_release = "artifact" in facts, "release" in facts
        same = [line for line in facts if line.endswith(MARKER)]
        if has_release:
            return [Step(f"release {ctx.run.release_id} already unpacked")]
        dirs = " ".join(q(posixpath.join(deploy_to, d)) for d in ("releases", "shared", ".release/artifacts"))
        # folded into the first command that changes the host: one round trip less per host
        prepare = f"mkdir -p {dirs} && rm -rf {q(releases_dir(deploy_to))}/.*.partial"
        ctx.run.uploads[host.name] = not has_artifact and not same
        if same:
            source = posixpath.dirname(same[-1])
            link = f"{prepare} && cp -al {q(source)} {q(partial)} && mv -T {q(partial)} {q(final)}"
            return [Step(f"link {posixpath.basename(source)} (same artifact) into {final}", lambda: host.run(link))]
        unpack = (
            f"mkdir -p {q(partial)} && tar -xzf {q(remote)} -C {q(partial)} --no-same-owner && "
            f"printf '%s\\n' {q(sha)} > {q(partial)}/{MARKER} && mv -T {q(partial)} {q(final)}"
        )
        if has_artifact:
            return [
                Step(f"artifact already on host (sha256 {sha[:12]}…), not sent"),
                Step(f"unpack into {final}", lambda: host.run(f"{prepare} && {unpack}")),
            ]
        return [
            Step(f"upload {artifact.path.name} ({artifact.size} bytes) to {remote}", lambda: _send(ctx, prepare)),
            Step(f"unpack into {final}", lambda: host.run(unpack)),
        ]


def _send(ctx: TaskContext, prepare: str) -> None:
    """Upload to a temporary name, check the size, then rename: the kept file is always whole."""
    artifact = ctx.run.artifact
    assert artifact is not None
    remote = artifact_path(ctx.deploy_to, artifact.sha256)
    tmp = f"{remote}.tmp.{ctx.run.release_id}"
    # one remote shell does it all: a size mismatch removes the partial file and fails with the sizes
    finish = (
        f'size=$(stat -c %s {q(tmp)}) && if [ "$size" = {artifact.size} ]; then mv -f {q(tmp)} {q(remote)}; '
        f'else rm -f {q(tmp)}; echo "upload incomplete: $size of {artifact.size} bytes arrived" >&2; exit 1; fi'
    )
    ctx.host.put(artifact.path, tmp, before=prepare, after=finish)
