"""Which release a rollback goes to: one for the whole environment, decided from the ledger.

A plain rollback undoes the deploy that brought the environment's current release: its target is
the release that was current before that deploy (recorded per run as `previous_release_id`). A
release that was itself rolled back, or whose deploy failed, is never a target: the walk goes on
through the deploy that brought it. The directories on a host say nothing of that history, which is
why the previous directory on disk is used only when the ledger has no record at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from release.errors import BadInput, Refused
from release.validate import version_of


@dataclass(frozen=True)
class RunFacts:
    """What the target decision needs of one ledger run (oldest first in every list)."""

    kind: str  # deploy | rollback | restore
    status: str
    release_id: str | None
    previous_release_id: str | None


def _release(run: RunFacts) -> str | None:
    """The run's release id; the old code wrote "A,B" for a rollback to mixed releases: no release at all."""
    return run.release_id if run.release_id and "," not in run.release_id else None


def ledger_current(runs: Sequence[RunFacts]) -> str | None:
    """The release the environment should be on: that of its last successful deploy or rollback."""
    for run in reversed(runs):
        if run.status == "succeeded" and run.kind in ("deploy", "rollback") and _release(run):
            return run.release_id
    return None


def bad_releases(runs: Sequence[RunFacts]) -> set[str]:
    """Releases whose deploy did not succeed, or that were rolled back and not brought back since.

    Replayed in order: a rollback back in time marks the release it undid; any successful rollback
    clears its own target (a release brought back with `--to` is trusted again).
    """
    bad: set[str] = set()
    for run in runs:
        release = _release(run)
        if run.kind == "deploy" and run.status not in ("succeeded", "running") and release:
            bad.add(release)
        if run.kind == "rollback" and run.status == "succeeded" and release:
            undone = run.previous_release_id
            if undone and "," not in undone and release < undone:
                bad.add(undone)
            bad.discard(release)
    return bad


def previous_of(runs: Sequence[RunFacts], release_id: str) -> str | None:
    """What was current before the deploy of `release_id` (whatever its outcome); None if the ledger has none.

    A deploy that died after switching (kill -9) leaves its hosts on a release whose run is
    `interrupted`: the walk goes through it to what was current before it.

    Ledgers written before `previous_release_id` was recorded have it null: then the release of the
    last successful run before that deploy stands in for it.
    """
    for index in range(len(runs) - 1, -1, -1):
        run = runs[index]
        if run.kind == "deploy" and run.release_id == release_id:
            previous = run.previous_release_id
            return previous if previous and "," not in previous else ledger_current(runs[:index]) or ""
    return None


def plain_target(runs: Sequence[RunFacts], on_hosts: str | None = None) -> tuple[str, str, bool] | None:
    """(release being undone, target, whether bad releases were skipped) for a plain rollback.

    `on_hosts` is the release every host is on, when they agree: a deploy killed after its switch
    left them on a release the ledger never saw succeed, and that is the one being undone. None when
    the ledger knows nothing of the environment.
    """
    current = ledger_current(runs)
    if on_hosts and on_hosts != current and previous_of(runs, on_hosts) is not None:
        current = on_hosts
    if current is None:
        return None
    bad, release, seen = bad_releases(runs) - {current}, current, set()
    while release not in seen:
        seen.add(release)
        previous = previous_of(runs, release)
        if previous is None:
            raise BadInput(
                f"the ledger does not record the deploy of {release}, so it cannot tell what came before: "
                "name the release with --to VERSION"
            )
        if not previous:
            raise BadInput(f"no release before {release} in the ledger: nothing to roll back to (or use --to VERSION)")
        if previous not in bad:
            return current, previous, release != current
        release = previous  # rolled back or failed itself: go on to what was current before it
    raise BadInput("the ledger's release history loops: name the release with --to VERSION")


def releases_on_every_host(host_releases: dict[str, list[str]]) -> list[str]:
    """The releases that every host holds, oldest first."""
    sets = [set(r) for r in host_releases.values()]
    return sorted(set.intersection(*sets)) if sets else []


def require_on_every_host(target: str, host_releases: dict[str, list[str]]) -> None:
    """Refuse (exit 3) when a host does not hold the target release: mixed versions are no rollback."""
    missing = sorted(host for host, releases in host_releases.items() if target not in releases)
    if missing:
        raise Refused(
            f"cannot roll back to {target}: {', '.join(missing)} do(es) not have it "
            f"(cleaned up, or never deployed there); choose a release every host has with --to VERSION"
        )


def target_of_version(
    version: str,
    host_releases: dict[str, list[str]],
    currents: dict[str, str | None],
    good: set[str],
    bad: frozenset[str] | set[str] = frozenset(),
) -> str:
    """`--to VERSION`: the newest release of that version that every host holds (one the ledger saw succeed first)."""
    everywhere = [r for r in releases_on_every_host(host_releases) if version_of(r) == version]
    somewhere = sorted({r for releases in host_releases.values() for r in releases if version_of(r) == version})
    if not everywhere and somewhere:
        require_on_every_host(somewhere[-1], host_releases)  # raises, naming the hosts without it
    if not everywhere:
        kept = ", ".join(releases_on_every_host(host_releases)) or "none"
        raise BadInput(f"no release of version {version} on the hosts (releases on every host: {kept})")
    if set(currents.values()) == {everywhere[-1]} and len(everywhere) == 1:
        raise BadInput(f"version {version} is already current ({everywhere[-1]})")
    others = [r for r in everywhere if set(currents.values()) != {r}]
    trusted = [r for r in others if r in good - bad]
    return max(trusted or others)
