"""Every spelling of one database server is one identity (isolation cannot be bypassed by spelling)."""

from __future__ import annotations

import pytest

from release.host_identity import HostIdentity, known_host_name
from release.isolation import database_host, normal_host

LOCAL = ["127.0.0.1", "127.0.0.5", "127.1", "localhost", "LOCALHOST", "localhost.localdomain", "ip6-localhost",
         "::1", "[::1]", "0.0.0.0", "0", "::", "[::]", "::ffff:127.0.0.1", "[::ffff:127.0.0.1]", "::ffff:0.0.0.0",
         "", None, "/var/run/postgresql", "/run/postgresql", "/tmp", "/run/mysqld/mysqld.sock",
         " 127.0.0.1 ", " /var/run/postgresql"]  # fmt: skip


@pytest.mark.parametrize("spelling", LOCAL)
def test_every_spelling_of_this_machine_is_loopback(spelling: str | None) -> None:
    assert database_host(spelling) == "loopback"


@pytest.mark.parametrize(("spelling", "identity"), [("10.0.0.5", "10.0.0.5"), ("[fd00::5]", "fd00::5"),
                                                    ("::ffff:10.0.0.5", "10.0.0.5"),
                                                    ("10.0.0.05.invalid", "10.0.0.05.invalid")])  # fmt: skip
def test_other_machines_keep_their_address(spelling: str, identity: str) -> None:
    assert database_host(spelling) == identity


@pytest.mark.parametrize(
    ("address", "identity"),
    [("127.0.0.1", "loopback"), ("localhost", "loopback"), ("::1", "loopback"), ("", "loopback"),
     ("0.0.0.0", "0.0.0.0"), ("::", "::"), ("/var/run/postgresql", "/var/run/postgresql"),
     ("10.0.0.5", "10.0.0.5")],
)  # fmt: skip
def test_ssh_hosts_keep_their_identity(address: str, identity: str) -> None:
    """Only database servers gain the socket and unspecified spellings; hosts get compared by host key later."""
    assert normal_host(address) == identity


def test_hosts_with_keys_are_compared_by_key_alone() -> None:
    app1 = HostIdentity("10.0.0.1:10022", frozenset({"ssh-ed25519 SHA256:a"}))
    app2 = HostIdentity("10.0.0.1:10022", frozenset({"ssh-ed25519 SHA256:b"}))
    by_name = HostIdentity("app1.example:22", frozenset({"ssh-rsa SHA256:r", "ssh-ed25519 SHA256:a"}))
    unknown = HostIdentity("10.0.0.1:10022")
    assert not app1.same_machine(app2), "one address, two keys: two machines (a NAT, a jump server)"
    assert app1.same_machine(by_name) and by_name.same_machine(app1), "a key in common: one machine"
    assert unknown.same_machine(app1) and unknown.same_machine(app2), "no key: the same address:port is the same"
    assert not unknown.same_machine(HostIdentity("10.0.0.1:10023"))
    assert app1.show() == "ssh-ed25519 SHA256:a" and unknown.show() == "10.0.0.1:10022"


def test_known_hosts_names_non_default_ports_in_brackets() -> None:
    assert known_host_name("10.0.0.1", 22) == "10.0.0.1"
    assert known_host_name("10.0.0.1", 10022) == "[10.0.0.1]:10022"
