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

from release.errors import Refused, ReleaseError
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
    """An SSH host compared by what it reaches: loopback names and addresses are one, names resolve.

    Deliberately narrower than `database_host`: hosts are to be compared by host key instead.
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


def database_identity(env: Environment) -> tuple[str, ...] | None:
    """(engine, host, port, name) after normalising; SQLite by resolved file path."""
    db = env.inventory.database
    if db is None:
        return None
    if db.engine == "sqlite":
        return ("sqlite", str((env.project_dir / db.name).resolve()))
    port = db.port or DEFAULT_PORTS[db.engine]
    return (db.engine, database_host(db.host), str(port), db.name)


def host_places(env: Environment) -> set[tuple[str, str]]:
    """(host, deploy_to) pairs: two environments must never deploy into the same directory of a host."""
    places = set()
    for name, spec in env.inventory.hosts.items():
        where = "local" if spec.connection == "local" else normal_host(spec.address)
        places.add((where, env.deploy_to(name).rstrip("/")))
    return places


def conflicts(envs: list[Environment]) -> list[Conflict]:
    """Every pair of environments that shares a database or a host directory."""
    found = []
    for a, b in combinations(sorted(envs, key=lambda e: e.name), 2):
        db_a, db_b = database_identity(a), database_identity(b)
        if db_a is not None and db_a == db_b:
            found.append(Conflict(a.name, b.name, "database", "/".join(db_a)))
        for host, path in sorted(host_places(a) & host_places(b)):
            found.append(Conflict(a.name, b.name, "host", f"{host}:{path}"))
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


def check_isolation(env: Environment, inventory_dir: Path) -> None:
    """Refuse (exit 3) when `env` shares its database or a host directory with another environment."""
    others = [e for e in load_all(inventory_dir) if e.name != env.name]
    mine = [c for c in conflicts([env, *others]) if env.name in (c.first, c.second)]
    if mine:
        lines = "\n".join(f"  {c.describe()}" for c in mine)
        raise Refused(
            f"environment isolation: {env.name} is not isolated from other environments:\n{lines}\n"
            "Each environment needs its own database and its own hosts (or deploy_to): fix the inventory."
        )


def comparison(inventory_dir: Path) -> dict[str, Any]:
    """What `release check-isolation` prints: each environment's database and hosts, and the conflicts."""
    envs = load_all(inventory_dir)
    return {
        "environments": [
            {
                "env": e.name,
                "database": "/".join(database_identity(e) or ("none",)),
                "hosts": sorted(f"{h}:{p}" for h, p in host_places(e)),
            }
            for e in envs
        ],
        "conflicts": [c.__dict__ | {"message": c.describe()} for c in conflicts(envs)],
    }
