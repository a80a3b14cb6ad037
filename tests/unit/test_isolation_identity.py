"""Every spelling of one database server is one identity (isolation cannot be bypassed by spelling)."""

from __future__ import annotations

import pytest

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
