"""Fixtures for integration tests: real sshd hosts and real database servers.

The servers are expensive to start relative to a test but cheap to keep, so they live for the
session; `sshd_hosts` gives each test clean /srv dirs on the shared hosts. Teardown lives in
`finally` so servers stop even when a test or the session fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.containers import start_mariadb_container, start_postgres_container
from tests.support.databases import (
    MariaDBServer,
    PostgresServer,
    start_mariadb,
    start_postgres,
)
from tests.support.provider import Provider, database_provider, docker_engine_answers
from tests.support.sshd import SshdCluster, ensure_sshd_installed, start_cluster


@contextmanager
def server_workdir(prefix: str) -> Iterator[Path]:
    """A work dir outside pytest's tmp tree, traversable by the servers' own users.

    Why: pytest keeps /tmp/pytest-of-root at 0700 and re-tightens it whenever a pytest session starts,
    which would lock sshd (reading authorized_keys as the login user) and postgres out mid-run.
    """
    path = Path(tempfile.mkdtemp(prefix=f"release-{prefix}-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def sshd_cluster() -> Iterator[SshdCluster]:
    """Three sshd hosts (h1..h3 on 127.0.0.2..4), each with its own /srv."""
    ensure_sshd_installed()
    with server_workdir("sshd") as workdir:
        cluster = start_cluster(workdir, 3)
        try:
            yield cluster
        finally:
            cluster.stop()


@pytest.fixture
def sshd_hosts(sshd_cluster: SshdCluster) -> SshdCluster:
    """The session's cluster with every /srv emptied and every host up, for test isolation."""
    for host in sshd_cluster.hosts:
        host.start()  # no-op if running; revives a host an earlier test took down
    sshd_cluster.wipe_srv()
    return sshd_cluster


@pytest.fixture(scope="session")
def db_provider() -> Provider:
    """Docker (testcontainers) when an engine answers, else the local binaries: tests/support/provider.py."""
    return database_provider(os.environ, docker_engine_answers)


@pytest.fixture(scope="session")
def postgres_server(db_provider: Provider) -> Iterator[PostgresServer]:
    """One PostgreSQL 15 server; tests create their own databases in it."""
    with server_workdir("postgres") as workdir:
        server = start_postgres_container() if db_provider == "docker" else start_postgres(workdir)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def mariadb_server(db_provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    """One MariaDB server; tests create their own databases in it."""
    server = start_mariadb_container() if db_provider == "docker" else start_mariadb(tmp_path_factory.mktemp("mariadb"))
    try:
        yield server
    finally:
        server.stop()
