"""Bad input never ends in a traceback or a hang (issue 10, section 4): each class seen in the field.

Every case runs the real CLI in-process and must end in exit 2 with one `file:line: what (fix)` line
that names the file at fault. Each of these gave a traceback, a hang or the wrong file before.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from release.errors import SourceError
from release.settings import Settings
from tests.support.project import CliResult, Project

INVENTORY = "inventory/prod.yml"
BASE = textwrap.dedent(
    """\
    app: oa-portal
    deploy_to: /unused
    artifact: "artifacts/oa-portal-{{ version }}.tar.gz"
    hosts:
      web1: {connection: local, roles: [app], deploy_to: hosts/web1}
    """
)
WINDOW = "window: {timezone: Asia/Shanghai, open: '18:30', close: '08:00', calendar: cn}\n"
STATUS = ("status", "prod")
DRY_RUN = ("deploy", "prod", "--version", "1.0.0", "--dry-run")
HANG_SECONDS = 20


class Hung(Exception):
    """The CLI did not finish in time (not an OSError: the code under test must not swallow it)."""


@contextmanager
def no_hang(seconds: int = HANG_SECONDS) -> Iterator[None]:
    """Fail instead of waiting forever (a FIFO read blocks in C, SIGALRM still interrupts it)."""

    def expire(signum: int, frame: object) -> None:
        raise Hung(f"no answer after {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A project with the base inventory (one local host) and the 1.0.0 artifact."""
    project = Project(tmp_path)
    project.inventory.mkdir()
    project.artifact("1.0.0")
    (project.inventory / "prod.yml").write_text(BASE)
    return project


def run(project: Project, *args: str) -> CliResult:
    with no_hang():
        return project.run(*args)


def refused(project: Project, args: tuple[str, ...], *fragments: str) -> str:
    """Run the CLI; it must exit 2 with one error line holding every fragment. Returns that line."""
    result = run(project, *args)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.code == 2, output
    errors = [line for line in output.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, output
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def inventory_bytes(project: Project, data: bytes) -> None:
    (project.inventory / "prod.yml").write_bytes(data)


def case(id: str, text: str, fragments: tuple[str, ...], args: tuple[str, ...] = STATUS) -> Any:
    return pytest.param(text, args, fragments, id=id)


LAUGHS = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10) if i else ', '.join(['x'] * 10)}]\n" for i in range(7))

# fmt: off
INVENTORY_CASES = [
    # the YAML itself
    case("not-a-plain-key-mapping", BASE + "? {a: 1}\n: 2\n", (f"{INVENTORY}:6:", "a key must be a plain name")),
    case("not-a-plain-key-list", BASE + "[a]: b\n", (f"{INVENTORY}:6:", "a key must be a plain name")),
    case("deep-nesting", BASE + "x: " + "[" * 5000 + "]" * 5000 + "\n", (f"{INVENTORY}:6:", "nested deeper")),
    case("recursive-alias", BASE + "x: &a [*a]\n", (f"{INVENTORY}:6:", "alias refers to the value that holds it")),
    case("alias-bomb", BASE + LAUGHS, (INVENTORY, "aliases are expanded")),
    case("tag-float", BASE + "x: !!float abc\n", (f"{INVENTORY}:6:", "YAML tag !!float is not allowed")),
    case("tag-timestamp", BASE + "x: !!timestamp ''\n", (f"{INVENTORY}:6:", "!!timestamp")),
    case("tag-int", BASE + "x: !!int ''\n", (f"{INVENTORY}:6:", "!!int")),
    case("tag-bool", BASE + "x: !!bool maybe\n", (f"{INVENTORY}:6:", "!!bool")),
    case("tag-binary", BASE.replace("app: oa-portal", "app: !!binary b2EtcG9ydGFs"), (f"{INVENTORY}:1:", "!!binary")),
    case("tag-python", BASE + "x: !!python/object:os.system {}\n", (f"{INVENTORY}:6:", "!!python/object:os.system")),
    case("tag-custom", BASE + "x: !vault secret\n", (f"{INVENTORY}:6:", "!vault")),
    case("impossible-date", BASE + "x: 2026-02-30\n", (f"{INVENTORY}:6:", "cannot be read as a date")),
    case("5000-digit-number", BASE + "x: " + "9" * 5000 + "\n", (f"{INVENTORY}:6:", "cannot be read as a number")),
    # values
    case("nul-in-deploy-to", BASE.replace("deploy_to: /unused", 'deploy_to: "/opt/a\\0b"'),
         (f"{INVENTORY}:2:", "deploy_to", "NUL")),
    case("surrogate-in-deploy-to", BASE.replace("hosts/web1", '"hosts/w\\ud800"'),
         (f"{INVENTORY}:5:", "hosts.web1.deploy_to", "surrogate")),
    case("400-digit-max-age", BASE + "backup:\n  max_age: " + "9" * 400 + "\n",
         (f"{INVENTORY}:7:", "backup.max_age", "longer than ten years")),
    case("infinite-max-age", BASE + "backup:\n  max_age: " + "9" * 400 + "h\n", (f"{INVENTORY}:7:", "backup.max_age")),
    # templates, rendered once at load time with sample values
    case("restart-divides-by-zero", BASE + 'service:\n  restart: "echo {{ 1/0 }}"\n',
         (f"{INVENTORY}:7:", "service.restart", "division by zero"), DRY_RUN),
    case("restart-format-error", BASE + "service:\n  restart: \"echo {{ '%s' % () }}\"\n",
         (f"{INVENTORY}:7:", "service.restart", "not enough arguments"), DRY_RUN),
    case("artifact-huge-power", BASE.replace("{{ version }}", "{{ 10**5000 }}"),
         (f"{INVENTORY}:3:", "artifact", "too large"), DRY_RUN),
    case("artifact-huge-range", BASE.replace("{{ version }}", "{{ range(10**9)|list }}"),
         (f"{INVENTORY}:3:", "artifact", "range"), DRY_RUN),
    case("artifact-name-too-long", BASE.replace("oa-portal-{{ version }}", "a" * 5000),
         (f"{INVENTORY}:3:", "artifact", "longer than 255 bytes"), DRY_RUN),
    case("health-url-not-http", BASE + 'health:\n  url: "ftp://{{ host.address }}/health"\n',
         (f"{INVENTORY}:7:", "health.url", "http://"), DRY_RUN),
    case("restart-on-status", BASE + 'service: {restart: "{{ 1/0 }}"}\n', (f"{INVENTORY}:6:", "service.restart")),
]
# fmt: on


@pytest.mark.parametrize(("text", "args", "fragments"), INVENTORY_CASES)
def test_bad_inventory_is_one_line_naming_the_file(
    project: Project, text: str, args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    inventory_bytes(project, text.encode())
    refused(project, args, *fragments)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        pytest.param(BASE.encode() + b"x: \xff\xfe\n", "byte 0xff is not UTF-8", id="not-utf-8"),
        pytest.param(BASE.encode() + b"x: a\x00b\n", "control character U+0000", id="nul"),
        pytest.param(BASE.encode() + b"x: a\x07b\n", "control character U+0007", id="bell"),
    ],
)
@pytest.mark.parametrize("args", [STATUS, DRY_RUN, ("window", "prod"), ("backup", "list", "prod")])
def test_bytes_that_are_not_yaml_text(project: Project, data: bytes, fragment: str, args: tuple[str, ...]) -> None:
    inventory_bytes(project, data)
    refused(project, args, f"{INVENTORY}:6:", fragment)


@pytest.mark.parametrize(
    ("make", "kind"),
    [pytest.param(os.mkfifo, "a FIFO", id="fifo"), pytest.param(os.mkdir, "a directory", id="directory")],
)
def test_inventory_that_is_not_a_regular_file_is_refused_without_opening_it(
    project: Project, make: Callable[[Path], None], kind: str
) -> None:
    path = project.inventory / "prod.yml"
    path.unlink()
    make(path)
    refused(project, STATUS, INVENTORY, f"is {kind}, not a regular file")


@pytest.mark.parametrize("at", ["9999-12-31 00:00", "0001-01-01 00:00"])
@pytest.mark.parametrize("window", [WINDOW, ""], ids=["window", "no-window"])
def test_window_at_the_ends_of_time(project: Project, at: str, window: str) -> None:
    inventory_bytes(project, (BASE + window).encode())
    refused(project, ("window", "prod", "--at", at), "--at", "the year must be between")


def test_window_at_the_last_accepted_year_answers(project: Project) -> None:
    inventory_bytes(project, (BASE + WINDOW).encode())
    assert run(project, "window", "prod", "--at", "8999-12-31 23:59").code == 0


@pytest.mark.parametrize("name", ["a" * 5000 + ".tar.gz", "loop.tar.gz"], ids=["too-long", "link-loop"])
def test_an_artifact_path_that_cannot_be_a_file_is_bad_input(project: Project, name: str) -> None:
    inventory_bytes(project, BASE.encode())
    (project.root / "loop.tar.gz").symlink_to("loop.tar.gz")
    refused(project, (*DRY_RUN, "--artifact", name), "artifact", "give --artifact PATH")


def test_surrogate_from_the_environment_is_refused(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    # a non-UTF-8 byte in an exported variable reaches Python as a lone surrogate (surrogateescape)
    monkeypatch.setenv("RELEASE_TEST_ADDRESS", "10.0.0.\udcff")
    inventory_bytes(project, BASE.replace("{connection: local, ", "{address: '${RELEASE_TEST_ADDRESS}', ").encode())
    refused(project, STATUS, f"{INVENTORY}:5:", "${RELEASE_TEST_ADDRESS}", "surrogate")


# --- .env ----------------------------------------------------------------------------------------


def test_dotenv_that_is_not_utf8(project: Project) -> None:
    (project.root / ".env").write_bytes(b"A=1\nB=\xff\n")
    refused(project, STATUS, ".env:2:", "byte 0xff is not UTF-8")


def test_dotenv_that_is_a_fifo(project: Project) -> None:
    os.mkfifo(project.inventory / ".env")
    refused(project, STATUS, "inventory/.env", "is a FIFO")


def test_unreadable_dotenv(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv = project.root / ".env"
    dotenv.write_text("A=1\n")
    real_open = os.open

    def deny(path: Any, flags: int, *args: Any) -> int:  # root reads a 0000 file: deny it by hand
        if Path(path).name == ".env":
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr("release.yamlsrc.os.open", deny)
    refused(project, STATUS, ".env", "cannot read: Permission denied")


def test_a_virtualenv_named_dotenv_is_not_read(project: Project) -> None:
    (project.root / ".env").mkdir()
    assert run(project, *STATUS).code == 0


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        pytest.param(lambda p: p.write_bytes(b"RELEASE_OPERATOR=\xff\n"), ".env:1: byte 0xff", id="not-utf-8"),
        pytest.param(os.mkfifo, ".env: is a FIFO", id="fifo"),
    ],
)
def test_settings_dotenv_is_read_safely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Callable[[Path], None], fragment: str
) -> None:
    monkeypatch.chdir(tmp_path)
    make(tmp_path / ".env")
    with no_hang(), pytest.raises(SourceError, match=fragment):
        Settings()


# --- playbooks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "fragments"),
    [
        pytest.param(lambda p: p.mkdir(), ("playbooks/deploy.yml", "is a directory"), id="directory"),
        pytest.param(lambda p: p.symlink_to(p.name), ("playbooks/deploy.yml", "symbolic links"), id="symlink-loop"),
        pytest.param(lambda p: p.symlink_to("gone.yml"), ("playbooks/gone.yml", "file not found"), id="dangling-link"),
    ],
)
def test_broken_project_playbook_never_falls_back_to_the_built_in(
    project: Project, make: Callable[[Path], None], fragments: tuple[str, ...]
) -> None:
    (project.root / "playbooks").mkdir()
    make(project.root / "playbooks" / "deploy.yml")
    refused(project, DRY_RUN, *fragments)


def test_playbook_template_typo_is_refused_at_load(project: Project) -> None:
    project.insert_task({"name": "Migrate", "shell": {"cmd": "./migrate {{ version"}})
    refused(project, DRY_RUN, "playbooks/deploy.yml:", "tasks[2].shell.cmd", "unexpected end of template")


def test_playbook_template_failing_at_run_time_names_the_playbook(project: Project) -> None:
    project.insert_task({"name": "Migrate", "shell": {"cmd": "./migrate {{ 1/0 }}"}})
    refused(project, DRY_RUN, "playbooks/deploy.yml:", "division by zero")


def test_playbook_template_failing_after_the_switch_is_refused_before_anything_changes(project: Project) -> None:
    project.insert_task({"name": "Warm up", "shell": {"cmd": "curl {{ host.adress }}"}}, before="Restart")
    refused(project, ("deploy", "prod", "--version", "1.0.0", "--yes"), "playbooks/deploy.yml:", "adress")
    assert not (project.root / "hosts" / "web1").exists()
    history = run(project, "history", "prod", "--json")
    assert history.code == 0 and json.loads(history.stdout) == [], history.stdout


def test_rollback_playbook_template_is_rendered_at_load(project: Project) -> None:
    (project.root / "playbooks").mkdir()
    (project.root / "playbooks" / "rollback.yml").write_text(
        "- hosts: all\n  tasks:\n    - name: Tell\n      shell: {cmd: \"echo {{ '%s' % () }}\"}\n"
    )
    refused(project, DRY_RUN, "playbooks/rollback.yml:4:", "tasks[0].shell.cmd")
