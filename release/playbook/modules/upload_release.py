"""upload_release: put this run's artifact on the host and unpack it into `releases/<id>/`.

Example::

    - name: Upload and unpack
      upload_release: {}

The artifact is sent only if the host does not already hold one with the same sha256; a release
already unpacked from the same artifact is hard-linked (`cp -al`) instead of unpacked again. Releases
are therefore read-only by contract: what the application writes belongs in `shared/`. Unpacking happens in
`releases/.<id>.partial` and is renamed when complete, so a killed run never leaves a half release.

The store is named by content, so its content is checked before it is trusted: the sha256 of the
bytes sent must be the one recorded for the artifact (else it changed while it was read), and the host
hashes its copy before keeping it and before unpacking a copy it already had (a damaged one is sent again).
"""

from __future__ import annotations

import posixpath

from loguru import logger

from release.errors import OperationFailed
from release.hosts import CommandFailed, PutFailed, q
from release.layout import MARKER, artifact_path, releases_dir
from release.playbook.modules.base import Artifact, Module, ModuleArgs, Step, TaskContext

BAD_COPY = 65  # EX_DATAERR (sysexits.h): a copy on the host is not what its name says; it was removed
# openssl's sha256 uses the CPU's SHA instructions: 50 MB in 0.04 s, coreutils 9.1's sha256sum 0.2-0.3 s,
# which was most of what the check cost a deploy. sha256sum where there is no openssl command; a tool that
# fails half-way leaves a wrong hash, so every failure here ends as a mismatch, never as a false match.
_SHA256_OF_STDIN = "{ openssl dgst -sha256 -r 2>/dev/null || sha256sum; }"


class ArtifactChanged(OperationFailed):
    """The local artifact was rewritten while it was being sent: what left is not what was recorded and checked."""


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
        strip = f" --strip-components={artifact.strip}" if artifact.strip else ""
        unpack = (
            f"mkdir -p {q(partial)} && tar -xzf {q(remote)} -C {q(partial)} --no-same-owner{strip} && "
            f"printf '%s\\n' {q(sha)} > {q(partial)}/{MARKER} && mv -T {q(partial)} {q(final)}"
        )
        if has_artifact:
            return [
                Step(f"artifact already on host (sha256 {sha[:12]}…), not sent"),
                Step(
                    f"check it and unpack into {final}{_unwrapping(artifact)} (sent again if damaged)",
                    lambda: _reuse(ctx, prepare, unpack),
                ),
            ]
        return [
            Step(f"upload {artifact.path.name} ({artifact.size} bytes) to {remote}", lambda: _send(ctx, prepare)),
            Step(f"unpack into {final}{_unwrapping(artifact)}", lambda: host.run(unpack)),
        ]


def _unwrapping(artifact: Artifact) -> str:
    return f" (the contents of its one folder {artifact.folder}/)" if artifact.folder else ""


def check_sha256(path: str, sha256: str, what: str) -> str:
    """Shell: unless the file at `path` has this sha256, remove it and exit BAD_COPY naming both hashes.

    Hashed on the host, from its disk: what is kept or unpacked there is what was checked. One compound
    command, to chain with `&&`; an unreadable file (or no hashing tool) counts as a mismatch.
    """
    return (
        f'{{ got=$({_SHA256_OF_STDIN} < {q(path)} | cut -c1-64); [ "$got" = {q(sha256)} ] || '
        f"{{ rm -f {q(path)}; printf '%s %s has sha256 %s, expected %s: removed\\n' {q(what)} {q(path)} "
        f'"${{got:-unreadable}}" {q(sha256)} >&2; exit {BAD_COPY}; }}; }}'
    )


def _send(ctx: TaskContext, prepare: str) -> None:
    """Upload to a temporary name, check its sha256 on the host, then rename: a kept file is always the artifact."""
    artifact = ctx.run.artifact
    assert artifact is not None
    remote = artifact_path(ctx.deploy_to, artifact.sha256)
    tmp = f"{remote}.tmp.{ctx.run.release_id}"
    # in the upload's own session: a copy with another hash is removed there, never renamed into the store
    keep = f"{check_sha256(tmp, artifact.sha256, 'the uploaded copy')} && mv -f {q(tmp)} {q(remote)}"
    try:
        sent = ctx.host.put(artifact.path, tmp, before=prepare, after=keep)
    except PutFailed as exc:
        _refuse_changed(ctx, exc.sent_sha256)  # the host refused it because the local file changed: say so
        raise
    _refuse_changed(ctx, sent)


def _refuse_changed(ctx: TaskContext, sent: str | None) -> None:
    """Raise ArtifactChanged if the bytes sent are not the artifact whose sha256 this run recorded."""
    artifact = ctx.run.artifact
    assert artifact is not None
    if sent is not None and sent != artifact.sha256:
        raise ArtifactChanged(
            f"{ctx.host.name}: the artifact changed while it was being sent: {artifact.path} had sha256 "
            f"{artifact.sha256} when this run started, the bytes sent have sha256 {sent} (not kept on the host); "
            "rebuild it, then deploy again"
        )


def _reuse(ctx: TaskContext, prepare: str, unpack: str) -> None:
    """Unpack the artifact the host holds, hashed in the same command; a damaged copy is removed and sent again."""
    artifact = ctx.run.artifact
    assert artifact is not None
    stored = artifact_path(ctx.deploy_to, artifact.sha256)
    check = check_sha256(stored, artifact.sha256, "the stored artifact")
    result = ctx.host.run(f"{prepare} && {check} && {unpack}", check=False)
    if result.ok:
        return
    if result.exited != BAD_COPY:
        raise CommandFailed(result)
    logger.warning("{host}: {problem}; sending it again", host=ctx.host.name, problem=result.stderr.strip())
    ctx.run.uploads[ctx.host.name] = True
    _send(ctx, prepare)
    ctx.host.run(unpack)
