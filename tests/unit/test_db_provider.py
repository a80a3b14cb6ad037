"""Which database servers the integration tests use: the rule of tests/support/provider.py, probes passed in."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from tests.support.provider import Provider, database_provider, docker_engine_answers

UP, DOWN = True, False


class Probe:
    """A probe answering `answer`, counting its calls (so we see when a rule never needed it)."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.answer


@pytest.mark.parametrize(
    ("env", "docker", "installed", "expected", "probed"),
    [
        ({}, UP, True, "docker", True),  # a laptop with Docker and testcontainers
        ({}, DOWN, True, "local", True),  # Docker installed but not running
        ({}, UP, False, "local", False),  # no testcontainers: not even a probe
        ({}, DOWN, False, "local", False),
        ({"CI": "true"}, UP, True, "local", False),  # CI here: always the local binaries, no probe
        ({"CI": "false"}, UP, True, "docker", True),
        ({"RELEASE_TEST_DB": "local"}, UP, True, "local", False),
        ({"RELEASE_TEST_DB": " Local "}, UP, True, "local", False),
        ({"RELEASE_TEST_DB": "docker"}, UP, True, "docker", True),
        ({"RELEASE_TEST_DB": "docker", "CI": "true"}, UP, True, "docker", True),  # the override wins over CI
        ({"RELEASE_TEST_DB": "local", "CI": "true"}, UP, True, "local", False),
        ({"RELEASE_TEST_DB": ""}, UP, True, "docker", True),  # empty: as if unset
    ],
)
def test_the_provider(env: dict[str, str], docker: bool, installed: bool, expected: Provider, probed: bool) -> None:
    probe = Probe(docker)
    assert database_provider(env, probe, lambda: installed) == expected
    assert probe.calls == (1 if probed else 0)


@pytest.mark.parametrize(
    ("env", "docker", "installed", "message"),
    [
        ({"RELEASE_TEST_DB": "docker"}, DOWN, True, "no Docker engine answers at the default socket"),
        ({"RELEASE_TEST_DB": "docker", "DOCKER_HOST": "tcp://10.0.0.9:2375"}, DOWN, True, "at tcp://10.0.0.9:2375"),
        ({"RELEASE_TEST_DB": "docker"}, UP, False, "pip install 'testcontainers[postgres,mysql]'"),
        ({"RELEASE_TEST_DB": "podman"}, UP, True, "RELEASE_TEST_DB must be 'local' or 'docker', not 'podman'"),
    ],
)
def test_docker_asked_for_but_unusable_fails_the_run(
    env: dict[str, str], docker: bool, installed: bool, message: str
) -> None:
    """Never a silent fallback to the local binaries, never a skip: the run fails and says why."""
    with pytest.raises(pytest.fail.Exception, match=message.replace("[", r"\[").replace("]", r"\]")):
        database_provider(env, Probe(docker), lambda: installed)


def fake_docker(ping: Any) -> types.ModuleType:
    module = types.ModuleType("docker")

    class Client:
        def ping(self) -> bool:
            return bool(ping())

        def close(self) -> None:
            pass

    module.from_env = lambda timeout: Client()  # type: ignore[attr-defined]
    return module


def refuse() -> bool:
    raise ConnectionError("Connection refused")


@pytest.mark.parametrize(("ping", "answers"), [(lambda: True, True), (lambda: False, False), (refuse, False)])
def test_the_docker_probe(monkeypatch: pytest.MonkeyPatch, ping: Any, answers: bool) -> None:
    monkeypatch.setitem(sys.modules, "docker", fake_docker(ping))
    assert docker_engine_answers() is answers


def test_without_the_docker_package_no_engine_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "docker", None)  # import docker raises ImportError
    assert docker_engine_answers() is False
