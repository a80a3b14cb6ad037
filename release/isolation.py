"""Environment isolation: no two environments may share a database, or a host's deploy directory.

The war story behind it: a test inventory pointing at the production database. Every command that
loads an environment compares it with every other environment of the inventory directory.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

from loguru import logger

from release.checks.base import CheckResult, refuse_failed
from release.errors import ReleaseError
from release.host_identity import LOCAL_PLACE, HostIdentity, known_keys, local_keys
from release.inventory import Environment, environment_names, load_environment

DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


@dataclass(frozen=True)
class Conflict:
    """Two environments that share something they must not."""

    first: str
    second: str
    what: str  # "database" | "host"
    detail: str

    def describe(self) -> str:
        """One line for people."""
        return f"{self.first} and {self.second} share the same {self.what}: {self.detail}"


LOOPBACK = "loopback"
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
SSH_LOCAL_NAMES = frozenset({"localhost"})
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def normal_host(name: str | None) -> str:
    """An SSH host's address when it has no known key: loopback names and addresses are one, names resolve.

    Deliberately narrower than `database_host`: hosts are compared by host key first (see host_identity).
    """
    return _identity(name, SSH_LOCAL_NAMES, lambda address: address.is_loopback)


def database_host(name: str | None) -> str:
    """A database server's host compared by what it reaches: every spelling of "this machine" is one.

    A client reaches the local server through a socket directory or file (`/var/run/postgresql`: any
    host starting with "/"), a loopback name or address (also IPv4-mapped: `::ffff:127.0.0.1`), no
    host at all, or the unspecified addresses `0.0.0.0` and `::` (connecting to them reaches the
    local machine too): all of them are "loopback". Otherwise IPv4-mapped addresses are their IPv4.
    """
    if name and name.strip().startswith("/"):
        return LOOPBACK
    return _identity(name, LOCAL_NAMES, _is_this_machine, unmap=True)


def _is_this_machine(address: Address) -> bool:
    return address.is_loopback or address.is_unspecified


def _identity(
    name: str | None, local_names: frozenset[str], is_local: Callable[[Address], bool], unmap: bool = False
) -> str:
    """`LOOPBACK` for no name, a local name, or an address `is_local` accepts; else the address (or the name)."""
    name = (name or "").strip().lower().strip("[]")
    if not name or name in local_names:
        return LOOPBACK
    address = _address(name)
    if address is None:
        return name
    if unmap and isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return LOOPBACK if is_local(address) else str(address)


def _address(name: str) -> Address | None:
    """The address `name` spells or resolves to; None when it does not resolve (then the name is compared)."""
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        pass
    try:
        return ipaddress.ip_address(socket.getaddrinfo(name, None)[0][4][0])
    except (OSError, IndexError, ValueError):
        return None


def host_identity(env: Environment, name: str) -> HostIdentity:
    """The machine host `name` of `env` is: its key in known_hosts, else its address:port."""
    inv = env.inventory
    spec = inv.hosts[name]
    if spec.connection == "local":
        return HostIdentity(LOCAL_PLACE, local_keys(), label=LOCAL_PLACE)
    address, port = str(spec.address), spec.port or inv.ssh.port
    keys = known_keys(inv.ssh.known_hosts, address, port)
    label = "" if keys else f"{address}:{port} (no key in {inv.ssh.known_hosts})"
    return HostIdentity(f"{normal_host(address)}:{port}", keys, label)


@dataclass(frozen=True)
class DatabaseIdentity:
    """A database: its engine, the server's machine, port and name (SQLite: the file)."""

    engine: str
    server: HostIdentity
    port: str
    name: str

    def same(self, other: DatabaseIdentity) -> bool:
        """One database: same engine, port and name on the same machine."""
        mine, theirs = (self.engine, self.port, self.name), (other.engine, other.port, other.name)
        return mine == theirs and self.server.same_machine(other.server)

    def show(self) -> str:
        """`postgresql/<machine>/5432/oa`; SQLite: `sqlite/<path>`."""
        if self.engine == "sqlite":
            return f"sqlite/{self.name}"
        return f"{self.engine}/{self.server.show()}/{self.port}/{self.name}"


def database_identity(env: Environment) -> DatabaseIdentity | None:
    """The environment's database after normalising every spelling of its server.

    A loopback address is relative to where the connection starts: with `dump_via` that host's
    machine, else this one (known by its own sshd keys, so an SSH host that is this machine matches).
    """
    db = env.inventory.database
    if db is None:
        return None
    if db.engine == "sqlite":
        return DatabaseIdentity("sqlite", HostIdentity(LOCAL_PLACE), "", str((env.project_dir / db.name).resolve()))
    port = str(db.port or DEFAULT_PORTS[db.engine])
    host = database_host(db.host)
    if host != LOOPBACK:
        server = HostIdentity(host)
    elif db.dump_via and db.dump_via in env.inventory.hosts:
        server = host_identity(env, db.dump_via)
        server = HostIdentity(server.place, server.keys, f"{LOOPBACK} on {db.dump_via} ({server.show()})")
    else:
        server = HostIdentity(LOOPBACK, local_keys(), label=LOOPBACK)
    return DatabaseIdentity(db.engine, server, port, db.name)


@dataclass(frozen=True)
class Place:
    """One host's deploy directory: two environments must never deploy into the same one."""

    host: str
    identity: HostIdentity
    path: str


def host_places(env: Environment) -> list[Place]:
    """Every host's machine and deploy directory."""
    return [Place(name, host_identity(env, name), env.deploy_to(name).rstrip("/")) for name in env.inventory.hosts]


def conflicts(envs: list[Environment]) -> list[Conflict]:
    """Every pair of environments that shares a database or a host directory."""
    ordered = sorted(envs, key=lambda e: e.name)
    databases = {e.name: database_identity(e) for e in ordered}  # each identity once, not once per pair
    places = {e.name: host_places(e) for e in ordered}
    found = []
    for a, b in combinations(ordered, 2):
        db_a, db_b = databases[a.name], databases[b.name]
        if db_a is not None and db_b is not None and db_a.same(db_b):
            found.append(Conflict(a.name, b.name, "database", db_a.show()))
        shared = {
            f"{pa.identity.show()}:{pa.path}"
            for pa in places[a.name]
            for pb in places[b.name]
            if pa.path == pb.path and pa.identity.same_machine(pb.identity)
        }
        found += [Conflict(a.name, b.name, "host", detail) for detail in sorted(shared)]
    return found


def load_all(inventory_dir: Path) -> list[Environment]:
    """Every environment that loads; one that does not is skipped with a warning (it fails when used)."""
    envs = []
    for name in environment_names(inventory_dir):
        try:
            envs.append(load_environment(inventory_dir, name, require_variables=False))
        except ReleaseError as exc:
            logger.warning("isolation check skips {name}: {exc}", name=name, exc=exc)
    return envs


ISOLATION_FIX = "Each environment needs its own database and its own hosts (or deploy_to): fix the inventory."


def isolation_result(env: Environment, inventory_dir: Path) -> CheckResult:
    """The isolation check: `env` shares no database and no host directory with another environment."""
    others = [e for e in load_all(inventory_dir) if e.name != env.name]
    mine = [c for c in conflicts([env, *others]) if env.name in (c.first, c.second)]
    return judge_isolation(env.name, mine, [e.name for e in others])


def judge_isolation(env: str, found: list[Conflict], others: list[str]) -> CheckResult:
    """Ok when `found` (the conflicts that involve `env`) is empty."""
    if not found:
        return CheckResult("ok", f"{env} is isolated from the other environments", {"compared_with": others})
    evidence = {"conflicts": [c.__dict__ for c in found]}
    reason = f"environment isolation: {env} is not isolated from other environments"
    return CheckResult("fail", reason, evidence, ISOLATION_FIX, tuple(c.describe() for c in found))


def check_isolation(env: Environment, inventory_dir: Path) -> None:
    """Refuse (exit 3) when `env` shares its database or a host directory with another environment."""
    refuse_failed([isolation_result(env, inventory_dir)])


def comparison(inventory_dir: Path) -> dict[str, Any]:
    """What `release check-isolation` prints: each environment's database and hosts as compared, and the conflicts."""
    envs = load_all(inventory_dir)
    rows = []
    for env in envs:
        db = database_identity(env)
        places = [{"host": p.host, "identity": p.identity.show(), "deploy_to": p.path} for p in host_places(env)]
        rows.append({"env": env.name, "database": db.show() if db else "none", "hosts": places})
    return {"environments": rows, "conflicts": [c.__dict__ | {"message": c.describe()} for c in conflicts(envs)]}
