"""Smoke tests proving the server fixtures are real, strict and isolated (~8 s with startup)."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import paramiko
import pytest

from tests.support.databases import MariaDBServer, PostgresServer
from tests.support.sshd import SshdCluster, SshdHost, other_host_key_line

pytestmark = pytest.mark.integration


def _paramiko_client(cluster: SshdCluster, known_hosts: Path) -> paramiko.SSHClient:
    """Strict client, as the deploy tool should be: unknown or changed host keys are refused."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def _connect(client: paramiko.SSHClient, cluster: SshdCluster, host: SshdHost) -> None:
    client.connect(
        host.address,
        port=host.port,
        username=cluster.user,
        key_filename=str(cluster.identity_file),
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )


def test_paramiko_login_with_known_hosts_and_reject_policy(sshd_hosts: SshdCluster) -> None:
    for host in sshd_hosts.hosts:
        client = _paramiko_client(sshd_hosts, sshd_hosts.known_hosts)
        try:
            _connect(client, sshd_hosts, host)
            _, stdout, _ = client.exec_command("hostname; id -un")
            assert stdout.read().decode().split() == [host.name, sshd_hosts.user]
            with client.open_sftp() as sftp:
                sftp.putfo(io.BytesIO(b"via sftp"), "/srv/sftp.txt")
        finally:
            client.close()
        assert (host.srv / "sftp.txt").read_bytes() == b"via sftp"


def test_changed_host_key_is_rejected(sshd_hosts: SshdCluster, tmp_path: Path) -> None:
    host = sshd_hosts.hosts[0]
    impostor = tmp_path / "known_hosts"
    impostor.write_text(other_host_key_line(host) + "\n")
    client = _paramiko_client(sshd_hosts, impostor)
    with pytest.raises(paramiko.BadHostKeyException):
        _connect(client, sshd_hosts, host)
    client.close()
    argv = [
        a if not a.startswith("UserKnownHostsFile=") else f"UserKnownHostsFile={impostor}"
        for a in sshd_hosts.ssh_argv(host)
    ]
    result = subprocess.run([*argv, "true"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in result.stderr


def test_hosts_have_private_srv(sshd_hosts: SshdCluster) -> None:
    h1, h2 = sshd_hosts.hosts[:2]
    assert sshd_hosts.ssh(h1, "ls -A /srv").stdout == ""
    sshd_hosts.ssh(
        h1,
        "mkdir -p /srv/app/releases/1 && ln -sfn /srv/app/releases/1 "
        "/srv/app/current && echo h1 > /srv/app/releases/1/who",
    )
    assert sshd_hosts.ssh(h1, "cat /srv/app/current/who").stdout == "h1\n"
    assert sshd_hosts.ssh(h2, "ls -A /srv").stdout == ""
    assert (h1.srv / "app/releases/1/who").read_text() == "h1\n"
    assert os.readlink(h1.srv / "app/current") == "/srv/app/releases/1"
    assert not any(h2.srv.iterdir())
    failed = sshd_hosts.ssh(h2, "cat /srv/app/current/who", check=False)
    assert failed.returncode != 0 and "No such file" in failed.stderr

    sshd_hosts.wipe_srv()
    assert not any(h1.srv.iterdir())
    assert h1.srv.is_dir()  # the bind-mount source itself must survive a wipe
    assert sshd_hosts.ssh(h1, "touch /srv/again && ls /srv").stdout == "again\n"


def test_host_can_be_taken_down_and_restarted(sshd_hosts: SshdCluster) -> None:
    host = sshd_hosts.hosts[-1]
    old_pid = host.pid
    host.stop()
    stat = subprocess.run(["ps", "-o", "stat=", "-p", str(old_pid)], capture_output=True, text=True).stdout.strip()
    assert stat == "" or stat.startswith("Z")
    assert sshd_hosts.ssh(host, "true", check=False).returncode == 255
    host.start()
    assert host.pid != old_pid
    assert sshd_hosts.ssh(host, "hostname").stdout.strip() == host.name


def test_postgres_accepts_password_over_tcp(postgres_server: PostgresServer) -> None:
    pg = postgres_server
    pg.create_database("smoke_pg")
    pg.psql("CREATE TABLE t (v text); INSERT INTO t VALUES ('ok')", db="smoke_pg")
    argv = [
        "psql",
        "-X",
        "-At",
        "-h",
        pg.host,
        "-p",
        str(pg.port),
        "-U",
        pg.user,
        "-d",
        "smoke_pg",
        "-c",
        "SELECT v FROM t",
    ]
    ok = subprocess.run(argv, env=dict(os.environ, PGPASSWORD=pg.password), capture_output=True, text=True, timeout=30)
    assert ok.stdout == "ok\n", ok.stderr
    bad = subprocess.run(argv, env=dict(os.environ, PGPASSWORD="wrong"), capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "password authentication failed" in bad.stderr


def test_mariadb_accepts_password_over_tcp(mariadb_server: MariaDBServer) -> None:
    my = mariadb_server
    my.create_database("smoke_my")
    my.sql("CREATE TABLE t (v VARCHAR(10)); INSERT INTO t VALUES ('ok')", db="smoke_my")
    argv = [
        "mariadb",
        "--no-defaults",
        "-N",
        "-B",
        "-h",
        my.host,
        "-P",
        str(my.port),
        "-u",
        my.user,
        "smoke_my",
        "-e",
        "SELECT v FROM t",
    ]
    ok = subprocess.run(argv, env=dict(os.environ, MYSQL_PWD=my.password), capture_output=True, text=True, timeout=30)
    assert ok.stdout == "ok\n", ok.stderr
    bad = subprocess.run(argv, env=dict(os.environ, MYSQL_PWD="wrong"), capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "Access denied" in bad.stderr
