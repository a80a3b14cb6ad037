"""What a host keeps is what the artifact's name says (issue 9, point 6), against real sshd hosts.

The hosts, the ssh/sftp transports and the hashing are real. Only the timing of a local rewrite is
staged: the upload's chunk reader rewrites the file once it has read its first chunk, which is what a
build writing the artifact again during an upload does, minus the race.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from release.hosts import HashingReader, Host, LocalHost, PutFailed
from release.inventory import load_environment
from release.playbook.modules.upload_release import BAD_COPY, check_sha256
from release.targets import build_hosts
from tests.support.project import Project, current_release, ssh_inventory
from tests.support.sshd import SshdCluster

pytestmark = pytest.mark.integration

BIG = 3 << 20  # several chunks of every transport's reader: the rewrite lands mid-upload
Rewrite = Callable[[Path], bytes]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def rewrite_mid_read(monkeypatch: pytest.MonkeyPatch) -> Rewrite:
    """Arm a rewrite of `path` (same size, other bytes, in place) right after an upload reads its first chunk.

    Same size on purpose: the size check the uploads had before let exactly this through. Returns the new content.
    """

    def arm(path: Path) -> bytes:
        new = os.urandom(path.stat().st_size)
        read, pending = HashingReader.read, [True]

        def read_then_rewrite(self: HashingReader, size: int = -1) -> bytes:
            chunk = read(self, size)
            if pending:
                pending.clear()
                with path.open("r+b") as stream:  # not write_bytes: no moment where the file is empty
                    stream.write(new)
            return chunk

        monkeypatch.setattr(HashingReader, "read", read_then_rewrite)
        return new

    return arm


@pytest.fixture(params=["openssh", "sftp"])
def transfer(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def project(tmp_path: Path, sshd_hosts: SshdCluster, transfer: str) -> Project:
    project = Project(tmp_path / "proj")
    inventory = ssh_inventory(sshd_hosts)
    inventory["ssh"]["transfer"] = transfer
    project.write_env("test", inventory)
    return project


@pytest.fixture
def ssh_hosts(project: Project) -> Iterator[list[Host]]:
    """The inventory's hosts as the deploy builds them (with the parametrized transfer)."""
    hosts = build_hosts(load_environment(project.inventory, "test"))
    yield hosts
    for host in hosts:
        host.close()


def test_put_returns_the_sha256_of_the_bytes_it_sent(
    ssh_hosts: list[Host], sshd_hosts: SshdCluster, tmp_path: Path, rewrite_mid_read: Rewrite
) -> None:
    host, srv = ssh_hosts[0], sshd_hosts.hosts[0].srv
    local = tmp_path / "payload.bin"
    local.write_bytes(original := os.urandom(BIG))
    assert host.put(local, "/srv/first.bin") == sha256(original)
    rewrite_mid_read(local)
    sent = host.put(local, "/srv/second.bin")
    arrived = (srv / "second.bin").read_bytes()
    assert sent == sha256(arrived)  # what left is what arrived: part old, part new
    assert sent not in (sha256(original), sha256(local.read_bytes()))


def test_local_put_returns_the_sha256_of_the_bytes_it_sent(tmp_path: Path, rewrite_mid_read: Rewrite) -> None:
    host = LocalHost("web1", ["app"], str(tmp_path))
    local = tmp_path / "payload.bin"
    local.write_bytes(original := os.urandom(BIG))
    rewrite_mid_read(local)
    sent = host.put(local, str(tmp_path / "copy.bin"))
    assert sent == sha256((tmp_path / "copy.bin").read_bytes())
    assert sent not in (sha256(original), sha256(local.read_bytes()))


def test_a_failed_upload_still_tells_what_was_sent(ssh_hosts: list[Host], tmp_path: Path) -> None:
    local = tmp_path / "payload.bin"
    local.write_bytes(b"payload")
    with pytest.raises(PutFailed) as failed:
        ssh_hosts[0].put(local, "/srv/p.tmp", after="exit 7")
    assert failed.value.sent_sha256 == sha256(b"payload") and failed.value.result.exited == 7
    local.write_bytes(os.urandom(BIG))  # far more than a pipe holds: the client must not hang writing it
    with pytest.raises(PutFailed) as early:
        ssh_hosts[0].put(local, "/srv/p.tmp", before="exit 8")
    assert early.value.result.exited == 8  # a failing `before` too: one exception type for every part


@pytest.mark.parametrize("tools", ["openssl", "sha256sum only"])
def test_the_check_on_the_host_keeps_the_right_copy_and_removes_another(
    ssh_hosts: list[Host], sshd_hosts: SshdCluster, tmp_path: Path, tools: str
) -> None:
    host, srv = ssh_hosts[0], sshd_hosts.hosts[0].srv
    if tools == "sha256sum only":  # a host without the openssl command: the check falls back to sha256sum
        host.run("mkdir /srv/bin && ln -s /usr/bin/sha256sum /usr/bin/cut /usr/bin/rm /srv/bin/")
    only = "export PATH=/srv/bin && " if tools == "sha256sum only" else ""
    local = tmp_path / "payload.bin"
    local.write_bytes(b"what was sent")
    host.put(local, "/srv/p.tmp", after=only + check_sha256("/srv/p.tmp", sha256(b"what was sent"), "the copy"))
    assert (srv / "p.tmp").read_bytes() == b"what was sent"
    wrong = sha256(b"what the name says")
    with pytest.raises(PutFailed) as failed:
        host.put(local, "/srv/p.tmp", after=only + check_sha256("/srv/p.tmp", wrong, "the uploaded copy"))
    assert failed.value.result.exited == BAD_COPY
    assert f"the uploaded copy /srv/p.tmp has sha256 {sha256(b'what was sent')}, expected {wrong}: removed" in (
        failed.value.result.stderr
    )
    assert not (srv / "p.tmp").exists()


def _store(cluster: SshdCluster, index: int) -> Path:
    return cluster.hosts[index].srv / "app" / ".release" / "artifacts"


def test_a_stored_artifact_with_the_right_name_but_other_content_is_replaced(
    project: Project, sshd_hosts: SshdCluster
) -> None:
    wanted = project.artifact("1.0.0")
    impostor = project.artifact("1.1.0").read_bytes()  # a valid tarball: unpacking it would "work"
    name = f"{sha256(wanted.read_bytes())}.tar.gz"
    sshd_hosts.ssh(sshd_hosts.hosts[0], "mkdir -p /srv/app/.release/artifacts")
    (_store(sshd_hosts, 0) / name).write_bytes(impostor)
    result = project.run("deploy", "test", "--version", "1.0.0", "--json")
    assert result.code == 0, result.stderr
    assert [h["detail"] for h in result.json()["hosts"]] == ["uploaded"] * 3  # h1 sent it again in the same run
    release_id = result.json()["release_id"]
    for index, host in enumerate(sshd_hosts.hosts):
        assert (host.srv / "app" / "releases" / release_id / "VERSION").read_text() == "1.0.0\n"
        assert [p.name for p in _store(sshd_hosts, index).iterdir()] == [name]
        assert (_store(sshd_hosts, index) / name).read_bytes() == wanted.read_bytes()


def test_an_artifact_that_changes_while_it_is_sent_is_refused_and_not_kept(
    project: Project, sshd_hosts: SshdCluster, rewrite_mid_read: Rewrite, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact = project.artifact("1.0.0", {"VERSION": "1.0.0\n", "assets.bin": os.urandom(BIG)})
    rewrite_mid_read(artifact)
    result = project.run("deploy", "test", "--version", "1.0.0")
    assert result.code == 1
    assert "the artifact changed while it was being sent" in result.stderr
    assert "rebuild it, then deploy again" in result.stderr
    for index, host in enumerate(sshd_hosts.hosts):
        assert list(_store(sshd_hosts, index).iterdir()) == []  # neither the store entry nor the temporary upload
        assert current_release(host.srv) is None
    monkeypatch.undo()
    project.artifact("1.0.0", {"VERSION": "1.0.0\n", "assets.bin": os.urandom(BIG)})  # rebuilt
    again = project.run("deploy", "test", "--version", "1.0.0")
    assert again.code == 0, again.stderr
