"""Property: whatever a project's files are mutated into, the CLI answers, without a traceback or a hang.

Hypothesis flips bytes, inserts the hostile fragments seen in the field (issue 10) and truncates the
inventory, the playbook, `.env` and the holiday file, then runs the commands the issue names
(status, deploy --dry-run, window, backup list) in-process. A run ends in exit 0 (the mutation left a
valid file) or exit 2 with one error line naming the mutated file. Derandomized with no example
database, so CI sees the same examples on every run.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.support.project import SHIPPED_DEPLOY, CliResult, Project
from tests.unit.test_bad_input import no_hang

VARIABLE = "RELEASE_PROPERTY_TEST_PORT"
INVENTORY = f"""\
app: oa-portal
deploy_to: /unused
artifact: "artifacts/oa-portal-{{{{ version }}}}.tar.gz"
hosts:
  web1: {{connection: local, roles: [app], deploy_to: hosts/web1}}
  web2:
    connection: local
    roles: [app]
    deploy_to: hosts/web2
window:
  timezone: Asia/Shanghai
  open: "18:30"
  close: "08:00"
  calendar: cn
  freeze: ["2026-03-01..2026-03-15"]
service:
  restart: "touch {{{{ deploy_to | quote }}}}/restarted"
health:
  url: "http://{{{{ host.address }}}}:${{{VARIABLE}}}/health"
  timeout: 5
backup:
  schedule: "0 2 * * *"
  max_age: 26h
  retention: {{keep_last: 3}}
database: {{engine: sqlite, name: data/app.db}}
"""
DOTENV = f"{VARIABLE}=8080\nRELEASE_PROPERTY_TEST_OTHER='a b'\n"
HOLIDAYS = Path(__file__).parent / "data" / "holiday-cn-2026.json"
HAS_HOLIDAY_FILES = importlib.util.find_spec("release.holidays") is not None and HOLIDAYS.is_file()

DRY_RUN = ("deploy", "prod", "--version", "1.0.0", "--dry-run")
COMMANDS = [("status", "prod"), DRY_RUN, ("window", "prod"), ("backup", "list", "prod")]
FRAGMENTS = [
    b"\xff\xfe",
    b"\x00",
    b"\x07",
    b"\n? {a: 1}\n: 2\n",
    b"\n[a]: b\n",
    b"[" * 300,
    b"&a [*a]",
    b" *a",
    b"!!float abc",
    b"!!timestamp ''",
    b"!!int ''",
    b"!!bool maybe",
    b"!!binary aGk=",
    b"!!python/object:os.system {}",
    b"!custom x",
    b'"\\ud800"',
    b'"\\0"',
    b"9" * 400,
    b"2026-02-30",
    b"<<: {}",
    b"{{ 1/0 }}",
    b"{{ '%s' % () }}",
    b"{{ 10**5000 }}",
    b"{{ range(10**9)|list }}",
    b"{% for a in range(9999) %}{% for b in range(9999) %}{% endfor %}{% endfor %}",
    b"a" * 5000,
    b"\n  ",
    b": ",
    b"- ",
    b"${",
    b'"',
    b"{",
]


@dataclass(frozen=True)
class Target:
    """A file the CLI reads, the commands that read it, and the files an error may name."""

    path: str
    original: bytes
    commands: tuple[tuple[str, ...], ...]
    also_blamed: tuple[str, ...] = ()


TARGETS = [
    Target("inventory/prod.yml", INVENTORY.encode(), tuple(COMMANDS)),
    Target("playbooks/deploy.yml", SHIPPED_DEPLOY.read_bytes(), (DRY_RUN,)),
    # a `.env` value lands in the inventory: a broken one is reported at the line that uses ${VAR}
    Target(".env", DOTENV.encode(), tuple(COMMANDS), ("inventory/prod.yml",)),
]
if HAS_HOLIDAY_FILES:  # another part of issue 10 adds calendar/*.json
    TARGETS.append(Target("calendar/2026.json", HOLIDAYS.read_bytes(), (("window", "prod"), ("status", "prod"))))

Mutation = tuple[str, int, bytes]
mutations = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 16), st.integers(1, 255).map(lambda b: bytes([b]))),
    st.tuples(st.just("insert"), st.integers(0, 1 << 16), st.sampled_from(FRAGMENTS)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 16), st.just(b"")),
)


def mutate(data: bytes, changes: list[Mutation]) -> bytes:
    """Apply each change at its position (taken modulo the current length)."""
    for kind, position, payload in changes:
        at = position % (len(data) + 1)
        if kind == "flip" and data:
            at %= len(data)
            data = data[:at] + bytes([data[at] ^ payload[0]]) + data[at + 1 :]
        elif kind == "insert":
            data = data[:at] + payload + data[at:]
        else:
            data = data[:at]
    return data


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """One project for every example (creating the ledger each time would be most of the cost)."""
    project = Project(tmp_path_factory.mktemp("property"))
    project.artifact("1.0.0")
    for target in TARGETS:
        write(project, target, target.original)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(VARIABLE, raising=False)
        yield project
    shutil.rmtree(project.root, ignore_errors=True)


def write(project: Project, target: Target, data: bytes) -> None:
    path = project.root / target.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def run(project: Project, args: tuple[str, ...]) -> CliResult:
    with no_hang(30):
        return project.run(*args)


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_the_unmutated_project_works(project: Project, args: tuple[str, ...]) -> None:
    result = run(project, args)
    assert result.code == 0, result.stderr


@settings(
    max_examples=200,
    deadline=timedelta(seconds=5),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_files_end_in_exit_2_naming_the_file(project: Project, data: st.DataObject) -> None:
    target = data.draw(st.sampled_from(TARGETS), label="file")
    args = data.draw(st.sampled_from(target.commands), label="command")
    changes = data.draw(st.lists(mutations, min_size=1, max_size=3), label="mutations")
    write(project, target, mutate(target.original, changes))
    try:
        result = run(project, args)
    finally:
        write(project, target, target.original)
    output = result.stdout + result.stderr
    event(f"{target.path}: exit {result.code}")  # --hypothesis-show-statistics: how often each file is refused
    assert "Traceback" not in output, output
    assert result.code in (0, 2), output
    if result.code == 2:
        errors = [line for line in output.splitlines() if line.startswith("ERROR")]
        assert len(errors) == 1, output
        assert any(path in errors[0] for path in (target.path, *target.also_blamed)), errors[0]
