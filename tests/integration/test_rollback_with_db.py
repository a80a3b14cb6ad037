"""A release whose migration drops or renames a table and adds one; `rollback --with-db` brings the
database back as it was, rows and tables (real servers)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import MariaDBServer, PostgresServer
from tests.support.project import Project, local_env

pytestmark = pytest.mark.integration

SEED = "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(40)); INSERT INTO people VALUES (1, '张三'), (2, '李四');"
# What a release's migration does to the schema: the rollback must undo it, not merge into it.
MIGRATIONS = {
    "drop": "DROP TABLE people",
    "rename and add": "ALTER TABLE people RENAME TO people_v2; CREATE TABLE audit_log (id INT PRIMARY KEY)",
}


def project_with_migration(root: Path, database: dict[str, Any], migrate: str) -> Project:
    """Local hosts; the deploy playbook runs `migrate` once before the switch."""
    project = Project(root)
    project.write_env("test", local_env(project.root, database=database))
    project.insert_task({"name": "Migrate", "shell": {"cmd": migrate}, "run_once": True})
    for version in ("1.0.0", "1.1.0"):
        project.artifact(version)
    return project


def deploy_migrate_and_roll_back(
    project: Project, read_rows: Any, read_tables: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIGRATE", "0")
    first = project.run("deploy", "test", "--version", "1.0.0")
    assert first.code == 0, first.stderr
    before = read_rows()
    assert before == ["1|张三", "2|李四"]
    assert read_tables() == ["people"]
    monkeypatch.setenv("MIGRATE", "1")  # this release's migration changes the schema
    second = project.run("deploy", "test", "--version", "1.1.0", "--json")
    assert second.code == 0, second.stderr
    with pytest.raises(Exception):  # noqa: B017 - the client fails: the table is gone
        read_rows()
    back = project.run("rollback", "test", "--with-db", "--yes", "--json")
    assert back.code == 0, back.stderr
    assert "Data written since then will be LOST" in back.stderr
    assert read_rows() == before
    assert read_tables() == ["people"], "a table the migration added or renamed must not survive the rollback"
    versions = [(project.root / "hosts" / h / "current" / "VERSION").read_text() for h in ("web1", "web2")]
    assert versions == ["1.0.0\n", "1.0.0\n"]
    kinds = sorted(b["kind"] for b in project.run("backup", "list", "test", "--json").json())
    assert kinds == ["pre-release", "pre-release", "safety"]


@pytest.mark.parametrize("migration", MIGRATIONS)
def test_postgresql(
    tmp_path: Path, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch, migration: str
) -> None:
    pg = postgres_server
    name = f"oa_{secrets.token_hex(4)}"
    pg.create_database(name)
    pg.psql(SEED, db=name)
    monkeypatch.setenv("PGPASSWORD", pg.password)
    monkeypatch.setenv("OA_DB_PASSWORD", pg.password)
    database = {"engine": "postgresql", "host": pg.host, "port": pg.port, "name": name, "user": pg.user,
                "password": "${OA_DB_PASSWORD}"}  # fmt: skip
    client = f"psql -h {pg.host} -p {pg.port} -U {pg.user} -d {name} -v ON_ERROR_STOP=1"
    migrate = f'if [ "$MIGRATE" = 1 ]; then {client} -c "{MIGRATIONS[migration]}"; fi'
    project = project_with_migration(tmp_path / "proj", database, migrate)

    def read_rows() -> list[str]:
        out = pg.psql("SELECT id, name FROM people ORDER BY id", db=name)
        return out.strip().splitlines()

    def read_tables() -> list[str]:
        return pg.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", db=name).split()

    deploy_migrate_and_roll_back(project, read_rows, read_tables, monkeypatch)


@pytest.mark.parametrize("migration", MIGRATIONS)
def test_mariadb(
    tmp_path: Path, mariadb_server: MariaDBServer, monkeypatch: pytest.MonkeyPatch, migration: str
) -> None:
    db = mariadb_server
    name = f"oa_{secrets.token_hex(4)}"
    db.create_database(name)
    db.sql(SEED.replace("VARCHAR(40))", "VARCHAR(40)) DEFAULT CHARSET=utf8mb4"), db=name)
    monkeypatch.setenv("MYSQL_PWD", db.password)
    monkeypatch.setenv("OA_DB_PASSWORD", db.password)
    database = {"engine": "mysql", "host": db.host, "port": db.port, "name": name, "user": db.user,
                "password": "${OA_DB_PASSWORD}"}  # fmt: skip
    client = f"mariadb -h {db.host} -P {db.port} -u {db.user} {name}"
    migrate = f'if [ "$MIGRATE" = 1 ]; then {client} -e "{MIGRATIONS[migration]}"; fi'
    project = project_with_migration(tmp_path / "proj", database, migrate)

    def read_rows() -> list[str]:
        out = db.sql("SELECT id, name FROM people ORDER BY id", db=name)
        return ["|".join(line.split("\t")) for line in out.strip().splitlines()]

    def read_tables() -> list[str]:
        return db.sql("SHOW TABLES", db=name).split()

    deploy_migrate_and_roll_back(project, read_rows, read_tables, monkeypatch)
