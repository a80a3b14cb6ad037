"""Real PostgreSQL and MariaDB servers on 127.0.0.1 for integration tests.

No Docker engine runs here, so the servers are the Debian binaries started as the test
suite's own child processes (not via pg_ctl or mysqld_safe, which daemonize): we know
their PIDs, stop them by PID and reap them ourselves. Data lives under the given workdir.
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.fs import make_traversable

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ident(name: str) -> str:
    """Database names are interpolated into SQL: accept plain identifiers only."""
    if not _IDENT.match(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return name


def _apt_install(package: str, what: str) -> None:
    """Install a Debian package when root (CI starts from a fresh machine); else explain."""
    if os.geteuid() != 0:
        raise RuntimeError(
            f"{what} not found: install the Debian package '{package}' "
            f"(apt-get install -y {package}) or run the tests as root"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", package]
    if subprocess.run(cmd, env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(cmd, env=env, check=True)


def _socket_dir(workdir: Path) -> Path:
    """Unix socket paths are limited to ~107 bytes; fall back to a short dir under /tmp."""
    if len(str(workdir)) < 80:
        return workdir
    return Path(tempfile.mkdtemp(prefix="reltest-"))


# Servers run in their own session so a terminal's Ctrl-C reaches pytest, which stops them.
_DAEMON: dict[str, Any] = {"stdin": subprocess.DEVNULL, "start_new_session": True}
_AS_PG: dict[str, Any] = {"user": "postgres", "group": "postgres", "extra_groups": []}


def _stop_process(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal our child, wait for it (reaping it, so no zombie), escalate to SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT)


def _wait_ready(proc: subprocess.Popen[bytes], probe: list[str], env: dict[str, str], log: Path, name: str) -> None:
    """Poll a client command until it succeeds; fail fast with the log if the server died."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{_tail(log)}")
        if subprocess.run(probe, env=env, capture_output=True, timeout=30).returncode == 0:
            return
        time.sleep(0.05)
    _stop_process(proc, signal.SIGKILL)
    raise RuntimeError(f"{name} not ready after {START_TIMEOUT}s:\n{_tail(log)}")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


def ensure_postgres_installed() -> None:
    """PostgreSQL server binaries (initdb, postgres) come from Debian's postgresql-15."""
    if _pg_bindir() is None or shutil.which("psql") is None:
        _apt_install("postgresql-15", "PostgreSQL server binaries")


@dataclass
class PostgresServer:
    """A postgres postmaster we started; `user`/`password` log in over TCP with scram."""

    host: str
    port: int
    user: str
    password: str
    datadir: Path
    bindir: Path
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc else 0

    def env(self) -> dict[str, str]:
        """Client environment: the password travels in PGPASSWORD, never on argv."""
        return dict(os.environ, PGPASSWORD=self.password, PGCONNECT_TIMEOUT="10")

    def psql(self, sql: str, db: str = "postgres") -> str:
        """Run SQL with psql over TCP as `user`; return unaligned, tuples-only stdout."""
        psql = self.bindir / "psql"
        argv = [str(psql) if psql.exists() else "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1"]
        argv += ["-h", self.host, "-p", str(self.port), "-U", self.user, "-d", db, "-c", sql]
        out = subprocess.run(argv, env=self.env(), capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"psql failed ({out.returncode}): {sql}\n{out.stderr}")
        return out.stdout

    def create_database(self, name: str) -> None:
        self.psql(f'CREATE DATABASE "{_ident(name)}"')

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of the postmaster; idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _stop_process(proc, signal.SIGINT)


_INITDB_OPTS = ["-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8"]
_INITDB_OPTS += ["--locale=C.UTF-8", "--no-sync"]
_PG_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",  # test data is disposable: trade durability for speed
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "logging_collector": "off",
}


def start_postgres(workdir: Path) -> PostgresServer:
    """initdb a fresh cluster (scram on TCP, fsync off) and start postgres on a free port."""
    ensure_postgres_installed()
    bindir = _pg_bindir()
    assert bindir is not None
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    make_traversable(workdir)
    datadir, log, sockdir = workdir / "data", workdir / "postgres.log", _socket_dir(workdir)
    password = secrets.token_urlsafe(18)
    pwfile = workdir / "pwfile"
    pwfile.write_text(password + "\n")
    for path in (workdir, pwfile, sockdir):
        shutil.chown(path, "postgres", "postgres")
    pwfile.chmod(0o600)
    env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8", HOME=str(workdir))
    argv = [str(bindir / "initdb"), "-D", str(datadir), f"--pwfile={pwfile}", *_INITDB_OPTS]
    # initdb and postgres refuse to run as root: drop to the postgres user for both.
    initdb = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, **_AS_PG)
    pwfile.unlink()
    if initdb.returncode != 0:
        raise RuntimeError(f"initdb failed:\n{initdb.stdout}\n{initdb.stderr}")
    for attempt in range(3):  # the probed port may be taken before postgres binds it
        port = _free_port()
        server = PostgresServer("127.0.0.1", port, "postgres", password, datadir, bindir)
        settings = {**_PG_SETTINGS, "unix_socket_directories": str(sockdir)}
        argv = [str(bindir / "postgres"), "-D", str(datadir), "-p", str(port)]
        argv += [arg for kv in settings.items() for arg in ("-c", "=".join(kv))]
        with open(log, "ab") as logf:
            server._proc = subprocess.Popen(argv, cwd=workdir, env=env, **_DAEMON, stdout=logf, stderr=logf, **_AS_PG)
        probe = [str(bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
        try:
            _wait_ready(server._proc, probe, env, log, "postgres")
            server.psql("SELECT 1")
        except RuntimeError:
            server.stop()
            if "already in use" not in _tail(log, 5) or attempt == 2:
                raise
            continue
        atexit.register(server.stop)
        return server
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- MariaDB

_INSTALL_DB_OPTS = ["--user=root", "--auth-root-authentication-method=socket", "--skip-test-db"]
_MARIADBD_OPTS = [
    "--bind-address=127.0.0.1",
    "--user=root",  # mariadbd refuses root unless told
    "--skip-name-resolve",  # so 'app'@'%' matches 127.0.0.1 without DNS
    "--innodb-flush-log-at-trx-commit=0",  # test data is disposable: speed over durability
    "--innodb-buffer-pool-size=64M",
    "--max-connections=200",
]


def ensure_mariadb_installed() -> None:
    """mariadbd, mariadb-install-db and the mariadb client come with mariadb-server."""
    sbin = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    if not (shutil.which("mariadbd", path=sbin) and shutil.which("mariadb-install-db") and shutil.which("mariadb")):
        _apt_install("mariadb-server", "MariaDB server (mariadbd/mariadb-install-db/mariadb)")


@dataclass
class MariaDBServer:
    """A mariadbd we started; `user`/`password` ('app'@'%') log in over TCP."""

    host: str
    port: int
    user: str
    password: str
    datadir: Path
    socket: Path
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc else 0

    def sql(self, sql: str, db: str | None = None) -> str:
        """Run SQL as root over the socket (unix_socket auth), batch mode; return stdout."""
        argv = ["mariadb", "--no-defaults", "-N", "-B", f"--socket={self.socket}", "-u", "root"]
        argv += [db] if db else []
        out = subprocess.run([*argv, "-e", sql], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"mariadb failed ({out.returncode}): {sql}\n{out.stderr}")
        return out.stdout

    def create_database(self, name: str) -> None:
        self.sql(f"CREATE DATABASE `{_ident(name)}`")

    def stop(self) -> None:
        """SIGTERM is mariadbd's clean shutdown; idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _stop_process(proc, signal.SIGTERM)


def start_mariadb(workdir: Path) -> MariaDBServer:
    """mariadb-install-db + mariadbd on a free port; create 'app'@'%' with a random password."""
    ensure_mariadb_installed()
    mariadbd = shutil.which("mariadbd", path="/usr/sbin:/sbin:" + os.environ.get("PATH", ""))
    assert mariadbd is not None
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    datadir, log = workdir / "data", workdir / "mariadb.err"
    sock = _socket_dir(workdir) / "mariadb.sock"
    argv = ["mariadb-install-db", "--no-defaults", f"--datadir={datadir}", *_INSTALL_DB_OPTS]
    install = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if install.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed:\n{install.stdout}\n{install.stderr}")
    password = secrets.token_urlsafe(18)
    for attempt in range(3):  # the probed port may be taken before mariadbd binds it
        port = _free_port()
        server = MariaDBServer("127.0.0.1", port, "app", password, datadir, sock)
        argv = [mariadbd, "--no-defaults", f"--datadir={datadir}", f"--socket={sock}", f"--port={port}"]
        argv += [f"--pid-file={workdir / 'mariadbd.pid'}", f"--log-error={log}", *_MARIADBD_OPTS]
        server._proc = subprocess.Popen(
            argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **_DAEMON
        )
        probe = ["mariadb-admin", "--no-defaults", f"--socket={sock}", "-u", "root", "ping"]
        try:
            _wait_ready(server._proc, probe, dict(os.environ), log, "mariadbd")
        except RuntimeError:
            server.stop()
            if "already in use" not in _tail(log, 10) or attempt == 2:
                raise
            continue
        server.sql(
            f"CREATE USER 'app'@'%' IDENTIFIED BY '{password}'; "
            "GRANT ALL ON *.* TO 'app'@'%' WITH GRANT OPTION; FLUSH PRIVILEGES;"
        )
        atexit.register(server.stop)
        return server
    raise AssertionError("unreachable")
