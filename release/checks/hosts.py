"""Hosts as checks: reachable with their keys (the preflight of every change), and free space under deploy_to."""

from __future__ import annotations

from collections.abc import Sequence

from release.checks.base import CheckResult, Status
from release.hosts import Host, Outcome, run_parallel

REACH_FIX = "check the address, port and user"
GIB = 2**30


def reach(hosts: Sequence[Host]) -> list[Outcome]:
    """Gather: connect to every host in parallel (host keys checked) and run nothing but `true`."""
    return run_parallel(list(hosts), lambda h: h.run("true"))


def reachability(outcomes: Sequence[Outcome]) -> CheckResult:
    """Judge a preflight: every host answered, or which did not (then nothing may change anywhere)."""
    return judge_reachability(len(outcomes), [str(o.error) for o in outcomes if not o.ok])


def judge_reachability(total: int, errors: Sequence[str]) -> CheckResult:
    """`total` hosts were tried and these `errors` came back: ok when there are none."""
    if not errors:
        return CheckResult("ok", f"{total} host(s) reachable", {"hosts": total})
    reason = f"preflight: {len(errors)} host(s) cannot be used, nothing was changed"
    return CheckResult("fail", reason, {"hosts": total, "errors": list(errors)}, lines=tuple(errors))


def host_reachable(error: str | None, how: str) -> CheckResult:
    """One host: `how` it answered (over SSH in 0.2 s), or the error it gave."""
    if error is not None:
        return CheckResult("fail", error, {"error": error}, REACH_FIX)
    return CheckResult("ok", how)


def disk_space(where: str, free: int | None, min_free: float, short: Status = "fail") -> CheckResult:
    """Free bytes under `where` against `min_free` bytes: below it, `short` (doctor warns, a checklist fails)."""
    if free is None:
        return CheckResult("warn", f"df gave no free space for {where}", {"where": where}, "check df -Pk on the host")
    gib = free / GIB
    evidence = {"where": where, "free_bytes": free, "min_free_bytes": min_free}
    if free < min_free:
        return CheckResult(short, f"{gib:.1f} GiB free under {where}", evidence, "free space or move deploy_to")
    return CheckResult("ok", f"{gib:.1f} GiB free under {where}", evidence)
