"""`release backup verify` against real PostgreSQL and MariaDB servers and SQLite files.

Each engine: a good backup verifies (recorded, listed, scratch copy gone); a flipped byte fails the
checksum; a dump that does not restore fails with the restore tool's error and leaves no scratch
copy; and the live database is never touched: it is changed after the backup, so a restore that
went into it instead of a scratch copy would show.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard

from release.backup.catalog import get, set_fields
from release.backup.verify import compare_counts, pick_for_schedule
from release.context import Context
from release.db import DumpFailed
from release.db.base import scratch_name, stale_scratches
from release.db.mysql import SwitchGuard
from tests.support.databases import MariaDBServer, PostgresServer
from tests.support.health import WebhookServer
from tests.support.project import CliResult, Project, local_env

pytestmark = pytest.mark.integration

PASSWORD_VAR = "RELEASE_TEST_VERIFY_DB_PASSWORD"


# --------------------------------------------------------------------------- helpers


def ctx_of(project: Project) -> Context:
    return Context(inventory_dir=project.inventory, interactive=False)


def backup_now(project: Project) -> dict[str, object]:
    made = project.run("backup", "run", "test", "--json")
    assert made.code == 0, made.stderr
    return dict(made.json())


def verify(project: Project, *args: str) -> tuple[CliResult, list[dict[str, object]]]:
    result = project.run("backup", "verify", "test", *args, "--json")
    return result, json.loads(result.stdout) if result.stdout else []


def listed(project: Project, backup_id: object) -> dict[str, object]:
    rows = project.run("backup", "list", "test", "--json").json()
    return dict(next(b for b in rows if b["id"] == backup_id))


def flip_a_byte(project: Project, backup: dict[str, object]) -> None:
    path = project.root / str(backup["path"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def replace_dump(project: Project, backup: dict[str, object], data: bytes) -> None:
    """Put `data` in the backup's file and record its sha256 and size: the checksum passes, the rest is up to it."""
    path = project.root / str(backup["path"])
    path.write_bytes(data)
    set_fields(ctx_of(project).ledger, str(backup["id"]), sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True).compress(data)


def unzstd(path: Path) -> bytes:
    with path.open("rb") as handle:
        return zstandard.ZstdDecompressor().stream_reader(handle).read()


def event_kinds(project: Project) -> list[str]:
    return [e["kind"] for e in ctx_of(project).ledger.events_for("test")]


def assert_failed(result: CliResult, rows: list[dict[str, object]], needle: str, inconclusive: bool = False) -> None:
    assert result.code == 1, result.stderr
    assert len(rows) == 1 and rows[0]["ok"] is False and rows[0]["inconclusive"] is inconclusive
    assert needle in str(rows[0]["error"]), rows[0]["error"]
    assert "verification failed for" in result.stderr


def storage_files(project: Project) -> list[str]:
    return sorted(p.name for p in (project.root / "backups" / "test").iterdir())


def write_project(project: Project, database: dict[str, object], **extra: object) -> None:
    project.write_env("test", local_env(project.root, database=database, **extra))


# --------------------------------------------------------------------------- the counting rule


@pytest.mark.parametrize(
    ("engine", "manifest", "restored", "problems", "notes"),
    [
        ("sqlite", {"a": 3}, {"a": 3, "b": 1}, 0, 0),  # tables the manifest does not name are not compared
        ("sqlite", {"a": 3}, {"a": 2}, 1, 0),  # SQLite: the manifest counted the dumped snapshot itself
        ("sqlite", {"a": 3}, {}, 1, 0),
        ("postgresql", {"public.a": 3}, {"public.a": 5}, 0, 1),  # counted a moment before the dump
        ("postgresql", {"public.a": 3}, {"public.a": 0}, 1, 0),
        ("mysql", {"a": 0}, {"a": 0}, 0, 0),
        ("mysql", {"a": 3, "b": 1}, {"a": 3}, 1, 0),
        ("mysql", {}, {"a": 3}, 0, 0),  # no counts in the manifest (not cheap): nothing to compare
    ],
)
def test_compare_counts(
    engine: str, manifest: dict[str, int], restored: dict[str, int], problems: int, notes: int
) -> None:
    found, noted = compare_counts(engine, manifest, restored)
    assert (len(found), len(noted)) == (problems, notes), (found, noted)


@pytest.mark.parametrize(
    ("chunks", "refused"),
    [
        ([b"/*M!999999\\- enable the sandbox mode */\n-- MariaDB dump\nCREATE TABLE `t` (id INT);\n"], False),
        ([b"SELECT 1;\nUSE `live`;\n"], True),
        ([b"SELECT 1;\nUS", b"E `live`;\n"], True),  # split across chunks
        ([b"SELECT 1;\n", b"  use live;\n"], True),
        ([b"\\u live\n"], True),
        ([b"CREATE DATABASE x;\n"], True),
        ([b"DROP SCHEMA x;\n"], True),
        ([b"INSERT INTO t VALUES ('", b"x" * 100, b" use live');\n"], False),  # inside a long line
        ([b"INSERT INTO t VALUES ('a use b');\nCREATE TABLE use_log (id INT);\n"], False),
    ],
)
def test_a_mysql_dump_may_not_switch_databases(chunks: list[bytes], refused: bool) -> None:
    guard = SwitchGuard()
    if not refused:
        for chunk in chunks:
            guard.check(chunk, "x.sql.zst")
        return
    with pytest.raises(DumpFailed, match="switches databases"):
        for chunk in chunks:
            guard.check(chunk, "x.sql.zst")


# --------------------------------------------------------------------------- leftovers of killed verifies

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("name", "stale"),
    [
        (f"release_verify_{int(NOW) - 3601}_3f9c0a12", True),  # older than an hour: its verify was killed
        (f"release_verify_{int(NOW) - 3599}_3f9c0a12", False),  # a verify running right now
        (f"release_verify_{int(NOW) + 60}_3f9c0a12", False),  # another machine's clock a little ahead
        ("release_verify_3f9c0a12b7de", True),  # no time in the name (older releases): counts as old
        ("release_verify_", True),
        ("release_verify_12x_ab", True),
        ("release_verifyx_1_ab", False),  # not a scratch database at all
        ("app", False),
    ],
)
def test_which_scratch_databases_are_leftovers(name: str, stale: bool) -> None:
    assert stale_scratches([name], NOW) == ([name] if stale else [])


def test_a_scratch_name_carries_its_creation_time() -> None:
    name = scratch_name(NOW)
    assert name.startswith(f"release_verify_{int(NOW)}_") and len(name) <= 63  # PostgreSQL's limit is the lower
    assert stale_scratches([name], NOW + 3599) == [] and stale_scratches([name], NOW + 3601) == [name]
    assert scratch_name(NOW) != name


def leftovers(now: float) -> tuple[str, str, str]:
    """(old, old without a time, fresh) scratch names as killed and running verifies leave them."""
    return (
        f"release_verify_{int(now) - 7200}_dead0001",
        "release_verify_0ld0f0rma7",
        f"release_verify_{int(now) - 60}_f00d0001",
    )


def assert_swept(result: CliResult, dropped: tuple[str, ...], left: set[str], present: set[str]) -> None:
    assert result.code == 0, result.stderr
    for name in dropped:
        assert name in result.stderr and "left behind by an interrupted verify" in result.stderr
    assert present == left


# --------------------------------------------------------------------------- SQLite


@pytest.fixture
def sqlite_project(tmp_path: Path) -> Project:
    project = Project(tmp_path / "proj")
    write_project(project, {"engine": "sqlite", "name": "app.db"})
    with sqlite3.connect(project.root / "app.db") as conn:
        conn.executescript(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT);"
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"
            "INSERT INTO people (name) VALUES ('张三'), ('李四'), ('Wang Wu');"
        )
    conn.close()
    return project


def sqlite_contents(project: Project) -> list[tuple[object, ...]]:
    with sqlite3.connect(project.root / "app.db") as conn:
        rows = conn.execute("SELECT * FROM people ORDER BY id").fetchall()
        rows += conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall()
    conn.close()
    return rows


def sqlite_change(project: Project) -> None:
    with sqlite3.connect(project.root / "app.db") as conn:
        conn.execute("INSERT INTO people (name) VALUES ('after the backup')")
    conn.close()


def test_sqlite_good_backup_verifies(sqlite_project: Project) -> None:
    project = sqlite_project
    backup = backup_now(project)
    sqlite_change(project)
    after = sqlite_contents(project)
    result, rows = verify(project)
    assert result.code == 0, result.stderr
    [row] = rows
    assert row["ok"] is True and row["error"] is None and row["tables"] == {"people": 3, "notes": 0}
    assert row["tables"] == backup["tables"]
    assert listed(project, backup["id"])["verified_at"] == row["verified_at"] is not None
    manifest = json.loads((project.root / f"{backup['path']}.json").read_text())
    assert manifest["verified_at"] == row["verified_at"]  # a catalog rebuilt from manifests keeps it
    assert sqlite_contents(project) == after  # the live database was not restored over
    assert storage_files(project) == sorted([Path(str(backup["path"])).name, f"{Path(str(backup['path'])).name}.json"])
    human = project.run("backup", "verify", "test", str(backup["id"]))
    assert human.code == 0 and str(backup["id"]) in human.stdout and " ok " in human.stdout


def test_sqlite_corrupted_file_fails_the_checksum_and_alerts(sqlite_project: Project) -> None:
    server = WebhookServer()
    received = server.received
    project = sqlite_project
    try:
        hook = {"alert_webhook": server.url}
        write_project(project, {"engine": "sqlite", "name": "app.db"}, backup=hook)
        older, newer = backup_now(project), backup_now(project)
        flip_a_byte(project, older)
        result, rows = verify(project)
        human = project.run("backup", "verify", "test")
    finally:
        server.stop()
    assert result.code == 1 and [r["id"] for r in rows] == [newer["id"], older["id"]]  # newest first
    assert rows[0]["ok"] is True and rows[1]["ok"] is False and "checksum mismatch" in str(rows[1]["error"])
    assert human.code == 1 and "FAILED" in human.stdout and "checksum mismatch" in human.stdout
    assert f"verification failed for: {older['id']}" in human.stderr
    recorded = get(ctx_of(project).ledger, "test", str(older["id"]))
    assert recorded is not None and recorded.verify_error and "checksum mismatch" in recorded.verify_error
    assert recorded.verified_at is None and listed(project, older["id"])["verified_at"] is None
    assert event_kinds(project).count("verify-failed") == 2  # one per run
    assert len(received) == 2 and "checksum mismatch" in str(received[0]["error"]) and received[0]["env"] == "test"


def test_sqlite_dump_that_does_not_restore(sqlite_project: Project) -> None:
    project = sqlite_project
    backup = backup_now(project)
    before = sqlite_contents(project)
    replace_dump(project, backup, zstd(b"not a database" * 1000))
    result, rows = verify(project, str(backup["id"]))
    assert_failed(result, rows, "does not hold a SQLite database")
    assert sqlite_contents(project) == before
    assert len(storage_files(project)) == 2  # no scratch file left beside the dump
    recorded = get(ctx_of(project).ledger, "test", str(backup["id"]))
    assert recorded is not None and "does not hold a SQLite database" in str(recorded.verify_error)
    # after a good verify the error is cleared
    good = zstd((project.root / "app.db").read_bytes())
    replace_dump(project, backup, good)
    again, rows = verify(project, str(backup["id"]))
    assert again.code == 0, again.stderr
    recorded = get(ctx_of(project).ledger, "test", str(backup["id"]))
    assert recorded is not None and recorded.verify_error is None and recorded.verified_at


def test_sqlite_counts_must_match_the_manifest_exactly(sqlite_project: Project) -> None:
    project = sqlite_project
    backup = backup_now(project)
    set_fields(ctx_of(project).ledger, str(backup["id"]), tables=json.dumps({"people": 4, "notes": 0}))
    result, rows = verify(project)
    assert_failed(result, rows, "people: 3 rows restored, the manifest counted 4")


def test_verify_of_an_unknown_backup_is_bad_input(sqlite_project: Project) -> None:
    backup_now(sqlite_project)
    result = sqlite_project.run("backup", "verify", "test", "nope")
    assert result.code == 2 and "no backup 'nope'" in result.stderr


def test_the_schedule_picks_the_newest_unverified_backup(sqlite_project: Project) -> None:
    project = sqlite_project
    older, newer = backup_now(project), backup_now(project)
    ledger = ctx_of(project).ledger
    from release.backup.catalog import list_backups

    assert pick_for_schedule(list_backups(ledger, "test")).id == newer["id"]  # type: ignore[union-attr]
    assert verify(project, str(newer["id"]))[0].code == 0
    assert pick_for_schedule(list_backups(ledger, "test")).id == older["id"]  # type: ignore[union-attr]
    assert verify(project, str(older["id"]))[0].code == 0
    assert pick_for_schedule(list_backups(ledger, "test")).id == newer["id"]  # type: ignore[union-attr]
    assert pick_for_schedule([]) is None


# --------------------------------------------------------------------------- PostgreSQL


@dataclass
class Db:
    """A database owned by its own login, as in production, and its project."""

    name: str
    password: str
    project: Project


def awkward(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}-'\"\\ $(id);#x"


def pg_run(server: PostgresServer, db: Db, sql: str) -> str:
    argv = ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", server.host, "-p", str(server.port)]
    argv += ["-U", db.name, "-d", db.name, "-c", sql]
    done = subprocess.run(argv, env=dict(os.environ, PGPASSWORD=db.password), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def pg_scratch(server: PostgresServer) -> str:
    return server.psql("SELECT datname FROM pg_database WHERE datname LIKE 'release\\_verify\\_%'")


def pg_contents(server: PostgresServer, db: Db) -> str:
    return pg_run(
        server,
        db,
        "SELECT * FROM customers ORDER BY id; SELECT count(*), sum(amount) FROM orders; "
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )


@pytest.fixture
def pg(postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Db:
    name, password = f"app_{secrets.token_hex(4)}", awkward("pg")
    postgres_server.psql(f"CREATE ROLE {name} LOGIN CREATEDB PASSWORD '{password.replace(chr(39), chr(39) * 2)}'")
    postgres_server.create_database(name)
    postgres_server.psql(f"ALTER DATABASE {name} OWNER TO {name}")
    monkeypatch.setenv(PASSWORD_VAR, password)
    project = Project(tmp_path / "proj")
    database = {"engine": "postgresql", "host": postgres_server.host, "port": postgres_server.port, "name": name}
    write_project(project, {**database, "user": name, "password": f"${{{PASSWORD_VAR}}}"})
    db = Db(name, password, project)
    pg_run(
        postgres_server,
        db,
        "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);"
        "CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers(id), amount numeric);"
        "CREATE TABLE empty (id int);"
        "INSERT INTO customers (name) VALUES ('张三'), ('O''Brien');"
        "INSERT INTO orders (customer_id, amount) SELECT 1 + g % 2, g * 1.5 FROM generate_series(1, 300) g;",
    )
    return db


def test_postgresql_good_backup_verifies(postgres_server: PostgresServer, pg: Db) -> None:
    backup = backup_now(pg.project)
    pg_run(postgres_server, pg, "INSERT INTO customers (name) VALUES ('after the backup')")
    after = pg_contents(postgres_server, pg)
    result, rows = verify(pg.project)
    assert result.code == 0, result.stderr
    [row] = rows
    expected = {"public.customers": 2, "public.orders": 300, "public.empty": 0}
    assert row["ok"] is True and row["tables"] == expected == backup["tables"] and row["notes"] == []
    assert listed(pg.project, backup["id"])["verified_at"] == row["verified_at"] is not None
    assert pg_scratch(postgres_server) == ""
    assert pg_contents(postgres_server, pg) == after  # restored into a scratch database, not over the live one
    assert pg.password not in result.stdout + result.stderr


def test_postgresql_corrupted_file(postgres_server: PostgresServer, pg: Db) -> None:
    backup = backup_now(pg.project)
    flip_a_byte(pg.project, backup)
    result, rows = verify(pg.project)
    assert_failed(result, rows, "checksum mismatch")
    assert "checksum mismatch" in str(listed(pg.project, backup["id"]).get("verify_error"))
    assert "verify-failed" in event_kinds(pg.project)
    assert pg_scratch(postgres_server) == ""


def test_postgresql_dump_that_does_not_restore(postgres_server: PostgresServer, pg: Db) -> None:
    backup = backup_now(pg.project)
    pg_run(postgres_server, pg, "UPDATE customers SET name = 'after the backup'")
    after = pg_contents(postgres_server, pg)
    raw = unzstd(pg.project.root / str(backup["path"]))
    # cut short: pg_restore gets going (creates tables in the scratch database) and then fails
    replace_dump(pg.project, backup, zstd(raw[: len(raw) * 3 // 4]))
    result, rows = verify(pg.project)
    assert_failed(result, rows, "pg_restore of")
    assert "into the scratch database release_verify_" in str(rows[0]["error"])
    assert pg.password not in str(rows[0]["error"])
    assert pg_scratch(postgres_server) == ""
    assert pg_contents(postgres_server, pg) == after
    recorded = get(ctx_of(pg.project).ledger, "test", str(backup["id"]))
    assert recorded is not None and "pg_restore" in str(recorded.verify_error)
    # garbage that is not even an archive
    replace_dump(pg.project, backup, zstd(b"this is no pg_dump archive\n" * 100))
    result, rows = verify(pg.project)
    assert_failed(result, rows, "pg_restore of")
    assert pg_scratch(postgres_server) == "" and pg_contents(postgres_server, pg) == after


def test_postgresql_a_missing_table_fails_a_differing_count_is_noted(postgres_server: PostgresServer, pg: Db) -> None:
    backup = backup_now(pg.project)
    ledger = ctx_of(pg.project).ledger
    tables = {"public.customers": 2, "public.orders": 299, "public.empty": 0}
    set_fields(ledger, str(backup["id"]), tables=json.dumps(tables))
    result, rows = verify(pg.project)
    assert result.code == 0, result.stderr
    assert rows[0]["notes"] == ["public.orders: 300 rows restored, 299 counted just before the dump"]
    set_fields(ledger, str(backup["id"]), tables=json.dumps({**tables, "public.gone": 5}))
    result, rows = verify(pg.project)
    assert_failed(result, rows, "table public.gone is missing from the restored copy")
    assert pg_scratch(postgres_server) == ""


def test_postgresql_without_createdb_says_so_and_marks_no_backup_bad(postgres_server: PostgresServer, pg: Db) -> None:
    backup = backup_now(pg.project)
    postgres_server.psql(f"ALTER ROLE {pg.name} NOCREATEDB")
    result, rows = verify(pg.project)
    assert_failed(result, rows, "may not create databases", inconclusive=True)
    assert f"ALTER ROLE {pg.name} CREATEDB" in str(rows[0]["error"])
    recorded = get(ctx_of(pg.project).ledger, "test", str(backup["id"]))
    assert recorded is not None and recorded.verify_error is None  # retention must not take it for a bad one
    assert "verify-failed" in event_kinds(pg.project)
    assert pg_scratch(postgres_server) == ""


# --------------------------------------------------------------------------- MariaDB


def my_run(server: MariaDBServer, db: Db, sql: str) -> str:
    argv = ["mariadb", "--no-defaults", "--default-character-set=utf8mb4", "-N", "-B"]
    argv += ["-h", server.host, "-P", str(server.port), "-u", db.name, db.name, "-e", sql]
    done = subprocess.run(argv, env=dict(os.environ, MYSQL_PWD=db.password), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def my_scratch(server: MariaDBServer) -> str:
    return server.sql("SHOW DATABASES LIKE 'release\\_verify\\_%'")


def my_contents(server: MariaDBServer, db: Db) -> str:
    return my_run(
        server,
        db,
        "SELECT * FROM customers ORDER BY id; SELECT COUNT(*), SUM(amount) FROM orders; SHOW TABLES; "
        "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()",
    )


SCRATCH_GRANT = "GRANT ALL ON `release\\_verify\\_%`.* TO '{user}'@'%'"


@pytest.fixture
def my(mariadb_server: MariaDBServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Db:
    name, password = f"app_{secrets.token_hex(4)}", awkward("my")
    literal = "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"
    mariadb_server.create_database(name)
    mariadb_server.sql(
        f"CREATE USER '{name}'@'%' IDENTIFIED BY {literal}; GRANT ALL ON `{name}`.* TO '{name}'@'%'; "
        + SCRATCH_GRANT.format(user=name)
    )
    monkeypatch.setenv(PASSWORD_VAR, password)
    project = Project(tmp_path / "proj")
    database = {"engine": "mysql", "host": mariadb_server.host, "port": mariadb_server.port, "name": name}
    write_project(project, {**database, "user": name, "password": f"${{{PASSWORD_VAR}}}"})
    db = Db(name, password, project)
    my_run(
        mariadb_server,
        db,
        "CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL) CHARSET utf8mb4;"
        "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT, amount DECIMAL(10, 2),"
        " FOREIGN KEY (customer_id) REFERENCES customers (id));"
        "INSERT INTO customers (name) VALUES ('张三'), ('O''Brien');"
        "INSERT INTO orders (customer_id, amount) SELECT 1 + seq % 2, seq * 1.5 FROM seq_1_to_300;"
        "CREATE TRIGGER shout BEFORE INSERT ON customers FOR EACH ROW SET NEW.name = UPPER(NEW.name);",
    )
    return db


def test_mariadb_good_backup_verifies(mariadb_server: MariaDBServer, my: Db) -> None:
    backup = backup_now(my.project)
    sql = unzstd(my.project.root / str(backup["path"]))
    assert b"\nUSE " not in sql and b"CREATE DATABASE" not in sql  # what makes a scratch-schema restore safe
    my_run(mariadb_server, my, "INSERT INTO customers (name) VALUES ('after the backup')")
    after = my_contents(mariadb_server, my)
    result, rows = verify(my.project)
    assert result.code == 0, result.stderr
    [row] = rows
    assert row["ok"] is True and row["tables"] == {"customers": 2, "orders": 300} == backup["tables"]
    assert listed(my.project, backup["id"])["verified_at"] == row["verified_at"] is not None
    assert my_scratch(mariadb_server) == ""
    assert my_contents(mariadb_server, my) == after  # restored into a scratch schema, not over the live one
    assert my.password not in result.stdout + result.stderr


def test_mariadb_corrupted_file(mariadb_server: MariaDBServer, my: Db) -> None:
    backup = backup_now(my.project)
    flip_a_byte(my.project, backup)
    result, rows = verify(my.project)
    assert_failed(result, rows, "checksum mismatch")
    assert "checksum mismatch" in str(listed(my.project, backup["id"]).get("verify_error"))
    assert my_scratch(mariadb_server) == ""


def test_mariadb_dump_that_does_not_restore(mariadb_server: MariaDBServer, my: Db) -> None:
    backup = backup_now(my.project)
    before = my_contents(mariadb_server, my)
    garbage = b"CREATE TABLE planted (id INT);\nINSERT INTO planted VALUES (1);\nTHIS IS NOT SQL AT ALL;\n"
    replace_dump(my.project, backup, zstd(garbage))
    result, rows = verify(my.project)
    assert_failed(result, rows, "restoring")
    error = str(rows[0]["error"])
    assert "into the scratch schema release_verify_" in error and "ERROR 1064" in error, error
    assert my.password not in error
    assert my_scratch(mariadb_server) == ""
    assert my_contents(mariadb_server, my) == before  # in particular: no table `planted` in the live database
    recorded = get(ctx_of(my.project).ledger, "test", str(backup["id"]))
    assert recorded is not None and "ERROR 1064" in str(recorded.verify_error)


def test_mariadb_a_dump_that_switches_databases_is_refused(mariadb_server: MariaDBServer, my: Db) -> None:
    backup = backup_now(my.project)
    before = my_contents(mariadb_server, my)
    sql = unzstd(my.project.root / str(backup["path"]))
    # as if dumped with --databases: the USE would take every statement after it to the live database
    head, _, rest = sql.partition(b"\n\n")
    replace_dump(my.project, backup, zstd(head + f"\n\nUSE `{my.name}`;\nDROP TABLE orders;\n".encode() + rest))
    result, rows = verify(my.project)
    assert_failed(result, rows, "switches databases")
    assert f"USE `{my.name}`" in str(rows[0]["error"])
    assert my_scratch(mariadb_server) == ""
    assert my_contents(mariadb_server, my) == before


def test_mariadb_without_rights_on_scratch_schemas_says_so(mariadb_server: MariaDBServer, my: Db) -> None:
    backup = backup_now(my.project)
    mariadb_server.sql(f"REVOKE ALL ON `release\\_verify\\_%`.* FROM '{my.name}'@'%'")
    result, rows = verify(my.project)
    assert_failed(result, rows, "may not create the scratch schema", inconclusive=True)
    assert "GRANT ALL ON `release\\_verify\\_%`.*" in str(rows[0]["error"])
    recorded = get(ctx_of(my.project).ledger, "test", str(backup["id"]))
    assert recorded is not None and recorded.verify_error is None
    assert my_scratch(mariadb_server) == ""


# --------------------------------------------------------------------------- leftovers on the servers


def test_postgresql_leftovers_of_a_killed_verify_are_dropped(postgres_server: PostgresServer, pg: Db) -> None:
    backup_now(pg.project)
    old, untimed, fresh = leftovers(time.time())
    for name in (old, untimed, fresh):
        pg_run(postgres_server, pg, f'CREATE DATABASE "{name}"')  # as the login that verifies
    try:
        result, rows = verify(pg.project)
        assert rows and rows[0]["ok"] is True
        assert_swept(result, (old, untimed), {fresh}, set(pg_scratch(postgres_server).split()))
        assert "verify-scratch-dropped" in event_kinds(pg.project)
    finally:
        postgres_server.psql(f'DROP DATABASE IF EXISTS "{fresh}"')


def test_mariadb_leftovers_of_a_killed_verify_are_dropped(mariadb_server: MariaDBServer, my: Db) -> None:
    backup_now(my.project)
    old, untimed, fresh = leftovers(time.time())
    for name in (old, untimed, fresh):
        my_run(mariadb_server, my, f"CREATE DATABASE `{name}`")
    try:
        result, rows = verify(my.project)
        assert rows and rows[0]["ok"] is True
        assert_swept(result, (old, untimed), {fresh}, set(my_scratch(mariadb_server).split()))
        assert "verify-scratch-dropped" in event_kinds(my.project)
    finally:
        mariadb_server.sql(f"DROP DATABASE IF EXISTS `{fresh}`")
