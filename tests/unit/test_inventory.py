"""Inventory loading: every mistake is one `inventory/<env>.yml:LINE: dotted.path: message` line (exit 2).

Line numbers count from the first line of each YAML literal (see `yaml_text` in conftest).
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from release.errors import BadInput, ExitStatus, SourceError
from release.inventory import load_environment

FILE = "inventory/prod.yml"
VAR = "RELEASE_UNIT_TEST_DB_PASSWORD"  # never set outside these tests


@pytest.fixture(autouse=True)
def _no_stray_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VAR, raising=False)
    monkeypatch.delenv("RELEASE_UNIT_TEST_UNSET", raising=False)


def bad(id: str, text: str, line: int, where: str, gist: str, marks: Any = ()) -> Any:
    """One row: the YAML, and the line, dotted path and a fragment of the message it must be refused with."""
    return pytest.param(text, line, where, gist, id=id, marks=marks)


# fmt: off
BAD_INVENTORIES = [
    # --- hosts
    bad("host-port-not-an-int", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1:
            address: 10.0.0.11
            port: twenty-two
        """, 7, "hosts.app1.port", "valid integer"),
    bad("host-port-zero", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1:
            address: 10.0.0.11
            port: 0
        """, 7, "hosts.app1.port", "greater than or equal to 1"),
    bad("host-port-too-big-flow-style", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11, port: 65536}
        """, 5, "hosts.app1.port", "less than or equal to 65535"),
    bad("unknown-host-key", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1:
            address: 10.0.0.11
            rolse: [app]
        """, 7, "hosts.app1.rolse", "unknown key (check its spelling"),
    bad("unknown-connection", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1:
            connection: telnet
        """, 6, "hosts.app1.connection", "'ssh' or 'local'"),
    bad("ssh-host-without-address", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {roles: [app]}
        """, 5, "hosts.app1", "an ssh host needs an address (or set connection: local)"),
    bad("hosts-empty", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts: {}
        """, 4, "hosts", "at least one host is needed"),
    bad("hosts-a-list", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts: [app1, app2]
        """, 4, "hosts", "valid dictionary"),
    bad("host-name-with-space", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          "app 1": {address: 10.0.0.11}
        """, 4, "hosts", "host name 'app 1' may hold only letters"),
    bad("hosts-missing", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        """, 1, "hosts", "missing: this key is required"),
    # --- top level
    bad("app-missing", """
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        """, 1, "app", "missing: this key is required"),
    bad("app-missing-after-comments", """
        # the portal

        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        """, 3, "app", "missing: this key is required"),
    bad("app-name-with-dotdot", """
        app: ../oa
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        """, 1, "app", "app '../oa' may hold only letters"),
    bad("typo-beside-the-real-key", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        deploy_too: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        """, 3, "deploy_too", "unknown key (check its spelling"),
    bad("typo-instead-of-the-real-key", """
        app: oa-portal
        deploy_too: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        """, 2, "deploy_too", "unknown key (check its spelling"),
    bad("keep-releases-one", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        keep_releases: 1
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        """, 3, "keep_releases", "greater than or equal to 2"),
    # --- paths
    bad("relative-deploy-to-with-ssh-hosts", """
        app: oa-portal
        deploy_to: srv/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        """, 2, "deploy_to", "'srv/oa-portal' must be an absolute path on ssh hosts"),
    bad("relative-host-deploy-to-override", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1:
            address: 10.0.0.11
            deploy_to: oa-portal
        """, 7, "hosts.app1.deploy_to", "'oa-portal' must be an absolute path on ssh hosts"),
    bad("shared-path-dotdot", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        shared_paths:
          - logs
          - ../etc
        hosts:
          app1: {address: 10.0.0.11}
        """, 4, "shared_paths", "'../etc' must be a path inside the release (relative, no '..')"),
    bad("shared-path-dotdot-inside", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        shared_paths: [logs/../../etc]
        hosts:
          app1: {address: 10.0.0.11}
        """, 4, "shared_paths", "'logs/../../etc' must be a path inside the release"),
    bad("shared-path-absolute", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        shared_paths: [/var/log]
        hosts:
          app1: {address: 10.0.0.11}
        """, 4, "shared_paths", "'/var/log' must be a path inside the release"),
    bad("shared-path-empty", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        shared_paths: [""]
        hosts:
          app1: {address: 10.0.0.11}
        """, 4, "shared_paths", "'' must be a path inside the release"),
    # --- ${VAR}
    bad("variable-unset", f"""
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {{address: 10.0.0.11}}
        database:
          engine: postgresql
          name: oa
          password: ${{{VAR}}}
        """, 9, "database.password", f"${{{VAR}}} is not set: export it or add it to a .env file"),
    bad("variable-unset-in-list-item", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        shared_paths:
          - logs
          - ${RELEASE_UNIT_TEST_UNSET}/uploads
        hosts:
          app1: {address: 10.0.0.11}
        """, 6, "shared_paths[1]", "${RELEASE_UNIT_TEST_UNSET} is not set"),
    # --- database
    bad("dump-via-unknown-host", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        database:
          engine: postgresql
          name: oa
          dump_via: db1
        """, 9, "database.dump_via", "'db1' is not a host of this inventory"),
    bad("database-engine-unknown", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        database:
          engine: oracle
          name: oa
        """, 7, "database.engine", "'postgresql', 'mysql' or 'sqlite'"),
    # --- YAML itself
    bad("duplicate-host-key", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1:
            address: 10.0.0.11
            port: 22
            port: 2222
        """, 8, "hosts.app1.port", "duplicate key: remove one of them"),
    bad("duplicate-top-level-key", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        app: other
        hosts:
          app1: {address: 10.0.0.11}
        """, 4, "app", "duplicate key"),
    bad("yaml-merge-key", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        defaults: &defaults {roles: [app]}
        hosts:
          app1:
            <<: *defaults
            address: 10.0.0.11
        """, 7, "hosts.app1", "YAML merge keys (<<) are not supported"),
    # --- window
    bad("window-time-unquoted", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        window:
          timezone: Asia/Shanghai
          open: 18:30
        """, 8, "window.open", 'got the number 1110: YAML reads an unquoted HH:MM as a base-60 number; '
                                'quote the time, e.g. "18:30"'),
    bad("window-close-unquoted", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        window:
          open: "18:30"
          close: 7:45
        """, 8, "window.close", 'got the number 465: YAML reads an unquoted HH:MM as a base-60 number; '
                                'quote the time, e.g. "07:45"'),
    bad("window-bad-timezone", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        window:
          timezone: Asia/Beijing
        """, 7, "window.timezone", "unknown timezone 'Asia/Beijing': use an IANA name"),
    bad("window-machine-timezone", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        window:
          timezone: localtime
        """, 7, "window.timezone", "unknown timezone 'localtime'"),
    # --- service / health
    bad("service-restart-and-systemd", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        service:
          restart: sudo systemctl restart oa-portal
          systemd: oa-portal
        """, 6, "service", "give exactly one of restart (a command) or systemd (a unit name)"),
    bad("service-neither", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        service: {}
        """, 6, "service", "give exactly one of restart (a command) or systemd (a unit name)"),
    bad("health-status-out-of-range", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        health:
          url: http://localhost/health
          expect_status: 2000
        """, 8, "health.expect_status", "less than or equal to 599"),
    bad("ssh-transfer-unknown", """
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        ssh:
          transfer: scp
        hosts:
          app1: {address: 10.0.0.11}
        """, 5, "ssh.transfer", "'auto', 'openssh' or 'sftp'"),
]
# fmt: on


@pytest.mark.parametrize(("text", "line", "where", "gist"), BAD_INVENTORIES)
def test_bad_inventory_is_one_line_with_file_line_and_path(
    inventory: Any, text: str, line: int, where: str, gist: str
) -> None:
    error = inventory.error(text)
    assert (error.path, error.line, error.where) == (FILE, line, where)
    assert str(error) == f"{FILE}:{line}: {where}: {error.message}"
    assert gist in error.message


# fmt: off
@pytest.mark.parametrize(("text", "line", "gist"), [
    pytest.param("""
        app: oa-portal
        deploy_to: /opt/oa-portal
          artifact: a.tar.gz
        hosts: {}
        """, 3, "mapping values are not allowed here", id="bad-indentation"),
    pytest.param("""
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
        \tapp1: {address: 10.0.0.11}
        """, 5, "found character '\\t' that cannot start any token", id="tab-indent"),
    pytest.param("""
        app: oa-portal
        hosts: [app1
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        """, 3, "expected ',' or ']'", id="unclosed-flow-list"),
])
# fmt: on
def test_yaml_syntax_error_names_its_line(inventory: Any, text: str, line: int, gist: str) -> None:
    error = inventory.error(text)
    assert (error.path, error.line, error.where) == (FILE, line, "")
    assert str(error).startswith(f"{FILE}:{line}: YAML syntax error: ")
    assert gist in str(error)


@pytest.mark.parametrize(
    "text",
    [pytest.param("just a string\n", id="scalar"), pytest.param("- app: oa-portal\n", id="list")],
)
def test_inventory_must_be_a_mapping(inventory: Any, text: str) -> None:
    error = inventory.error(text)
    assert str(error) == f"{FILE}:1: the inventory must be a mapping of keys (app, deploy_to, hosts, …)"


def test_empty_inventory_file_has_no_line(inventory: Any) -> None:
    error = inventory.error("")
    assert str(error) == f"{FILE}: the inventory must be a mapping of keys (app, deploy_to, hosts, …)"


def test_unknown_yaml_tag_is_a_source_error(inventory: Any) -> None:
    # Ansible users write `!vault |`; it must be a file:line message, not a traceback.
    error = inventory.error("""
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        database:
          engine: postgresql
          name: oa
          password: !vault secret
        """)
    assert error.line == 9
    assert "!vault" in error.message


# --- ${VAR} from the environment and .env files ---------------------------------------------------

WITH_PASSWORD = f"""
    app: oa-portal
    deploy_to: /opt/oa-portal
    artifact: a.tar.gz
    hosts:
      app1: {{address: 10.0.0.11}}
    database:
      engine: postgresql
      name: oa
      password: "pw-${{{VAR}}}-end"
    """


# fmt: off
@pytest.mark.parametrize(("process", "project_env", "inventory_env", "expected"), [
    pytest.param("from-process", None, None, "from-process", id="process-environment"),
    pytest.param(None, None, "from-inventory-dir", "from-inventory-dir", id="inventory-dir-dotenv"),
    pytest.param(None, "from-project-dir", None, "from-project-dir", id="project-dir-dotenv"),
    pytest.param(None, "from-project-dir", "from-inventory-dir", "from-inventory-dir",
                 id="inventory-dotenv-over-project-dotenv"),
    pytest.param("from-process", "from-project-dir", "from-inventory-dir", "from-process",
                 id="process-over-dotenv"),
])
# fmt: on
def test_variable_sources(
    inventory: Any,
    monkeypatch: pytest.MonkeyPatch,
    process: str | None,
    project_env: str | None,
    inventory_env: str | None,
    expected: str,
) -> None:
    if process is not None:
        monkeypatch.setenv(VAR, process)
    if project_env is not None:
        (inventory.root / ".env").write_text(f"{VAR}={project_env}\n")
    if inventory_env is not None:
        (inventory.path / ".env").write_text(f"{VAR}={inventory_env}\n")
    inventory.write(WITH_PASSWORD)
    env = inventory.load()
    assert env.inventory.database.password.get_secret_value() == f"pw-{expected}-end"


def test_jinja_templates_are_left_for_run_time(inventory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, "10.0.0.11")
    inventory.write(f"""
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: "artifacts/{{{{ app }}}}-{{{{ version }}}}.tar.gz"
        hosts:
          app1: {{address: "${{{VAR}}}"}}
        health:
          url: "http://{{{{ host.address }}}}:8080/health"
        """)
    env = inventory.load()
    assert env.inventory.hosts["app1"].address == "10.0.0.11"
    assert env.inventory.artifact == "artifacts/{{ app }}-{{ version }}.tar.gz"
    assert env.inventory.health is not None
    assert env.inventory.health.url == "http://{{ host.address }}:8080/health"


# --- a full valid inventory (the contract's prod.yml) ---------------------------------------------

CONTRACT_PROD = """
    # inventory/prod.yml
    app: oa-portal
    deploy_to: /opt/oa-portal            # releases/, shared/, current -> releases/<id>
    keep_releases: 5
    shared_paths: [logs, uploads]          # kept in <deploy_to>/shared/, linked into every release
    artifact: "artifacts/oa-portal-{{ version }}.tar.gz"   # relative to the project dir
    ssh:                                   # defaults for every host
      user: deploy
      identity_file: ~/.ssh/id_ed25519
      known_hosts: ~/.ssh/known_hosts      # unknown host keys are rejected
    hosts:
      app1: {address: 10.0.0.11, port: 22, roles: [app]}
      app2: {address: 10.0.0.12, roles: [app]}
      db1:  {address: 10.0.0.5, roles: [db]}
    window:                               # absent -> never blocked (test environments)
      timezone: Asia/Shanghai
      open: "18:30"
      close: "08:00"                      # next morning
      calendar: cn
      extra_holidays: []
      extra_workdays: []
      freeze: []                          # ["2026-03-01..2026-03-15"]: closed even at night
      rollback: always
    database:
      engine: postgresql
      host: 10.0.0.5
      port: 5432
      name: oa
      user: oa
      password: ${OA_PROD_DB_PASSWORD}    # from the environment or .env; never written anywhere
      dump_via: db1
    service:
      restart: "sudo systemctl restart oa-portal"
    health:
      url: "http://{{ host.address }}:8080/health"
      expect_status: 200
      timeout: 60
    backup:
      schedule: "0 2 * * *"
      storage: backups/prod
      retention: {keep_last: 3, keep_daily: 7, keep_weekly: 4, keep_monthly: 6}
    """
SECRET = "s3cr3t-Pa55word"


@pytest.fixture
def prod(inventory: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("OA_PROD_DB_PASSWORD", SECRET)
    inventory.write(CONTRACT_PROD)
    return inventory.load()


def test_contract_prod_inventory_loads(prod: Any, inventory: Any) -> None:
    inv = prod.inventory
    assert prod.name == "prod"
    assert prod.project_dir == inventory.root.resolve()
    assert (inv.app, inv.deploy_to, inv.keep_releases) == ("oa-portal", "/opt/oa-portal", 5)
    assert inv.shared_paths == ["logs", "uploads"]
    assert inv.artifact == "artifacts/oa-portal-{{ version }}.tar.gz"
    assert (inv.ssh.user, inv.ssh.identity_file, inv.ssh.port) == ("deploy", "~/.ssh/id_ed25519", 22)
    assert list(inv.hosts) == ["app1", "app2", "db1"]
    assert (inv.hosts["app1"].address, inv.hosts["app1"].port, inv.hosts["app1"].roles) == ("10.0.0.11", 22, ["app"])
    assert inv.hosts["app2"].port is None  # falls back to ssh.port where used
    assert inv.hosts["db1"].roles == ["db"]
    assert inv.window is not None
    assert (inv.window.open, inv.window.close, inv.window.timezone) == (time(18, 30), time(8, 0), "Asia/Shanghai")
    assert inv.database is not None
    assert (inv.database.engine, inv.database.port, inv.database.dump_via) == ("postgresql", 5432, "db1")
    assert inv.service is not None and inv.service.restart == "sudo systemctl restart oa-portal"
    assert inv.health is not None and (inv.health.expect_status, inv.health.timeout) == (200, 60.0)
    assert inv.backup is not None and inv.backup.retention.keep_monthly == 6
    assert [prod.deploy_to(h) for h in inv.hosts] == ["/opt/oa-portal"] * 3


def test_password_is_a_secret_never_shown(prod: Any) -> None:
    password = prod.inventory.database.password
    assert isinstance(password, SecretStr)
    assert password.get_secret_value() == SECRET
    assert prod.secrets == [SECRET]
    for shown in (repr(password), str(password), repr(prod.inventory.database), repr(prod.inventory),
                  prod.inventory.model_dump_json(), repr(prod)):
        assert SECRET not in shown


def test_no_database_no_secrets(inventory: Any) -> None:
    inventory.write("""
        app: oa-portal
        deploy_to: /opt/oa-portal
        artifact: a.tar.gz
        hosts:
          app1: {address: 10.0.0.11}
        """)
    assert inventory.load().secrets == []


def test_local_hosts_resolve_deploy_to_from_the_project_dir(
    inventory: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    inventory.write("""
        app: demo
        deploy_to: demo/srv
        artifact: a.tar.gz
        hosts:
          here: {connection: local}
          abs: {connection: local, deploy_to: /srv/demo}
          tilde: {connection: local, deploy_to: ~/demo}
          up: {connection: local, deploy_to: ../elsewhere}
        """)
    # Load from another working directory: paths follow the inventory, not the cwd.
    monkeypatch.chdir(tmp_path.parent)
    env = inventory.load()
    project = tmp_path.resolve()
    assert env.project_dir == project
    assert env.deploy_to("here") == str(project / "demo" / "srv")
    assert env.deploy_to("abs") == "/srv/demo"
    assert env.deploy_to("tilde") == str(home.resolve() / "demo")
    assert env.deploy_to("up") == str(project.parent / "elsewhere")


# --- environment names ---------------------------------------------------------------------------


def test_unknown_environment_lists_the_known_ones(inventory: Any) -> None:
    inventory.write("app: x\n", name="test")
    inventory.write("app: x\n", name="prod")
    with pytest.raises(BadInput) as caught:
        inventory.load("staging")
    assert not isinstance(caught.value, SourceError)
    assert caught.value.exit_status == ExitStatus.BAD_INPUT
    assert str(caught.value) == (
        f"{inventory.path / 'staging.yml'}: no such environment (environments in {inventory.path}: prod, test)"
    )


def test_unknown_environment_in_an_empty_inventory(inventory: Any) -> None:
    with pytest.raises(BadInput, match=r"no such environment \(environments in .*: none\)$"):
        inventory.load("prod")


@pytest.mark.parametrize("name", ["../prod", "../../etc/passwd", "sub/prod", ".hidden", "prod/..", ""])
def test_environment_name_with_path_parts_is_bad_input(inventory: Any, tmp_path: Path, name: str) -> None:
    (tmp_path / "prod.yml").write_text("app: outside\n")  # what `../prod` would read
    with pytest.raises(BadInput, match=r"environment name .* may hold only letters, digits"):
        inventory.load(name)


BACKUP_BASE = """\
app: oa-portal
deploy_to: /opt/oa-portal
artifact: a.tar.gz
hosts:
  app1: {address: 10.0.0.11}
database: {engine: sqlite, name: app.db}
backup:
"""


@pytest.mark.parametrize(
    ("block", "line", "where", "gist"),
    [
        ("  schedule: '0 2 * *'\n", 8, "backup.schedule", "is not a usable cron schedule"),
        ("  max_age: soon\n", 8, "backup.max_age", "is not a duration"),
        ("  retention: {keep_daily: -1}\n", 8, "backup.retention.keep_daily", "greater than or equal to 0"),
        ("  retention: {keep_dayly: 3}\n", 8, "backup.retention.keep_dayly", "unknown key"),
        ("  remote: {host: nas9, path: /b}\n", 8, "backup.remote.host", "is not a host of this inventory"),
        ("  alert_webhook: ftp://x\n", 8, "backup.alert_webhook", "must be an http:// or https:// URL"),
    ],
)
def test_backup_block_errors(tmp_path: Path, block: str, line: int, where: str, gist: str) -> None:
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "prod.yml").write_text(BACKUP_BASE + block)
    with pytest.raises(SourceError) as caught:
        load_environment(inventory, "prod")
    assert f"prod.yml:{line}: {where}: " in str(caught.value) and gist in str(caught.value)


@pytest.mark.parametrize(("text", "seconds"), [("26h", 93600), ("90m", 5400), ("2d", 172800), ("12", 43200)])
def test_backup_max_age_durations(tmp_path: Path, text: str, seconds: float) -> None:
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "prod.yml").write_text(BACKUP_BASE + f"  max_age: {text}\n")
    backup = load_environment(inventory, "prod").inventory.backup
    assert backup is not None and backup.max_age == seconds
