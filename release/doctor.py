"""`release doctor`: everything the first evening needs, checked the afternoon before.

One row per check with what was found and, when it is not ok, the fix. Nothing is changed on any
host or database: hosts run `date` and `df`, the database answers its version. A check that
cannot run (the host is unreachable, so its clock cannot be read) is reported, never skipped.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from release.backup.service import storage_dir
from release.checks.base import CheckResult, Finding, Status
from release.checks.database import database_reachable
from release.checks.hosts import GIB, disk_space, host_reachable
from release.checks.lock import lock_state
from release.checks.window import has_window
from release.context import Context
from release.errors import ReleaseError
from release.guards import holiday_files
from release.host_identity import known_keys
from release.hosts import Host, SshHost, q, run_parallel
from release.inventory import Environment, environment_names
from release.lock import holder
from release.targets import build_hosts

MIN_PYTHON = (3, 11)
SKEW_WARN_SECONDS = 30.0  # the window is decided here, logs and ledger times are compared with the hosts'
LOW_SPACE_GIB = 2.0  # free under deploy_to or in backup storage below this: warn
NEXT_YEAR_FROM_MONTH = 11  # the State Council publishes the next year's holidays in November or so


def row(name: str, status: Status, detail: str, fix: str = "") -> Finding:
    """One row: what was checked, how it went, what was seen, and how to fix it (a CheckResult under a name)."""
    return Finding(name, CheckResult(status, detail, fix=fix))


def doctor(ctx: Context, env_name: str | None) -> list[Finding]:
    """Checks of this machine, then of each environment (the named one, else all)."""
    checks = controller_checks()
    names = [env_name] if env_name else environment_names(ctx.inventory_dir)
    for name in names:
        checks += environment_checks(ctx, name)
    return checks


def failed(checks: list[Finding]) -> bool:
    """Whether any check failed (doctor then exits 1)."""
    return any(c.status == "fail" for c in checks)


def to_json(checks: list[Finding]) -> dict[str, object]:
    """The `--json` contract: {"checks": [{"name", "status", "detail", "fix"}]}."""
    return {"checks": [c.row() for c in checks]}


# ---------------------------------------------------------------------------------------- this machine


def controller_checks() -> list[Finding]:
    """Python, release itself and the OpenSSH client on this machine."""
    python = ".".join(str(part) for part in sys.version_info[:3])
    checks = [
        row("python", "ok", f"Python {python}")
        if sys.version_info[:2] >= MIN_PYTHON
        else row("python", "fail", f"Python {python}", "install Python 3.11 or newer for release"),
        row("release", "ok", f"release {package_version('release')}"),
    ]
    ssh = shutil.which("ssh")
    if ssh is None:
        fix = "install openssh-client: uploads and dump_via use it (else SFTP, slower)"
        return [*checks, row("ssh client", "warn", "ssh not found on PATH", fix)]
    seen = subprocess.run([ssh, "-V"], capture_output=True, text=True, timeout=10)  # noqa: S603 - fixed argv
    return [*checks, row("ssh client", "ok", (seen.stderr or seen.stdout).strip() or ssh)]


# ---------------------------------------------------------------------------------------- an environment


def environment_checks(ctx: Context, name: str) -> list[Finding]:
    """The inventory, then hosts, database, ledger and storage of one environment."""
    try:
        env = ctx.environment(name)
    except ReleaseError as exc:
        return [row(f"{name}: inventory", "fail", str(exc), "fix the inventory as the message says")]
    checks = [row(f"{name}: inventory", "ok", f"{env.source.path} loads; isolated from the other environments")]
    checks += window_checks(env)
    checks += calendar_checks(ctx, env)
    checks += ssh_checks(env)
    hosts = build_hosts(env)
    try:
        checks += host_checks(env, hosts)
    finally:
        for host in hosts:
            host.close()
    checks += database_checks(env)
    checks += storage_checks(ctx, env)
    checks += lock_checks(ctx, env)
    return checks


def window_checks(env: Environment) -> list[Finding]:
    """Production without a release window is never blocked: say so unless it is deliberate."""
    return [Finding(f"{env.name}: window", has_window(env))]


def calendar_checks(ctx: Context, env: Environment) -> list[Finding]:
    """Holiday data for this year, and from November (as a warning) for the next: unknown days are workdays."""
    policy = env.inventory.window
    if policy is None or not policy.needs_holiday_files:
        return []
    try:
        calendar = policy.days(holiday_files(env))
    except ReleaseError as exc:
        return [row(f"{env.name}: calendar", "fail", str(exc), "fix the holiday file as the message says")]
    today = ctx.clock.now().astimezone(policy.zone).date()
    years = [today.year] + ([today.year + 1] if today.month >= NEXT_YEAR_FROM_MONTH else [])
    checks = []
    for year in years:
        name = f"{env.name}: calendar {year}"
        source = calendar.known_by(year)
        if source is not None:
            checks.append(row(name, "ok", f"holidays and make-up workdays from {source}"))
            continue
        status: Status = "fail" if year == today.year else "warn"
        warning = calendar.unknown_warning(year, "every day")
        detail, _, fix = warning.partition("; ")
        checks.append(row(name, status, detail, fix))
    return checks


def ssh_checks(env: Environment) -> list[Finding]:
    """Every SSH host's key in known_hosts; the identity file readable by its owner only."""
    inv = env.inventory
    checks = []
    for name, spec in inv.hosts.items():
        if spec.connection != "ssh":
            continue
        address, port = str(spec.address), spec.port or inv.ssh.port
        if known_keys(inv.ssh.known_hosts, address, port):
            checks.append(row(f"{env.name}: {name} host key", "ok", f"in {inv.ssh.known_hosts}"))
        else:
            scan = f"ssh-keyscan -p {port} {q(address)}"
            fix = f"run `{scan}`, compare the fingerprint with the administrator's, append it to {inv.ssh.known_hosts}"
            checks.append(row(f"{env.name}: {name} host key", "fail", f"no key for {address}:{port}", fix))
    if inv.ssh.identity_file and checks:
        checks.append(identity_check(env.name, Path(inv.ssh.identity_file).expanduser()))
    return checks


def identity_check(env_name: str, path: Path) -> Finding:
    """The private key: there, readable, and not readable by group or others (ssh refuses it then)."""
    name = f"{env_name}: identity file"
    try:
        mode = path.stat().st_mode
        with path.open("rb"):
            pass
    except OSError as exc:
        return row(name, "fail", f"{path}: {exc.strerror}", "give ssh.identity_file a readable private key")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return row(name, "fail", f"{path} is mode {stat.S_IMODE(mode):o}", f"chmod 600 {q(str(path))}")
    return row(name, "ok", f"{path}, mode {stat.S_IMODE(mode):o}")


def host_checks(env: Environment, hosts: list[Host]) -> list[Finding]:
    """Each host reachable, its clock against this one, and the free space under deploy_to."""
    outcomes = run_parallel(hosts, _probe)
    checks = []
    for outcome in outcomes:
        host = outcome.host
        prefix = f"{env.name}: {host.name}"
        if outcome.error is not None:
            checks.append(Finding(f"{prefix} reachable", host_reachable(str(outcome.error), "")))
            continue
        assert isinstance(outcome.value, Probe)
        probe = outcome.value
        where = "over SSH" if isinstance(host, SshHost) else "local"
        checks.append(Finding(f"{prefix} reachable", host_reachable(None, f"{where} in {probe.seconds:.1f} s")))
        checks.append(_skew_check(prefix, probe.skew))
        checks.append(_space_check(f"{prefix} free space", host.deploy_to, probe.free_bytes))
    return checks


@dataclass(frozen=True)
class Probe:
    """What one host said: its clock's difference with ours, free bytes under deploy_to."""

    seconds: float
    skew: float
    free_bytes: int | None


def _probe(host: Host) -> Probe:
    """`date` and `df` of the nearest existing parent of deploy_to, in one command."""
    started = time.time()
    script = (
        f'd={q(host.deploy_to)}; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; date +%s.%N; df -Pk "$d" | tail -n 1'
    )
    lines = host.run(script, timeout=30).stdout.splitlines()
    finished = time.time()
    skew = float(lines[0].replace("N", "0")) - (started + finished) / 2  # busybox date has no %N
    fields = lines[1].split() if len(lines) > 1 else []
    free = int(fields[3]) * 1024 if len(fields) > 3 and fields[3].isdigit() else None
    return Probe(finished - started, skew, free)


def _skew_check(prefix: str, skew: float) -> Finding:
    detail = f"clock {skew:+.1f} s from this machine's"
    if abs(skew) <= SKEW_WARN_SECONDS:
        return row(f"{prefix} clock", "ok", detail)
    return row(f"{prefix} clock", "warn", detail, "set up NTP (chrony) on the host and on this machine")


def _space_check(name: str, where: str, free: int | None) -> Finding:
    return Finding(name, disk_space(where, free, LOW_SPACE_GIB * GIB, short="warn"))


def database_checks(env: Environment) -> list[Finding]:
    """The database answers, and the dump tools fit its server version (where they run)."""
    if env.inventory.database is None:
        return []
    return [Finding(f"{env.name}: database", database_reachable(env))]


def lock_checks(ctx: Context, env: Environment) -> list[Finding]:
    """Who holds the environment's lock: a dead holder fails (a deploy would be refused), a live one warns."""
    try:
        current = holder(ctx.ledger, env.name)
    except (ReleaseError, OSError, SQLAlchemyError):
        return []  # the ledger row says why it cannot be read
    return [Finding(f"{env.name}: lock", lock_state(env.name, current))]


def storage_checks(ctx: Context, env: Environment) -> list[Finding]:
    """The ledger opens; backup storage (if a database is dumped) is writable with room."""
    checks = [_writable(f"{env.name}: ledger", ctx.project_dir / ".release", lambda: ctx.ledger.run_facts(env.name))]
    if env.inventory.database is not None:
        directory = storage_dir(env)
        checks.append(_writable(f"{env.name}: backup storage", directory))
        existing = _nearest_existing(directory)
        if existing.is_dir():
            checks.append(_space_check(f"{env.name}: backup space", str(existing), shutil.disk_usage(existing).free))
    return checks


def _writable(name: str, directory: Path, also: Callable[[], object] | None = None) -> Finding:
    """A directory that exists and can be written, or whose nearest parent can (it is made on first use)."""
    existing = _nearest_existing(directory)
    if not (existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)):
        return row(name, "fail", f"{existing} is not a writable directory", f"make {directory} writable by you")
    if also is not None:
        try:
            also()
        except (ReleaseError, OSError, SQLAlchemyError) as exc:
            return row(name, "fail", f"{directory}: {exc}", "see the message above")
    made = "" if existing == directory else " (made on first use)"
    return row(name, "ok", f"{directory} writable{made}")


def _nearest_existing(directory: Path) -> Path:
    """`directory`, else its nearest parent that exists (what is made on first use goes there)."""
    return next((p for p in (directory, *directory.parents) if p.exists()), directory)
