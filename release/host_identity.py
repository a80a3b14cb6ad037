"""Which machine a host entry is: the one its SSH host key says, else where it is reached.

Jump servers and NAT publish several machines on one address (`10.0.0.1:10022` -> app1,
`10.0.0.1:10023` -> app2), and one machine has several names (an IP and a DNS name). The host
key is what an SSH connection checks, so it is what tells machines apart: two entries whose keys in
`known_hosts` (hashed entries too, read by paramiko as ssh does) share a key are one machine, two
whose keys differ are two. Only when an entry has no key yet is it compared by `address:port`,
every spelling of this machine's loopback counting as one (the safe side while nothing is known).
This machine itself is known by its sshd's public host keys, when it runs one.
"""

from __future__ import annotations

import base64
import functools
import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

if TYPE_CHECKING:  # paramiko costs ~60 ms to import: only environments with SSH hosts pay for it
    import paramiko

LOCAL_PLACE = "local"
SSHD_PUBLIC_KEYS = "/etc/ssh/ssh_host_*_key.pub"


@dataclass(frozen=True)
class HostIdentity:
    """What two entries are compared by: host-key fingerprints, else the place they are reached at."""

    place: str  # normalised `address:port`, "local" (this machine) or "loopback" (a database here)
    keys: frozenset[str] = frozenset()  # e.g. "ssh-ed25519 SHA256:…"
    label: str = ""  # what people are shown; default: the first key, else the place

    def same_machine(self, other: HostIdentity) -> bool:
        """One machine: a key in common when both have keys, else the same place."""
        if self.keys and other.keys:
            return bool(self.keys & other.keys)
        return self.place == other.place

    def show(self) -> str:
        """The identity as used: a key fingerprint or the place."""
        if self.label:
            return self.label
        return min(self.keys) if self.keys else self.place


def fingerprint(kind: str, blob: bytes) -> str:
    """`ssh-ed25519 SHA256:…` as `ssh-keygen -l` prints it: the key blob's sha256, base64 without padding."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"{kind} SHA256:{digest}"


def known_host_name(address: str, port: int) -> str:
    """How known_hosts names a host: `address` on port 22, else `[address]:port`."""
    return address if port == 22 else f"[{address}]:{port}"


def known_keys(known_hosts: str, address: str, port: int) -> frozenset[str]:
    """Fingerprints of the keys `known_hosts` holds for the host (none if the file or entry is missing)."""
    entries = _host_keys(str(Path(known_hosts).expanduser()))
    found = entries.lookup(known_host_name(address, port))
    return frozenset(fingerprint(key.get_name(), key.asbytes()) for key in found.values()) if found else frozenset()


@functools.cache
def _host_keys(path: str) -> paramiko.HostKeys:
    """A known_hosts file read once per process (every command compares every environment)."""
    import paramiko

    keys = paramiko.HostKeys()
    try:
        keys.load(path)
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError, paramiko.SSHException) as exc:
        logger.warning("{path} cannot be read ({exc}): hosts are compared by address", path=path, exc=exc)
    return keys


@functools.cache
def local_keys() -> frozenset[str]:
    """Fingerprints of this machine's sshd host keys (none when it runs no sshd)."""
    found: set[str] = set()
    for path in sorted(glob.glob(SSHD_PUBLIC_KEYS)):
        try:
            kind, data = Path(path).read_text().split()[:2]
            found.add(fingerprint(kind, base64.b64decode(data, validate=True)))
        except (OSError, ValueError, UnicodeDecodeError):
            continue  # unreadable or not a key: this machine is still "local"
    return frozenset(found)
