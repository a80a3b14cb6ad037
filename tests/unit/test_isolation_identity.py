"""Every spelling of one database server is one identity (isolation cannot be bypassed by spelling)."""

from __future__ import annotations

import pytest

from release.isolation import normal_host

LOCAL = ["127.0.0.1", "127.0.0.5", "localhost", "LOCALHOST", "::1", "[::1]", "0.0.0.0", "::", "[::]", "",
         None, "/var/run/postgresql", "/run/postgresql", "/tmp", " 127.0.0.1 "]  # fmt: skip


@pytest.mark.parametrize("spelling", LOCAL)
def test_every_spelling_of_this_machine_is_loopback(spelling: str | None) -> None:
    assert normal_host(spelling) == "loopback"


@pytest.mark.parametrize(("spelling", "identity"), [("10.0.0.5", "10.0.0.5"), ("[fd00::5]", "fd00::5"),
                                                    ("10.0.0.05.invalid", "10.0.0.05.invalid")])  # fmt: skip
def test_other_machines_keep_their_address(spelling: str, identity: str) -> None:
    assert normal_host(spelling) == identity
