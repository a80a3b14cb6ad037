"""Playbook loading: unknown modules, arguments and bad values are `file:line: where: what` (exit 2)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from release.errors import ExitStatus, SourceError
from release.playbook.loader import Play, Playbook, Task, load_playbook

ROOT = Path(__file__).resolve().parents[2]
FILE = "playbooks/deploy.yml"
MODULES = "http_check, link_shared, service, shell, switch_current, upload_release"


@pytest.fixture
def playbook_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`<tmp>/playbooks/deploy.yml`, with cwd at `<tmp>` so errors name `playbooks/deploy.yml`."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "playbooks").mkdir()
    return tmp_path / FILE


def load(path: Path, text: str) -> Playbook:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return load_playbook(path)


def refused(path: Path, text: str) -> SourceError:
    with pytest.raises(SourceError) as caught:
        load(path, text)
    assert caught.value.exit_status == ExitStatus.BAD_INPUT
    assert "\n" not in str(caught.value)
    return caught.value


def bad(id: str, text: str, line: int | None, where: str, message: str, marks: Any = ()) -> Any:
    return pytest.param(text, line, where, message, id=id, marks=marks)


# fmt: off
BAD_PLAYBOOKS = [
    # --- modules
    bad("unknown-module", """
        - hosts: app
          tasks:
            - name: Run it
              shel: {cmd: ls}
        """, 4, "[0].tasks[0].shel", f"unknown module 'shel'; modules: {MODULES}"),
    bad("two-modules-in-one-task", """
        - hosts: app
          tasks:
            - switch_current: {}
            - name: Two things
              shell: {cmd: ls}
              service: {systemd: oa}
        """, 4, "[0].tasks[1]",
        f"a task needs exactly one module (found: shell, service); modules: {MODULES}"),
    bad("no-module", """
        - hosts: app
          tasks:
            - name: Nothing to do
              when: true
        """, 3, "[0].tasks[0]", f"a task needs exactly one module (found: none); modules: {MODULES}"),
    bad("task-key-typo-counts-as-a-second-module", """
        - hosts: app
          tasks:
            - name: Migrate
              shell: {cmd: ./migrate}
              run_onec: true
        """, 3, "[0].tasks[0]",
        f"a task needs exactly one module (found: shell, run_onec); modules: {MODULES}"),
    bad("task-not-a-mapping", """
        - hosts: app
          tasks:
            - switch_current
        """, 3, "[0].tasks[0]", "a task must be a mapping: name plus one module"),
    bad("module-args-a-list", """
        - hosts: app
          tasks:
            - link_shared: [logs]
        """, 3, "[0].tasks[0].link_shared", "module arguments must be a mapping (use {} for none)"),
    # --- arguments
    bad("unknown-argument", """
        - hosts: app
          tasks:
            - name: Migrate
              shell:
                cmd: ./migrate
                command: ./migrate
        """, 6, "[0].tasks[0].shell.command",
        "shell has no argument 'command' (it takes: cmd, chdir, timeout)"),
    bad("argument-for-a-module-without-any", """
        - hosts: app
          tasks:
            - switch_current: {force: true}
        """, 3, "[0].tasks[0].switch_current.force",
        "switch_current has no argument 'force' (it takes: none)"),
    bad("unknown-argument-beside-a-template", """
        - hosts: app
          tasks:
            - http_check:
                url: "{{ health.url }}"
                expected: 200
        """, 5, "[0].tasks[0].http_check.expected",
        "http_check has no argument 'expected' (it takes: url, expect_status, timeout, delay, request_timeout)"),
    bad("expect-status-not-a-number", """
        - hosts: app
          tasks:
            - name: Health
              http_check:
                url: http://localhost:8080/health
                expect_status: abc
        """, 6, "[0].tasks[0].http_check.expect_status",
        "Input should be a valid integer, unable to parse string as an integer"),
    bad("expect-status-out-of-range", """
        - hosts: app
          tasks:
            - http_check: {url: "http://localhost/", expect_status: 1000}
        """, 3, "[0].tasks[0].http_check.expect_status", "Input should be less than or equal to 599"),
    bad("url-not-http", """
        - hosts: app
          tasks:
            - http_check:
                timeout: 5
                url: ftp://localhost/health
        """, 5, "[0].tasks[0].http_check.url", "String should match pattern '^https?://'"),
    bad("static-required-argument-missing", """
        - hosts: app
          tasks:
            - shell:
                chdir: /tmp
        """, 3, "[0].tasks[0].shell.cmd", "missing: this key is required"),
    bad("templated-required-argument-still-required", """
        - hosts: app
          tasks:
            - shell:
                chdir: "{{ release_path }}"
        """, 3, "[0].tasks[0].shell", "shell needs the argument 'cmd'"),
    bad("service-both-ways", """
        - hosts: app
          tasks:
            - service: {systemd: oa-portal, restart: "sudo systemctl restart oa-portal"}
        """, 3, "[0].tasks[0].service", "give exactly one of systemd (a unit) or restart (a command)"),
    bad("link-shared-path-escapes", """
        - hosts: app
          tasks:
            - link_shared:
                paths: [logs, ../etc]
        """, 4, "[0].tasks[0].link_shared.paths",
        "'../etc' must be a relative path inside the release, without '..'"),
    # --- task options
    bad("when-a-list", """
        - hosts: app
          tasks:
            - switch_current: {}
              when: [service]
        """, 4, "[0].tasks[0].when", "when must be an expression such as: version != '1.0'"),
    bad("when-a-number", """
        - hosts: app
          tasks:
            - switch_current: {}
              when: 1
        """, 4, "[0].tasks[0].when", "when must be an expression such as: version != '1.0'"),
    bad("run-once-a-string", """
        - hosts: app
          tasks:
            - shell: {cmd: ./migrate}
              run_once: "yes"
        """, 4, "[0].tasks[0].run_once", "run_once must be true or false"),
    bad("run-once-a-number", """
        - hosts: app
          tasks:
            - shell: {cmd: ./migrate}
              run_once: 1
        """, 4, "[0].tasks[0].run_once", "run_once must be true or false"),
    # --- plays
    bad("serial-zero", """
        - hosts: app
          serial: 0
          tasks:
            - switch_current: {}
        """, 2, "[0].serial", "serial must be a whole number of hosts per batch (1 or more)"),
    bad("serial-text", """
        - hosts: app
          serial: x
          tasks:
            - switch_current: {}
        """, 2, "[0].serial", "serial must be a whole number of hosts per batch (1 or more)"),
    bad("serial-bool", """
        - hosts: app
          serial: true
          tasks:
            - switch_current: {}
        """, 2, "[0].serial", "serial must be a whole number of hosts per batch (1 or more)"),
    bad("serial-percent", """
        - hosts: app
          serial: 50%
          tasks:
            - switch_current: {}
        """, 2, "[0].serial", "serial must be a whole number of hosts per batch (1 or more)"),
    bad("tasks-empty", """
        - hosts: app
          tasks: []
        """, 2, "[0].tasks", "tasks must be a non-empty list"),
    bad("tasks-missing", """
        - hosts: app
          name: Deploy
        """, 1, "[0].tasks", "tasks must be a non-empty list"),
    bad("play-key-typo", """
        - hosts: app
          task:
            - switch_current: {}
        """, 2, "[0].task", "unknown play key (use one of: hosts, name, serial, tasks)"),
    bad("second-play-key-typo", """
        - hosts: app
          tasks:
            - switch_current: {}
        - hosts: app
          become: true
          tasks:
            - switch_current: {}
        """, 5, "[1].become", "unknown play key (use one of: hosts, name, serial, tasks)"),
    bad("hosts-empty", """
        - hosts: ""
          tasks:
            - switch_current: {}
        """, 1, "[0].hosts", "hosts must be a role name or 'all'"),
    bad("hosts-a-list", """
        - hosts: [app, db]
          tasks:
            - switch_current: {}
        """, 1, "[0].hosts", "hosts must be a role name or 'all'"),
    bad("play-not-a-mapping", """
        - deploy
        """, 1, "[0]", "a play must be a mapping with hosts and tasks"),
    bad("not-a-list-of-plays", """
        deploy everything
        """, 1, "", "a playbook is a list of plays (each with hosts and tasks)"),
    bad("empty-file", "", None, "", "a playbook is a list of plays (each with hosts and tasks)"),
]
# fmt: on


@pytest.mark.parametrize(("text", "line", "where", "message"), BAD_PLAYBOOKS)
def test_bad_playbook(playbook_file: Path, text: str, line: int | None, where: str, message: str) -> None:
    error = refused(playbook_file, text)
    assert (error.path, error.line, error.where, error.message) == (FILE, line, where, message)
    location = f"{FILE}:{line}" if line else FILE
    assert str(error) == (f"{location}: {where}: {message}" if where else f"{location}: {message}")


def test_yaml_syntax_error_in_playbook(playbook_file: Path) -> None:
    error = refused(
        playbook_file,
        """
        - hosts: app
          tasks:
            - shell: {cmd: ls
            - switch_current: {}
        """,
    )
    assert error.line == 4
    assert str(error).startswith(f"{FILE}:4: YAML syntax error: ")


def test_single_play_mapping_errors_keep_their_line(playbook_file: Path) -> None:
    error = refused(
        playbook_file,
        """
        name: One play
        hosts: app
        tasks:
          - name: Run it
            shel: {cmd: ls}
        """,
    )
    assert error.line == 5
    assert error.message == f"unknown module 'shel'; modules: {MODULES}"


def test_tags_of_the_wrong_type_are_refused(playbook_file: Path) -> None:
    error = refused(
        playbook_file,
        """
        - hosts: app
          tasks:
            - switch_current: {}
              tags: 5
        """,
    )
    assert (error.line, error.where) == (4, "[0].tasks[0].tags")


# --- what loads, and how ------------------------------------------------------------------------


def test_templated_values_are_checked_at_run_time_not_load_time(playbook_file: Path) -> None:
    book = load(
        playbook_file,
        """
        - hosts: app
          tasks:
            - http_check:
                url: "{{ health.url }}"
                expect_status: "{{ health.expect_status }}"
                timeout: "{% if slow %}300{% else %}60{% endif %}"
        """,
    )
    (task,) = book.plays[0].tasks
    assert task.args == {
        "url": "{{ health.url }}",
        "expect_status": "{{ health.expect_status }}",
        "timeout": "{% if slow %}300{% else %}60{% endif %}",
    }


def test_task_and_play_fields(playbook_file: Path) -> None:
    book = load(
        playbook_file,
        """
        - name: Deploy
          hosts: app
          serial: 2
          tasks:
            - name: Migrate
              shell: {cmd: ./migrate, timeout: 600}
              run_once: true
              when: version != '1.0'
              tags: db
            - switch_current:
              when: true
              tags: [switch, fast]
        - tasks:
            - service: {systemd: oa-portal}
        """,
    )
    first, second = book.plays
    assert (first.name, first.hosts, first.serial, first.loc) == ("Deploy", "app", 2, (0,))
    assert first.tasks[0] == Task(
        name="Migrate",
        module="shell",
        args={"cmd": "./migrate", "timeout": 600},
        loc=(0, "tasks", 0),
        when="version != '1.0'",
        run_once=True,
        tags=("db",),
    )
    assert first.tasks[1] == Task(
        name="switch_current",
        module="switch_current",
        args={},
        loc=(0, "tasks", 1),
        when="True",
        run_once=False,
        tags=("switch", "fast"),
    )
    assert second == Play(
        name="play 1",
        hosts="all",
        serial=None,
        tasks=[Task(name="service", module="service", args={"systemd": "oa-portal"}, loc=(1, "tasks", 0))],
        loc=(1,),
    )


def test_shipped_deploy_playbook_loads() -> None:
    book = load_playbook(ROOT / "playbooks" / "deploy.yml")
    (play,) = book.plays
    assert (play.hosts, play.serial) == ("app", None)
    assert [t.module for t in play.tasks] == [
        "upload_release",
        "link_shared",
        "switch_current",
        "service",
        "http_check",
    ]
    assert [t.when for t in play.tasks] == [None, None, None, "service", "health"]


def test_shipped_rollback_playbook_loads() -> None:
    book = load_playbook(ROOT / "playbooks" / "rollback.yml")
    (play,) = book.plays
    assert play.hosts == "app"
    assert [(t.module, t.when) for t in play.tasks] == [("service", "service"), ("http_check", "health")]


def test_built_in_playbooks_are_byte_identical_copies() -> None:
    shipped = sorted(p.name for p in (ROOT / "playbooks").glob("*.yml"))
    built_in = sorted(p.name for p in (ROOT / "release" / "playbooks").glob("*.yml"))
    assert shipped == built_in == ["deploy.yml", "rollback.yml"]
    for name in shipped:
        assert (ROOT / "release" / "playbooks" / name).read_bytes() == (ROOT / "playbooks" / name).read_bytes(), name
