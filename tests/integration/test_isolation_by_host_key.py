"""Hosts are the machines their SSH host keys say; loopback databases are on the machine they are reached from.

Real sshd hosts on 127.0.0.2..4, each with its own key and /srv: on one loopback network, as behind
one NAT address, they are three machines, and isolation must say so.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.project import Project, ssh_inventory
from tests.support.sshd import SshdCluster, SshdHost

pytestmark = pytest.mark.integration


def only(cluster: SshdCluster, *names: str, **extra: Any) -> dict[str, Any]:
    """The cluster's inventory with only the named hosts (all deploying to /srv/app)."""
    data = ssh_inventory(cluster, **extra)
    data["hosts"] = {name: spec for name, spec in data["hosts"].items() if name in names}
    return data


def key_line(cluster: SshdCluster, host: SshdHost) -> str:
    """The host's key as known_hosts holds it ('ssh-ed25519 AAAA…')."""
    for line in cluster.known_hosts.read_text().splitlines():
        name, key = line.split(" ", 1)
        if name == f"[{host.address}]:{host.port}":
            return key
    raise AssertionError(f"{host.name} is not in {cluster.known_hosts}")


def hashed_known_hosts(path: Path, lines: list[str]) -> Path:
    """A known_hosts file with hashed names, as `HashKnownHosts yes` writes them."""
    path.write_text("".join(f"{line}\n" for line in lines))
    subprocess.run(["ssh-keygen", "-H", "-f", str(path)], check=True, capture_output=True)
    assert "[" not in path.read_text()  # every name is hashed now
    return path


def test_hosts_on_one_loopback_network_with_their_own_keys_are_isolated(
    tmp_path: Path, sshd_hosts: SshdCluster
) -> None:
    project = Project(tmp_path / "proj")
    project.write_env("test", only(sshd_hosts, "h1", "h2"))
    project.write_env("prod", only(sshd_hosts, "h3"))  # same deploy_to /srv/app, another machine
    project.artifact("1.0.0")
    check = project.run("check-isolation", "--json")
    assert check.code == 0, check.stderr
    rows = {row["env"]: row for row in check.json()["environments"]}
    identities = [place["identity"] for place in rows["test"]["hosts"] + rows["prod"]["hosts"]]
    assert all(i.startswith("ssh-ed25519 SHA256:") for i in identities) and len(set(identities)) == 3
    h1_key = sshd_hosts.hosts[0].host_key.with_name(sshd_hosts.hosts[0].host_key.name + ".pub")
    listed = subprocess.run(["ssh-keygen", "-lf", str(h1_key)], capture_output=True, text=True, check=True).stdout
    assert rows["test"]["hosts"][0]["identity"] == f"ssh-ed25519 {listed.split()[1]}"  # as ssh-keygen -l shows it
    assert project.run("deploy", "test", "--version", "1.0.0").code == 0
    deployed = project.run("deploy", "prod", "--version", "1.0.0", "--yes")
    assert deployed.code == 0, deployed.stderr
    table = project.run("check-isolation")
    assert table.code == 0 and "SHA256:" in table.stdout and "isolated" in table.stdout


def test_one_machine_under_two_names_is_one_host(tmp_path: Path, sshd_hosts: SshdCluster) -> None:
    """prod names h1 'localhost' in a hashed known_hosts: the same key, so the same machine and directory."""
    h1 = sshd_hosts.hosts[0]
    project = Project(tmp_path / "proj")
    project.write_env("test", only(sshd_hosts, "h1"))
    known = hashed_known_hosts(tmp_path / "prod_known_hosts", [f"[localhost]:{h1.port} {key_line(sshd_hosts, h1)}"])
    prod = only(sshd_hosts, "h3")
    prod["hosts"]["h3"]["address"], prod["hosts"]["h3"]["port"] = "localhost", h1.port
    prod["ssh"]["known_hosts"] = str(known)
    project.write_env("prod", prod)
    check = project.run("check-isolation")
    assert check.code == 3
    assert "prod and test share the same host: ssh-ed25519 SHA256:" in check.stderr
    assert ":/srv/app" in check.stderr
    project.artifact("1.0.0")
    assert project.run("deploy", "test", "--version", "1.0.0").code == 3


def test_a_host_without_a_known_key_is_compared_by_address_and_port(tmp_path: Path, sshd_hosts: SshdCluster) -> None:
    h1 = sshd_hosts.hosts[0]
    project = Project(tmp_path / "proj")
    project.write_env("test", only(sshd_hosts, "h1"))
    prod = only(sshd_hosts, "h3")
    prod["hosts"]["h3"]["port"] = h1.port
    prod["hosts"]["h3"]["address"] = "127.0.0.1"  # no key for it: every loopback spelling is one place
    prod["ssh"]["known_hosts"] = str(tmp_path / "empty_known_hosts")
    project.write_env("prod", prod)
    check = project.run("check-isolation", "--json")
    assert check.code == 3
    (conflict,) = check.json()["conflicts"]
    assert conflict["what"] == "host"
    prod_row = next(row for row in check.json()["environments"] if row["env"] == "prod")
    assert prod_row["hosts"][0]["identity"] == f"127.0.0.1:{h1.port} (no key in {tmp_path / 'empty_known_hosts'})"
    prod["hosts"]["h3"]["port"] = h1.port + 1  # another port: another machine behind the address
    project.write_env("prod", prod)
    assert project.run("check-isolation").code == 0


def pg_via(host: str | None) -> dict[str, Any]:
    """The application's PostgreSQL, `oa`, on localhost of `host` (None: of this machine)."""
    db: dict[str, Any] = {"engine": "postgresql", "host": "127.0.0.1", "name": "oa", "user": "oa"}
    return db | ({"dump_via": host} if host else {})


def test_loopback_databases_are_on_the_machine_they_are_reached_from(tmp_path: Path, sshd_hosts: SshdCluster) -> None:
    project = Project(tmp_path / "proj")
    project.write_env("test", only(sshd_hosts, "h1", deploy_to="/srv/test", database=pg_via("h1")))
    project.write_env("prod", only(sshd_hosts, "h2", database=pg_via("h2")))
    check = project.run("check-isolation", "--json")
    assert check.code == 0, check.stderr
    databases = {row["env"]: row["database"] for row in check.json()["environments"]}
    assert databases["test"].startswith("postgresql/loopback on h1 (ssh-ed25519 SHA256:")
    assert databases["test"].endswith("/5432/oa") and databases["test"] != databases["prod"]
    # This machine's own database is another machine's loopback than h1's.
    project.write_env("prod", only(sshd_hosts, "h2", database=pg_via(None)))
    assert project.run("check-isolation").code == 0
    # Both through h1: one server, one database.
    project.write_env("prod", only(sshd_hosts, "h1", "h2", database=pg_via("h1")))
    refused = project.run("check-isolation")
    assert refused.code == 3
    assert "prod and test share the same database: postgresql/loopback on h1 (ssh-ed25519 SHA256:" in refused.stderr
