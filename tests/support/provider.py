"""Where the integration tests' PostgreSQL and MariaDB come from: Docker or this machine's binaries.

"docker" (testcontainers, tests/support/containers.py) only when the testcontainers package is
installed and a Docker engine answers; "local" (the Debian server binaries, tests/support/databases.py)
otherwise, and always in CI (CI=true) unless overridden. RELEASE_TEST_DB=local|docker forces one; asking
for docker when it cannot work fails the run with the reason, it never falls back or skips silently.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from typing import Literal

import pytest

Provider = Literal["docker", "local"]
OVERRIDE = "RELEASE_TEST_DB"
PROBE_TIMEOUT = 2.0  # seconds: an engine that does not answer by then is not there
INSTALL_HINT = "pip install 'testcontainers[postgres,mysql]'"


def testcontainers_importable() -> bool:
    return importlib.util.find_spec("testcontainers") is not None


def docker_engine_answers(timeout: float = PROBE_TIMEOUT) -> bool:
    """Ping the engine testcontainers would use (DOCKER_HOST, else the default socket) with a short timeout.

    The `docker` package comes with testcontainers; without it there is nothing to ping with.
    """
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # any failure to connect means: no engine answers
        return False


def database_provider(
    env: Mapping[str, str],
    docker_answers: Callable[[], bool],
    have_testcontainers: Callable[[], bool] = testcontainers_importable,
) -> Provider:
    """The provider for this run. The probes are called only when the answer depends on them."""
    raw = env.get(OVERRIDE, "")
    choice = raw.strip().lower()
    if choice == "local":
        return "local"
    if choice == "docker":
        engine = env.get("DOCKER_HOST") or "the default socket (/var/run/docker.sock)"
        if not have_testcontainers():
            pytest.fail(
                f"{OVERRIDE}=docker, but the testcontainers package is not installed: {INSTALL_HINT} "
                f"(or {OVERRIDE}=local for this machine's server binaries)",
                pytrace=False,
            )
        if not docker_answers():
            pytest.fail(
                f"{OVERRIDE}=docker, but no Docker engine answers at {engine}: start Docker or set DOCKER_HOST "
                f"(or {OVERRIDE}=local for this machine's server binaries)",
                pytrace=False,
            )
        return "docker"
    if choice:
        pytest.fail(f"{OVERRIDE} must be 'local' or 'docker', not {raw!r}", pytrace=False)
    if env.get("CI") == "true":  # the same test as tests/conftest.py: CI runs the local binaries
        return "local"
    return "docker" if have_testcontainers() and docker_answers() else "local"
