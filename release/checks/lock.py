"""The environment's lock as a check: free, held by whom, and whether a change would wait for it or be refused.

The lock itself is taken atomically by `release.lock.deploy_lock`; this check reads the holder
beforehand, so a refusal names the holder before any host is reached; deploy_lock refuses with these same words.
"""

from __future__ import annotations

from release.checks.base import CheckResult
from release.lock_holder import TAKEOVER_PREFIX, LockHolder

WAIT_FIX = "(or wait for it: --lock-wait SECONDS)"


def judge_lock(env: str, holder: LockHolder | None, wait: float = 0) -> CheckResult:
    """Free: ok. A backup (waited for, or taken over when dead) or a wait allowed: warn. Otherwise fail."""
    if holder is None:
        return CheckResult("ok", f"{env}: not locked", {"holder": None})
    evidence = {"holder": holder.to_json()}
    backup = holder.command.startswith(TAKEOVER_PREFIX)
    if holder.stale and backup:
        return CheckResult("warn", f"{env}: the lock of a backup that died will be taken over", evidence)
    if holder.stale:
        reason = f"{env} is locked by a {holder.command.split()[0]} that died: {holder.describe()}."
        fix = f"Check the hosts, then clear it: release unlock {env} --reason '…'"
        return CheckResult("fail", reason, evidence, fix)
    if backup:
        reason = f"{env}: a running backup holds the lock, it is waited for: {holder.describe()}"
        return CheckResult("warn", reason, evidence)
    if wait > 0:
        return CheckResult("warn", f"{env}: locked by {holder.describe()}; waiting up to {wait:.0f}s", evidence)
    return CheckResult("fail", f"{env} is locked by {holder.describe()}", evidence, WAIT_FIX)


def lock_state(env: str, holder: LockHolder | None) -> CheckResult:
    """For `release doctor`: a live holder is a warning (it ends by itself), a dead one fails as a deploy would."""
    result = judge_lock(env, holder)
    if result.status == "fail" and holder is not None and not holder.stale:
        return CheckResult("warn", result.reason, result.evidence, "wait for it to finish")
    return result
