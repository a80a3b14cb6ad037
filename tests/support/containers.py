"""PostgreSQL and MariaDB in Docker via testcontainers, for a machine without the server binaries.

Chosen by tests/support/provider.py; CI here always uses the local binaries (tests/support/databases.py),
so this path is not run by CI. The objects returned are the local classes with a container behind them:
the same host/port/user/password over TCP, psql()/sql(), create_database() and stop().

The client tools still come from this machine (psql, pg_dump, pg_restore; mariadb, mariadb-dump): the
toolkit under test runs them, and with `dump_via` it runs them through the suite's sshd hosts, which
share this machine's network and reach the database at 127.0.0.1. Hence a local Docker engine only.
testcontainers is imported when a server starts, never at import time: it is not a test dependency.
"""

from __future__ import annotations

import atexit
import importlib
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.databases import MariaDBServer, PostgresServer
from tests.support.provider import INSTALL_HINT

POSTGRES_IMAGE = "postgres:15"  # the tests expect server 15, as Debian's postgresql-15 gives
MARIADB_IMAGE = "mariadb:10.11"  # Debian bookworm's MariaDB
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
# Test data is disposable: the same speed-over-durability settings as the local servers.
_PG_COMMAND = ["postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
_MARIADB_COMMAND = [
    "--skip-name-resolve",
    "--innodb-flush-log-at-trx-commit=0",
    "--innodb-buffer-pool-size=64M",
    "--max-connections=200",
]


def _testcontainers(module: str) -> Any:
    """`testcontainers.community.<module>` (newer releases), else `testcontainers.<module>`."""
    problem: ImportError | None = None
    for name in (f"testcontainers.community.{module}", f"testcontainers.{module}"):
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            problem = exc
    raise RuntimeError(f"cannot import testcontainers' {module} module ({problem}): {INSTALL_HINT}")


def _need_clients(package: str, *tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} not found: the database runs in Docker, but the tests and the toolkit "
            f"run the client tools here (apt-get install -y {package})"
        )


def _loopback_address(container: Any) -> str:
    """127.0.0.1 where Docker published the port; refuse an engine whose ports are elsewhere."""
    host = str(container.get_container_host_ip())
    if host not in LOOPBACK:
        raise RuntimeError(
            f"Docker publishes the test database on {host}, but the tests reach it at 127.0.0.1 "
            "(dump_via goes through this machine's sshd hosts): use a local Docker engine, "
            "or RELEASE_TEST_DB=local"
        )
    return "127.0.0.1"  # not "localhost": the MariaDB client would take that for its unix socket


@dataclass
class PostgresContainerServer(PostgresServer):
    """A PostgresServer in a container: `datadir` is inside it, `bindir` holds this machine's psql."""

    container: Any = field(default=None, repr=False, compare=False)

    def stop(self) -> None:
        """Remove the container (and its data); idempotent."""
        container, self.container = self.container, None
        if container is not None:
            container.stop()


@dataclass
class MariaDBContainerServer(MariaDBServer):
    """A MariaDBServer in a container: root logs in over TCP with `root_password`, not over a socket."""

    root_password: str = field(default="", repr=False)
    container: Any = field(default=None, repr=False, compare=False)

    def sql(self, sql: str, db: str | None = None) -> str:
        """Run SQL as root over TCP, batch mode; return stdout."""
        argv = ["mariadb", "--no-defaults", "-N", "-B", "--protocol=TCP", "-h", self.host, "-P", str(self.port)]
        argv += ["-u", "root", *([db] if db else []), "-e", sql]
        env = dict(os.environ, MYSQL_PWD=self.root_password)
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"mariadb failed ({out.returncode}): {sql}\n{out.stderr}")
        return out.stdout

    def stop(self) -> None:
        """Remove the container (and its data); idempotent."""
        container, self.container = self.container, None
        if container is not None:
            container.stop()


def start_postgres_container() -> PostgresServer:
    """PostgreSQL 15 in Docker: superuser `postgres` with a random password, scram over TCP."""
    _need_clients("postgresql-client-15", "psql", "pg_dump", "pg_restore")
    password = secrets.token_urlsafe(18)
    module = _testcontainers("postgres")
    container = module.PostgresContainer(POSTGRES_IMAGE, username="postgres", password=password, dbname="postgres")
    container.with_env("POSTGRES_INITDB_ARGS", "--locale=C.UTF-8 --encoding=UTF8")  # as the local initdb
    container.with_command(_PG_COMMAND)
    container.start()
    try:
        psql = shutil.which("psql")
        assert psql is not None
        server = PostgresContainerServer(
            _loopback_address(container),
            int(container.get_exposed_port(5432)),
            "postgres",
            password,
            datadir=Path("/var/lib/postgresql/data"),
            bindir=Path(psql).parent,
            container=container,
        )
        server.psql("SELECT 1")
    except BaseException:
        container.stop()
        raise
    atexit.register(server.stop)
    return server


def start_mariadb_container() -> MariaDBServer:
    """MariaDB 10.11 in Docker with 'app'@'%' (all privileges, as locally) and a random password."""
    _need_clients("mariadb-client", "mariadb", "mariadb-dump")
    password, root_password = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    module = _testcontainers("mysql")
    container = module.MySqlContainer(
        MARIADB_IMAGE, username="app", password=password, root_password=root_password, dbname="release_test"
    )
    container.with_command(_MARIADB_COMMAND)
    container.start()
    try:
        server = MariaDBContainerServer(
            _loopback_address(container),
            int(container.get_exposed_port(3306)),
            "app",
            password,
            datadir=Path("/var/lib/mysql"),
            socket=Path("/run/mysqld/mysqld.sock"),
            root_password=root_password,
            container=container,
        )
        server.sql("GRANT ALL ON *.* TO 'app'@'%' WITH GRANT OPTION; FLUSH PRIVILEGES;")
    except BaseException:
        container.stop()
        raise
    atexit.register(server.stop)
    return server
