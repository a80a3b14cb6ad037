"""Safety against real sshd hosts: locks, host keys, tar slip, and kill -9 at any point."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.support.project import Project, current_release, ssh_inventory
from tests.support.sshd import SshdCluster, other_host_key_line

pytestmark = pytest.mark.integration


def key_fingerprint(public_key: Path) -> str:
    """`ssh-ed25519 SHA256:…` of a public key file, by OpenSSH's own ssh-keygen (not by the code under test)."""
    listed = subprocess.run(["ssh-keygen", "-lf", str(public_key)], check=True, capture_output=True, text=True)
    fields = listed.stdout.split()  # 256 SHA256:… comment (ED25519)
    assert fields[-1] == "(ED25519)", listed.stdout  # the suite's hosts have ed25519 keys
    return f"ssh-ed25519 {fields[1]}"


@pytest.fixture
def project(tmp_path: Path, sshd_hosts: SshdCluster) -> Project:
    project = Project(tmp_path / "proj")
    project.write_env("test", ssh_inventory(sshd_hosts))
    for version in ("1.0.0", "1.1.0"):
        project.artifact(version)
    return project


def slow_playbook(project: Project, seconds: float) -> None:
    """A project playbook with a pause before the switch, so a run can be caught in the middle."""
    project.insert_task({"name": "Pause", "shell": {"cmd": f"sleep {seconds}"}})


def deploy_logs(project: Project) -> set[Path]:
    """The deploy log files so far."""
    return set((project.root / ".release" / "logs").glob("*-deploy.jsonl"))


def wait_for_log(project: Project, needle: str, proc: object, before: set[Path], timeout: float = 30) -> None:
    """Poll the new deploy's JSON log (not in `before`) until a message containing `needle` appears."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in deploy_logs(project) - before:
            for line in path.read_text().splitlines():
                if needle in json.loads(line)["record"]["message"]:
                    return
        if proc.poll() is not None:  # type: ignore[attr-defined]
            raise AssertionError(f"deploy ended before {needle!r}: {proc.communicate()}")  # type: ignore[attr-defined]
        time.sleep(0.01)
    raise AssertionError(f"no log line with {needle!r}")


def test_concurrent_deploy_is_refused_naming_the_holder(project: Project, sshd_hosts: SshdCluster) -> None:
    slow_playbook(project, 3)
    first = project.spawn("deploy", "test", "--version", "1.0.0")
    try:
        wait_for_log(project, "Pause", first, set())
        second = project.run("deploy", "test", "--version", "1.1.0")
        assert second.code == 3
        assert "test is locked by" in second.stderr and f"pid {first.pid}" in second.stderr
        assert "deploy 1.0.0" in second.stderr
        lock = project.run("status", "test", "--json").json()["lock"]
        assert lock["pid"] == first.pid and lock["stale"] is False
        waited = project.run("deploy", "test", "--version", "1.1.0", "--lock-wait", "60", "--json")
        assert waited.code == 0, waited.stderr
    finally:
        first.wait(60)
    assert first.returncode == 0
    assert [current_release(h.srv) for h in sshd_hosts.hosts] == [waited.json()["release_id"]] * 3
    assert project.run("status", "test", "--json").json()["lock"] is None


def test_unknown_host_key_is_refused_before_any_change(project: Project, sshd_hosts: SshdCluster) -> None:
    lines = sshd_hosts.known_hosts.read_text().splitlines(keepends=True)
    trimmed = project.root / "known_hosts"
    trimmed.write_text("".join(line for line in lines if f"]:{sshd_hosts.hosts[1].port} " not in line))
    project.write_env(
        "test", ssh_inventory(sshd_hosts) | {"ssh": {**ssh_inventory(sshd_hosts)["ssh"], "known_hosts": str(trimmed)}}
    )
    result = project.run("deploy", "test", "--version", "1.0.0")
    assert result.code == 3
    assert "h2: unknown host key" in result.stderr and "nothing was changed" in result.stderr
    offered = key_fingerprint(sshd_hosts.hosts[1].host_key.with_suffix(".pub"))
    assert f"the server offered {offered}: refusing" in result.stderr, result.stderr
    assert all(not (h.srv / "app").exists() for h in sshd_hosts.hosts)


def test_changed_host_key_is_refused(project: Project, sshd_hosts: SshdCluster) -> None:
    impostor = project.root / "known_hosts"
    host = sshd_hosts.hosts[0]
    kept = [line for line in sshd_hosts.known_hosts.read_text().splitlines() if f"]:{host.port} " not in line]
    impostor.write_text("\n".join([*kept, other_host_key_line(host)]) + "\n")
    project.write_env(
        "test", ssh_inventory(sshd_hosts) | {"ssh": {**ssh_inventory(sshd_hosts)["ssh"], "known_hosts": str(impostor)}}
    )
    result = project.run("deploy", "test", "--version", "1.0.0")
    assert result.code == 3 and "h1: host key CHANGED" in result.stderr
    offered = key_fingerprint(host.host_key.with_suffix(".pub"))
    assert f"the server offered {offered}, {impostor} expects ssh-ed25519 SHA256:" in result.stderr, result.stderr
    status = project.run("status", "test", "--json").json()
    assert status["hosts"][0]["reachable"] is False and "CHANGED" in status["hosts"][0]["error"]
    assert all(not (h.srv / "app").exists() for h in sshd_hosts.hosts)


@pytest.mark.parametrize(
    ("name", "kind", "link"),
    [
        ("../evil", tarfile.REGTYPE, ""),
        ("/tmp/evil", tarfile.REGTYPE, ""),
        ("ok/link", tarfile.SYMTYPE, "../../../etc"),
    ],
)
def test_tar_slip_is_refused_before_unpacking(
    project: Project, sshd_hosts: SshdCluster, name: str, kind: bytes, link: str
) -> None:
    path = project.root / "artifacts" / "oa-portal-6.6.6.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, link
        data = b"x" if kind == tarfile.REGTYPE else b""
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    result = project.run("deploy", "test", "--version", "6.6.6")
    assert result.code == 2 and f"refusing entry {name!r}" in result.stderr
    assert all(not (h.srv / "app").exists() for h in sshd_hosts.hosts)


@pytest.mark.parametrize("step", ["upload oa-portal", "unpack into", "Link shared paths", "current: ", "on 2026"])
def test_kill_9_at_any_point_then_a_clean_rerun(project: Project, sshd_hosts: SshdCluster, step: str) -> None:
    first = project.run("deploy", "test", "--version", "1.0.0", "--json")
    assert first.code == 0, first.stderr
    good = first.json()["release_id"]
    before = deploy_logs(project)
    proc = project.spawn("deploy", "test", "--version", "1.1.0")
    wait_for_log(project, step, proc, before)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    for host in sshd_hosts.hosts:  # current is always a complete release
        current = current_release(host.srv)
        assert current is not None
        assert (host.srv / "app" / "releases" / current / "VERSION").read_text() in ("1.0.0\n", "1.1.0\n")
    status = project.run("status", "test", "--json").json()
    assert status["lock"]["pid"] == proc.pid and status["lock"]["stale"] is True
    refused = project.run("deploy", "test", "--version", "1.1.0")
    assert refused.code == 3 and "died" in refused.stderr and "release unlock test" in refused.stderr
    assert project.run("unlock", "test", "--reason", "killed on purpose by the test").code == 0
    history = project.run("history", "test", "--json").json()
    assert history[0]["status"] == "refused" and "died" in history[0]["refused_reason"]  # the attempt above
    assert history[1]["status"] == "interrupted"
    rerun = project.run("deploy", "test", "--version", "1.1.0", "--json")
    assert rerun.code == 0, rerun.stderr
    new = rerun.json()["release_id"]
    assert [current_release(h.srv) for h in sshd_hosts.hosts] == [new] * 3
    for host in sshd_hosts.hosts:
        releases = sorted(p.name for p in (host.srv / "app" / "releases").iterdir())
        assert good in releases and new in releases and not any(r.startswith(".") for r in releases)
    back = project.run("rollback", "test", "--json")
    assert back.code == 0 and [current_release(h.srv) for h in sshd_hosts.hosts] == [good] * 3


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_switches_back_records_and_releases_the_lock(
    project: Project, sshd_hosts: SshdCluster, signum: int
) -> None:
    first = project.run("deploy", "test", "--version", "1.0.0", "--json")
    assert first.code == 0, first.stderr
    good = first.json()["release_id"]
    # a pause after the switch: the hosts must go back
    project.insert_task({"name": "Pause", "shell": {"cmd": "sleep 3"}}, before="Restart the service")
    before = deploy_logs(project)
    proc = project.spawn("deploy", "test", "--version", "1.1.0")
    wait_for_log(project, "Pause", proc, before)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert [current_release(h.srv) for h in sshd_hosts.hosts] == [good] * 3
    status = project.run("status", "test", "--json").json()
    assert status["lock"] is None
    assert project.run("history", "test", "--json").json()[0]["status"] == "interrupted"
