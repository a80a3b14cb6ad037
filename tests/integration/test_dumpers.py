"""Dump and restore against real PostgreSQL and MariaDB servers, SQLite files, and dump_via over real sshd.

Every database here is owned by its own non-superuser login with an awkward password, as in
production, so ownership, quoting and password handling are exercised for real.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard
from pydantic import SecretStr

from release.db import Dumper, DumpFailed, make_dumper
from release.db.mysql import SANDBOX, MysqlDumper, option_value
from release.db.runner import Runner, Tool, remote_script, stdin_preamble
from release.errors import BadInput
from release.hosts import Host
from release.inventory import load_environment
from release.inventory_models import DatabaseSpec
from release.targets import build_hosts
from tests.support.databases import MariaDBServer, PostgresServer
from tests.support.project import Project, ssh_inventory
from tests.support.sshd import SshdCluster

pytestmark = pytest.mark.integration

# Quotes, backslash, $, ;, # and a space: anything that is not quoted somewhere breaks.
AWKWARD = "'\"\\ $(id);#x"


def awkward_password(prefix: str) -> str:
    """A unique, recognizable password full of shell and SQL metacharacters."""
    return f"{prefix}-{secrets.token_hex(10)}-{AWKWARD}"


# --------------------------------------------------------------------------- process helpers


def _cmdlines() -> Iterator[tuple[int, bytes]]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    yield int(entry.name), handle.read()
            except OSError:
                continue


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def pids_named(name: str, needle: str = "") -> list[int]:
    """Live processes whose command is `name` and whose argv mentions `needle`."""
    return [pid for pid, cmd in _cmdlines() if _comm(pid) == name and needle.encode() in cmd]


class CmdlineWatch:
    """Polls every /proc/*/cmdline while a dump runs: records leaks of `secret` and the tools seen."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.leaks: list[str] = []
        self.seen: set[str] = set()
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid, cmd in _cmdlines():
                argv = cmd.split(b"\0")
                self.seen.add(Path(argv[0].decode(errors="replace")).name)
                if self.secret in cmd:
                    self.leaks.append(f"{pid}: {cmd!r}")
            self.polls += 1

    def __enter__(self) -> CmdlineWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def assert_clean_dir(directory: Path, expected: set[str]) -> None:
    """Exactly the expected files: no temporary or partial file left behind."""
    assert {p.name for p in directory.iterdir()} == expected


def assert_good_dump(dumper: Dumper, result_path: Path, size: int, sha: str) -> None:
    data = result_path.read_bytes()
    assert (result_path.stat().st_mode & 0o777) == 0o600
    assert size == len(data) and sha == hashlib.sha256(data).hexdigest()
    assert result_path.name.endswith(dumper.extension())


# --------------------------------------------------------------------------- the MySQL option file is a pipe

# What a MySQL tool does with --defaults-extra-file: open it by name, check it is not a world-writable
# file, read it; then read its stdin (a restore's data).
OPTION_PROBE = '#!/bin/sh\nf="${1#--defaults-extra-file=}"\nstat -L -c "%F %a" "$f"\ncat "$f"\ncat\n'


def option_probe(tmp_path: Path) -> tuple[Tool, str]:
    probe = tmp_path / "probe"
    probe.write_text(OPTION_PROBE)
    probe.chmod(0o755)
    line = f"password={option_value(AWKWARD)}"
    return Tool([str(probe)], option_file=line), line


def test_the_remote_option_file_is_a_pipe_no_file(tmp_path: Path) -> None:
    tool, line = option_probe(tmp_path)
    assert AWKWARD not in remote_script(tool)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run(
        ["sh", "-c", remote_script(tool)],
        input=stdin_preamble(tool) + b"data after",
        capture_output=True,
        env=dict(os.environ, TMPDIR=str(scratch)),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == f"fifo 600\n[client]\n{line}\ndata after"
    assert list(scratch.iterdir()) == []  # nothing was written anywhere


def test_the_local_option_file_is_a_pipe_no_file(tmp_path: Path) -> None:
    tool, line = option_probe(tmp_path)
    open_before = set(os.listdir("/proc/self/fd"))
    with Runner().start(tool) as process:
        output = process.stdout.read().decode()
        assert process.wait() == 0, process.stderr()
    assert output == f"fifo 600\n[client]\n{line}\n"
    assert set(os.listdir("/proc/self/fd")) == open_before  # our ends of the pipe are closed


def test_an_option_file_too_big_for_one_pipe_write_is_refused() -> None:
    with pytest.raises(BadInput, match="cannot be this long"):
        Runner().start(Tool(["true"], option_file="password=" + "x" * 5000))


# --------------------------------------------------------------------------- PostgreSQL


@dataclass
class PgDb:
    """A database owned by its own login role (not a superuser)."""

    server: PostgresServer
    name: str
    password: str

    def spec(self, **extra: object) -> DatabaseSpec:
        data = {"engine": "postgresql", "host": self.server.host, "port": self.server.port, "name": self.name}
        data |= {"user": self.name, "password": SecretStr(self.password), **extra}
        return DatabaseSpec.model_validate(data)

    def sql(self, sql: str) -> str:
        """Run SQL as the owner (so objects belong to it, as an application's would)."""
        argv = ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", self.server.host, "-p", str(self.server.port)]
        argv += ["-U", self.name, "-d", self.name, "-c", sql]
        env = dict(os.environ, PGPASSWORD=self.password)
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout


def new_pg_db(server: PostgresServer) -> PgDb:
    name = f"app_{secrets.token_hex(4)}"
    password = awkward_password("pg")
    literal = "'" + password.replace("'", "''") + "'"
    server.psql(f"CREATE ROLE {name} LOGIN PASSWORD {literal}")
    server.create_database(name)
    server.psql(f"ALTER DATABASE {name} OWNER TO {name}")
    return PgDb(server, name, password)


PG_SEED = """
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, note text);
CREATE TABLE orders (
    id serial PRIMARY KEY, customer_id int REFERENCES customers(id), amount numeric(10, 2), data bytea,
    created timestamptz DEFAULT '2026-01-01 00:00:00+00'
);
INSERT INTO customers (name, note) VALUES ('张三', '中文备注'), ('O''Brien', E'tab\\there'), ('emoji', '🎉');
INSERT INTO orders (customer_id, amount, data)
    SELECT 1 + g % 3, g * 1.5, decode(md5(g::text), 'hex') FROM generate_series(1, 500) g;
CREATE INDEX orders_customer ON orders (customer_id);
CREATE VIEW order_totals AS SELECT customer_id, sum(amount) AS total FROM orders GROUP BY 1;
CREATE MATERIALIZED VIEW big_orders AS SELECT id FROM orders WHERE amount > 700;
"""


def pg_contents(db: PgDb) -> str:
    """Everything the round trip must bring back, as text."""
    return db.sql(
        "SELECT * FROM customers ORDER BY id; SELECT * FROM orders ORDER BY id; "
        "SELECT * FROM order_totals ORDER BY 1; SELECT count(*) FROM big_orders; "
        "SELECT last_value FROM customers_id_seq; "
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
    )


@pytest.fixture(scope="module")
def big_pg(postgres_server: PostgresServer) -> PgDb:
    """A database whose dump takes about a second (for interrupts and /proc polling)."""
    db = new_pg_db(postgres_server)
    db.sql(
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS a, repeat(md5((g % 97)::text), 4) AS b "
        "FROM generate_series(1, 1500000) g"
    )
    return db


def test_postgresql_round_trip(postgres_server: PostgresServer, tmp_path: Path) -> None:
    db = new_pg_db(postgres_server)
    db.sql(PG_SEED)
    before = pg_contents(db)
    assert "张三" in before and "🎉" in before
    dumper = make_dumper(db.spec(), tmp_path)
    assert dumper.server_version().startswith("15.")
    target = tmp_path / f"prod{dumper.extension()}"
    result = dumper.dump(target)
    assert result.path == target and result.engine == "postgresql" and result.format == "pg-custom+zstd"
    assert result.tables == {"public.customers": 3, "public.orders": 500}
    assert_good_dump(dumper, target, result.size, result.sha256)
    assert_clean_dir(tmp_path, {target.name})
    assert zstandard.ZstdDecompressor().stream_reader(target.open("rb")).read(5) == b"PGDMP"

    db.sql(
        "DROP TABLE orders CASCADE; UPDATE customers SET name = 'changed'; INSERT INTO customers (name) VALUES ('x')"
    )
    assert db.sql("SELECT DISTINCT name FROM customers WHERE id < 4") == "changed\n"
    dumper.restore(target)
    assert pg_contents(db) == before
    assert dumper.table_counts() == result.tables


def test_a_failed_postgresql_restore_changes_nothing(postgres_server: PostgresServer, tmp_path: Path) -> None:
    db = new_pg_db(postgres_server)
    db.sql(PG_SEED)
    dumper = make_dumper(db.spec(), tmp_path)
    good = dumper.dump(tmp_path / "good.pgdump.zst").path
    db.sql("UPDATE customers SET name = 'after the dump'")
    after = pg_contents(db)
    # Cut the archive short: pg_restore has begun (and dropped tables) when its input ends early.
    raw = zstandard.ZstdDecompressor().stream_reader(good.open("rb")).read()
    cut = tmp_path / "cut.pgdump.zst"
    cut.write_bytes(zstandard.ZstdCompressor().compress(raw[: len(raw) * 3 // 4]))
    with pytest.raises(DumpFailed) as failed:
        dumper.restore(cut)
    assert "pg_restore" in str(failed.value) and db.password not in str(failed.value)
    assert pg_contents(db) == after  # --single-transaction: all or nothing
    # A damaged zstd frame is refused as such.
    damaged = tmp_path / "damaged.pgdump.zst"
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(DumpFailed, match="damaged.*checksum"):
        dumper.restore(damaged)
    assert pg_contents(db) == after


PG_CATALOG = (
    "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' ORDER BY 1, 2; "
    "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'; "
    "SELECT t.typname, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
    "WHERE n.nspname = 'public' AND t.typtype <> 'b' ORDER BY 1; "
    "SELECT enumlabel FROM pg_enum ORDER BY 1; SELECT nspname FROM pg_namespace ORDER BY 1"
)
# What migrations do after a dump: every kind of object the restore must take away again.
PG_MIGRATION = """
ALTER TABLE people RENAME TO people_v2; CREATE TABLE added (id int GENERATED ALWAYS AS IDENTITY, x serial);
CREATE SCHEMA audit; CREATE TABLE audit.log (id int); CREATE VIEW added_view AS SELECT * FROM added;
CREATE FUNCTION f(m mood) RETURNS int LANGUAGE sql AS 'select 1';
CREATE FUNCTION g(p people_v2) RETURNS int LANGUAGE sql AS 'select 1';
CREATE PROCEDURE pr() LANGUAGE sql AS 'select 1'; CREATE AGGREGATE ag(int) (sfunc = int4pl, stype = int);
CREATE DOMAIN positive AS int CHECK (value > 0); CREATE TYPE pair AS (a int, b int);
CREATE TYPE floatrange AS RANGE (subtype = float8); CREATE SEQUENCE loose;
CREATE TABLE parted (id int) PARTITION BY RANGE (id);
CREATE TABLE parted1 PARTITION OF parted FOR VALUES FROM (0) TO (9);
ALTER TYPE mood ADD VALUE 'sad'; UPDATE customers SET name = 'after the dump';
"""


def test_a_postgresql_restore_brings_back_the_schema_as_dumped(postgres_server: PostgresServer, tmp_path: Path) -> None:
    db = new_pg_db(postgres_server)
    db.sql(PG_SEED + "CREATE TYPE mood AS ENUM ('ok'); CREATE TABLE people (id int PRIMARY KEY, m mood);")
    db.sql("INSERT INTO people VALUES (1, 'ok')")
    contents, catalog = pg_contents(db), db.sql(PG_CATALOG)
    dumper = make_dumper(db.spec(), tmp_path)
    dump = dumper.dump(tmp_path / "before.pgdump.zst").path
    db.sql(PG_MIGRATION)
    assert db.sql(PG_CATALOG) != catalog
    dumper.restore(dump)  # with the renamed table's index still there, pg_restore --clean alone fails
    assert db.sql(PG_CATALOG) == catalog
    assert pg_contents(db) == contents and db.sql("SELECT * FROM people") == "1|ok\n"


def test_a_restore_failing_in_sql_changes_nothing_not_even_the_cleanup(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    db = new_pg_db(postgres_server)
    db.sql(PG_SEED)
    dumper = make_dumper(db.spec(), tmp_path)
    dump = dumper.dump(tmp_path / "before.pgdump.zst").path
    db.sql("CREATE TABLE added (id int); INSERT INTO added VALUES (7); UPDATE customers SET name = 'after'")
    # Another owner's table: the cleanup leaves it, the dump's DROP of it fails, after the cleanup ran.
    postgres_server.psql(f"ALTER TABLE orders OWNER TO postgres; GRANT ALL ON orders TO {db.name}", db=db.name)
    after, catalog = pg_contents(db), db.sql(PG_CATALOG)
    with pytest.raises(DumpFailed, match="must be owner of table orders"):
        dumper.restore(dump)
    assert db.sql(PG_CATALOG) == catalog and pg_contents(db) == after
    assert db.sql("SELECT * FROM added") == "7\n"


def test_wrong_password_fails_clearly_and_leaves_nothing(postgres_server: PostgresServer, tmp_path: Path) -> None:
    db = new_pg_db(postgres_server)
    wrong = "wrong-" + secrets.token_hex(8)
    dumper = make_dumper(db.spec(password=SecretStr(wrong)), tmp_path)
    with pytest.raises(DumpFailed) as failed:
        dumper.dump(tmp_path / "x.pgdump.zst")
    message = str(failed.value)
    assert "password authentication failed" in message and wrong not in message
    assert_clean_dir(tmp_path, set())


def test_interrupted_postgresql_dump_leaves_no_file(big_pg: PgDb, tmp_path: Path) -> None:
    dumper = make_dumper(big_pg.spec(), tmp_path)
    chunks: list[int] = []

    def interrupt(count: int) -> None:
        chunks.append(count)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dumper.dump(tmp_path / "x.pgdump.zst", interrupt)
    assert chunks == [1 << 20]
    assert_clean_dir(tmp_path, set())
    assert not pids_named("pg_dump", big_pg.name)  # the tool was stopped and reaped


def test_killed_pg_dump_leaves_no_file(big_pg: PgDb, tmp_path: Path) -> None:
    dumper = make_dumper(big_pg.spec(), tmp_path)
    killed: list[int] = []

    def kill_the_tool(_count: int) -> None:
        if not killed:
            killed.extend(pids_named("pg_dump", big_pg.name))
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    with pytest.raises(DumpFailed, match="killed by signal 9"):
        dumper.dump(tmp_path / "x.pgdump.zst", kill_the_tool)
    assert len(killed) == 1
    assert_clean_dir(tmp_path, set())


def test_postgresql_password_never_on_a_command_line(big_pg: PgDb, tmp_path: Path) -> None:
    dumper = make_dumper(big_pg.spec(), tmp_path)
    started = time.monotonic()
    with CmdlineWatch(big_pg.password) as watch:
        result = dumper.dump(tmp_path / "big.pgdump.zst")
        dumper.table_counts()
    assert time.monotonic() - started > 0.5, "the dump was too quick for polling to mean much"
    assert {"pg_dump", "psql"} <= watch.seen and watch.polls > 5
    assert watch.leaks == []
    assert result.tables == {"public.big": 1_500_000}


# --------------------------------------------------------------------------- dump_via over SSH


def via_host(cluster: SshdCluster, tmp_path: Path, database: dict[str, object]) -> tuple[DatabaseSpec, Host]:
    """The inventory way: a `dump_via: h1` database, loaded and resolved like the CLI does."""
    project = Project(tmp_path / "proj")
    project.write_env("test", ssh_inventory(cluster, database={**database, "dump_via": "h1"}))
    env = load_environment(project.inventory, "test")
    spec = env.inventory.database
    assert spec is not None and spec.dump_via == "h1"
    return spec, build_hosts(env, [spec.dump_via])[0]


def pg_via(db: PgDb, cluster: SshdCluster, tmp_path: Path) -> tuple[DatabaseSpec, Host]:
    fields = {"engine": "postgresql", "host": "127.0.0.1", "port": db.server.port, "name": db.name}
    return via_host(cluster, tmp_path, {**fields, "user": db.name, "password": db.password})


def test_postgresql_dump_via_ssh_host(postgres_server: PostgresServer, sshd_hosts: SshdCluster, tmp_path: Path) -> None:
    db = new_pg_db(postgres_server)
    db.sql(PG_SEED)
    before = pg_contents(db)
    spec, host = pg_via(db, sshd_hosts, tmp_path)
    dumper = make_dumper(spec, tmp_path, host)
    out = tmp_path / "out"
    out.mkdir()
    with CmdlineWatch(db.password) as watch:
        result = dumper.dump(out / "via.pgdump.zst")
    assert "ssh" in watch.seen and watch.leaks == []
    assert result.tables == {"public.customers": 3, "public.orders": 500}
    assert_good_dump(dumper, result.path, result.size, result.sha256)
    assert_clean_dir(out, {"via.pgdump.zst"})
    assert list(sshd_hosts.hosts[0].srv.iterdir()) == []  # nothing staged on the DB host
    db.sql("DROP TABLE orders CASCADE; DELETE FROM customers")
    with CmdlineWatch(db.password) as watch:
        dumper.restore(result.path)  # also through h1
    assert watch.leaks == []
    assert pg_contents(db) == before


def test_postgresql_dump_via_never_shows_the_password(big_pg: PgDb, sshd_hosts: SshdCluster, tmp_path: Path) -> None:
    spec, host = pg_via(big_pg, sshd_hosts, tmp_path)
    dumper = make_dumper(spec, tmp_path, host)
    with CmdlineWatch(big_pg.password) as watch:
        result = dumper.dump(tmp_path / "big.pgdump.zst")
    # The remote pg_dump runs on this machine too (as release-test, under the host's sshd).
    assert {"ssh", "pg_dump"} <= watch.seen and watch.leaks == []
    assert result.tables == {"public.big": 1_500_000}


def test_killed_remote_pg_dump_leaves_no_file(big_pg: PgDb, sshd_hosts: SshdCluster, tmp_path: Path) -> None:
    spec, host = pg_via(big_pg, sshd_hosts, tmp_path)
    dumper = make_dumper(spec, tmp_path, host)
    out = tmp_path / "out"
    out.mkdir()
    killed: list[int] = []

    def kill_remote_tool(_count: int) -> None:
        if not killed:
            killed.extend(pids_named("pg_dump", big_pg.name))
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    with pytest.raises(DumpFailed, match=r"pg_dump of .* on h1 failed \(exit 255: .*remote tool was killed"):
        dumper.dump(out / "x.pgdump.zst", kill_remote_tool)
    assert len(killed) == 1
    assert_clean_dir(out, set())


def test_unreachable_dump_via_host_fails_clearly(
    postgres_server: PostgresServer, sshd_hosts: SshdCluster, tmp_path: Path
) -> None:
    db = new_pg_db(postgres_server)
    spec, host = pg_via(db, sshd_hosts, tmp_path)
    sshd_hosts.hosts[0].stop()  # the fixture starts it again for the next test
    with pytest.raises(DumpFailed) as failed:
        make_dumper(spec, tmp_path, host).dump(tmp_path / "x.pgdump.zst")
    message = str(failed.value)
    assert "on h1 failed (exit 255: ssh failed)" in message and "Connection refused" in message
    assert db.password not in message
    assert_clean_dir(tmp_path, {"proj"})


# --------------------------------------------------------------------------- MariaDB


@dataclass
class MyDb:
    """A database and a user with all privileges on it only."""

    server: MariaDBServer
    name: str
    password: str

    def spec(self, **extra: object) -> DatabaseSpec:
        data = {"engine": "mysql", "host": self.server.host, "port": self.server.port, "name": self.name}
        data |= {"user": self.name, "password": SecretStr(self.password), **extra}
        return DatabaseSpec.model_validate(data)

    def sql(self, sql: str) -> str:
        """Run SQL as the user (triggers and routines get it as DEFINER, as an application's would)."""
        argv = [
            "mariadb",
            "--no-defaults",
            "--default-character-set=utf8mb4",
            "-N",
            "-B",
            "-h",
            self.server.host,
            "-P",
            str(self.server.port),
        ]
        argv += ["-u", self.name, self.name, "-e", sql]
        env = dict(os.environ, MYSQL_PWD=self.password)
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout


def new_my_db(server: MariaDBServer) -> MyDb:
    name = f"app_{secrets.token_hex(4)}"
    password = awkward_password("my")
    literal = "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"
    server.create_database(name)
    server.sql(f"CREATE USER '{name}'@'%' IDENTIFIED BY {literal}; GRANT ALL ON `{name}`.* TO '{name}'@'%'")
    return MyDb(server, name, password)


MY_SEED = """
CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, note TEXT)
    DEFAULT CHARSET = utf8mb4;
CREATE TABLE orders (
    id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT, amount DECIMAL(10, 2), data BLOB,
    FOREIGN KEY (customer_id) REFERENCES customers (id)
);
INSERT INTO customers (name, note) VALUES ('张三', '中文备注'), ('O''Brien', 'tab\\there'), ('emoji', '🎉');
INSERT INTO orders (customer_id, amount, data) SELECT 1 + seq % 3, seq * 1.5, UNHEX(MD5(seq)) FROM seq_1_to_500;
CREATE VIEW order_totals AS SELECT customer_id, SUM(amount) AS total FROM orders GROUP BY customer_id;
CREATE TRIGGER default_note BEFORE INSERT ON customers FOR EACH ROW SET NEW.note = COALESCE(NEW.note, 'auto');
CREATE PROCEDURE order_count() SELECT COUNT(*) FROM orders;
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM orders WHERE id < 0;
"""


def my_contents(db: MyDb) -> str:
    return db.sql(
        "SELECT * FROM customers ORDER BY id; SELECT id, customer_id, amount, HEX(data) FROM orders ORDER BY id; "
        "SELECT * FROM order_totals ORDER BY 1; "
        "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE(); "
        "SELECT routine_name FROM information_schema.routines WHERE routine_schema = DATABASE(); "
        "SELECT event_name FROM information_schema.events WHERE event_schema = DATABASE(); "
        "SELECT auto_increment FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name"
    )


@pytest.mark.parametrize("password_via", ["env", "file"])
def test_mariadb_round_trip(mariadb_server: MariaDBServer, tmp_path: Path, password_via: str) -> None:
    db = new_my_db(mariadb_server)
    db.sql(MY_SEED)
    before = my_contents(db)
    assert "张三" in before and "🎉" in before and "order_count" in before and "nightly" in before
    dumper = make_dumper(db.spec(), tmp_path)
    assert isinstance(dumper, MysqlDumper)
    dumper.password_via = password_via  # type: ignore[assignment]
    assert "MariaDB" in dumper.server_version()
    target = tmp_path / f"prod{dumper.extension()}"
    result = dumper.dump(target)
    assert result.engine == "mysql" and result.format == "sql+zstd"
    assert result.tables == {"customers": 3, "orders": 500}
    assert_good_dump(dumper, target, result.size, result.sha256)
    assert_clean_dir(tmp_path, {target.name})
    sql = zstandard.ZstdDecompressor().stream_reader(target.open("rb")).read()
    assert sql.startswith(SANDBOX)  # hence: restored with the MariaDB client
    assert db.password.encode() not in sql

    db.sql(
        "DROP TABLE orders; UPDATE customers SET name = 'changed'; "
        "DROP TRIGGER default_note; DROP PROCEDURE order_count"
    )
    assert db.sql("SELECT DISTINCT name FROM customers") == "changed\n"
    dumper.restore(target)
    assert my_contents(db) == before


MY_CATALOG = (
    "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1; "
    "SELECT routine_name FROM information_schema.routines WHERE routine_schema = DATABASE() ORDER BY 1; "
    "SELECT event_name FROM information_schema.events WHERE event_schema = DATABASE() ORDER BY 1"
)


def test_a_mariadb_restore_brings_back_the_schema_as_dumped(mariadb_server: MariaDBServer, tmp_path: Path) -> None:
    db = new_my_db(mariadb_server)
    db.sql(MY_SEED)
    contents, catalog = my_contents(db), db.sql(MY_CATALOG)
    dumper = make_dumper(db.spec(), tmp_path)
    dump = dumper.dump(tmp_path / "before.sql.zst").path
    db.sql(
        "ALTER TABLE customers RENAME TO clients; CREATE TABLE `odd ``name``` (id INT REFERENCES orders (id)); "
        "CREATE VIEW added_view AS SELECT * FROM orders; CREATE SEQUENCE added_seq; "
        "CREATE FUNCTION added_fn() RETURNS INT RETURN 1; "
        "CREATE EVENT added_event ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM orders WHERE id < 0"
    )
    assert db.sql(MY_CATALOG) != catalog
    dumper.restore(dump)
    assert db.sql(MY_CATALOG) == catalog
    assert my_contents(db) == contents


def test_a_truncated_mariadb_dump_is_refused_before_anything_changes(
    mariadb_server: MariaDBServer, tmp_path: Path
) -> None:
    db = new_my_db(mariadb_server)
    db.sql(MY_SEED)
    dumper = make_dumper(db.spec(), tmp_path)
    good = dumper.dump(tmp_path / "good.sql.zst").path
    db.sql("UPDATE customers SET name = 'after the dump'")
    after = my_contents(db)
    data = good.read_bytes()
    cut = tmp_path / "cut.sql.zst"
    cut.write_bytes(data[: len(data) * 2 // 3])  # a copy that stopped short: the SQL would run up to the cut
    with pytest.raises(DumpFailed, match="truncated"):
        dumper.restore(cut)
    assert my_contents(db) == after


@pytest.fixture(scope="module")
def big_my(mariadb_server: MariaDBServer) -> MyDb:
    """A database whose dump takes about a second (for kills and /proc polling)."""
    db = new_my_db(mariadb_server)
    db.sql("CREATE TABLE big (id INT PRIMARY KEY, a CHAR(32), b TEXT)")
    db.sql("INSERT INTO big SELECT seq, MD5(seq), REPEAT(MD5(seq % 97), 4) FROM seq_1_to_300000")
    return db


@pytest.mark.parametrize("password_via", ["env", "file"])
def test_mariadb_password_never_on_a_command_line(big_my: MyDb, tmp_path: Path, password_via: str) -> None:
    dumper = make_dumper(big_my.spec(), tmp_path)
    assert isinstance(dumper, MysqlDumper)
    dumper.password_via = password_via  # type: ignore[assignment]
    with CmdlineWatch(big_my.password) as watch:
        result = dumper.dump(tmp_path / "big.sql.zst")
    assert "mariadb-dump" in watch.seen and watch.leaks == []
    assert result.tables == {"big": 300_000}
    assert files_holding(big_my.password, Path("/tmp"), tmp_path) == []


def files_holding(password: str, *roots: Path) -> list[Path]:
    """Small regular files under `roots` holding `password` in any quoting (an option file is a few bytes)."""
    secret = password.split("-")[1]  # the random part of `awkward_password`: no quoting changes it
    found = []
    for root in roots:
        for directory, _dirs, names in os.walk(root):
            for name in names:
                path = Path(directory, name)
                try:
                    info = path.lstat()
                    if stat.S_ISREG(info.st_mode) and info.st_size <= 65536 and secret.encode() in path.read_bytes():
                        found.append(path)
                except OSError:
                    continue  # gone meanwhile
    return found


DUMP_SCRIPT = """
import json, os, sys
from pathlib import Path
from release.db import make_dumper
from release.inventory_models import DatabaseSpec
spec = DatabaseSpec.model_validate({**json.loads(os.environ["SPEC"]), "password": os.environ["SPEC_PASSWORD"]})
dumper = make_dumper(spec, Path(sys.argv[1]))
dumper.password_via = sys.argv[2]
dumper.dump(Path(sys.argv[1]) / "killed.sql.zst")
"""


def wait_for(what: str, found: Callable[[], list[int]], timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pids := found():
            return pids
        time.sleep(0.005)
    raise AssertionError(f"{what} never showed up")


def kill_and_reap(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() and _state(pid) != "Z" for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


@pytest.mark.parametrize("password_via", ["env", "file"])
def test_a_killed_release_leaves_no_password_file(big_my: MyDb, tmp_path: Path, password_via: str) -> None:
    """kill -9 of `release` in the middle of a dump: no cleanup runs, so nothing may need one."""
    project = tmp_path / "proj"
    project.mkdir()
    spec = big_my.spec().model_dump(mode="json", exclude={"password"})
    env = dict(os.environ, SPEC=json.dumps(spec), SPEC_PASSWORD=big_my.password)
    release = subprocess.Popen([sys.executable, "-c", DUMP_SCRIPT, str(project), password_via], env=env)
    try:
        tools = wait_for("mariadb-dump", lambda: pids_named("mariadb-dump", big_my.name))
    finally:
        kill_and_reap([release.pid])
        release.wait()
    kill_and_reap(tools)  # orphaned, it would die writing to the closed pipe anyway
    assert release.returncode == -signal.SIGKILL
    assert files_holding(big_my.password, Path("/tmp"), project) == []


def processes_of(user: str, needle: str) -> list[int]:
    """Live processes of `user` whose argv mentions `needle` (the remote shell and its tool)."""
    uid = subprocess.run(["id", "-u", user], capture_output=True, text=True, check=True).stdout.strip()
    found = []
    for pid, cmd in _cmdlines():
        try:
            owner = next(
                line.split()[1]
                for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("Uid:")
            )
        except (OSError, StopIteration):
            continue
        if owner == uid and needle.encode() in cmd:
            found.append(pid)
    return found


def test_a_killed_remote_shell_leaves_no_password_file(
    big_my: MyDb, sshd_hosts: SshdCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 of the dump_via side (shell and tool at once): its traps never run, so nothing may need them."""
    monkeypatch.setenv("RELEASE_TEST_MY_PASSWORD", big_my.password)  # so the inventory file does not hold it
    fields = {"engine": "mysql", "host": "127.0.0.1", "port": big_my.server.port, "name": big_my.name}
    password = "${RELEASE_TEST_MY_PASSWORD}"
    spec, host = via_host(sshd_hosts, tmp_path, {**fields, "user": big_my.name, "password": password})
    dumper = make_dumper(spec, tmp_path, host)
    assert isinstance(dumper, MysqlDumper)
    dumper.password_via = "file"
    remote_tmp = _files_of("release-test")
    killed: list[int] = []

    def kill_the_remote_side(_count: int) -> None:
        if not killed:
            killed.extend(processes_of("release-test", big_my.name))
            kill_and_reap(killed)

    with pytest.raises(DumpFailed):
        dumper.dump(tmp_path / "x.sql.zst", kill_the_remote_side)
    assert len(killed) >= 2  # the shell and mariadb-dump
    assert _files_of("release-test") == remote_tmp
    assert files_holding(big_my.password, Path("/tmp"), tmp_path) == []


def test_mariadb_dump_via_ssh_host(mariadb_server: MariaDBServer, sshd_hosts: SshdCluster, tmp_path: Path) -> None:
    db = new_my_db(mariadb_server)
    db.sql(MY_SEED)
    before = my_contents(db)
    fields = {"engine": "mysql", "host": "127.0.0.1", "port": mariadb_server.port, "name": db.name}
    spec, host = via_host(sshd_hosts, tmp_path, {**fields, "user": db.name, "password": db.password})
    for password_via in ("env", "file"):
        dumper = make_dumper(spec, tmp_path, host)
        assert isinstance(dumper, MysqlDumper)
        dumper.password_via = password_via  # type: ignore[assignment]
        remote_tmp = _files_of("release-test")
        with CmdlineWatch(db.password) as watch:
            result = dumper.dump(tmp_path / f"via-{password_via}.sql.zst")
        assert watch.leaks == []
        assert result.tables == {"customers": 3, "orders": 500}
        assert _files_of("release-test") == remote_tmp  # the remote option file was removed
        db.sql("DROP TABLE orders; DELETE FROM customers")
        dumper.restore(result.path)
        assert my_contents(db) == before


def _files_of(user: str) -> set[str]:
    """Files in /tmp owned by `user` (where the remote shell's mktemp puts the option file)."""
    uid = int(subprocess.run(["id", "-u", user], capture_output=True, text=True, check=True).stdout)
    return {p.name for p in Path("/tmp").iterdir() if p.lstat().st_uid == uid}


def test_interrupted_mariadb_dump_leaves_no_file(mariadb_server: MariaDBServer, tmp_path: Path) -> None:
    db = new_my_db(mariadb_server)
    db.sql("CREATE TABLE big (id INT PRIMARY KEY, b TEXT)")
    db.sql("INSERT INTO big SELECT seq, REPEAT(MD5(seq), 8) FROM seq_1_to_100000")
    dumper = make_dumper(db.spec(), tmp_path)

    def interrupt(_count: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dumper.dump(tmp_path / "x.sql.zst", interrupt)
    assert_clean_dir(tmp_path, set())
    assert not pids_named("mariadb-dump", db.name)


# --------------------------------------------------------------------------- SQLite


def sqlite_spec(path: Path | str) -> DatabaseSpec:
    return DatabaseSpec(engine="sqlite", name=str(path))


def sqlite_contents(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT * FROM customers ORDER BY id").fetchall()
        rows += db.execute("SELECT * FROM orders ORDER BY id").fetchall()
        rows += db.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall()
    return rows


def seed_sqlite(path: Path, wal: bool = False) -> None:
    with sqlite3.connect(path) as db:
        if wal:
            db.execute("PRAGMA journal_mode=WAL")
        db.executescript(
            """
            CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
            CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INT REFERENCES customers(id), data BLOB);
            CREATE INDEX orders_customer ON orders (customer_id);
            CREATE VIEW totals AS SELECT customer_id, count(*) AS n FROM orders GROUP BY 1;
            INSERT INTO customers (name) VALUES ('张三'), ('emoji 🎉');
            """
        )
        db.executemany(
            "INSERT INTO orders (customer_id, data) VALUES (?, ?)", [(1 + i % 2, os.urandom(64)) for i in range(300)]
        )
    db.close()


def test_sqlite_round_trip_with_relative_path(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "data").mkdir(parents=True)
    seed_sqlite(project / "data" / "app.db")
    before = sqlite_contents(project / "data" / "app.db")
    dumper = make_dumper(sqlite_spec("data/app.db"), project)
    out = tmp_path / "out"
    out.mkdir()
    result = dumper.dump(out / f"app{dumper.extension()}")
    assert result.engine == "sqlite" and result.format == "sqlite+zstd"
    assert result.tables == {"customers": 2, "orders": 300}
    assert_good_dump(dumper, result.path, result.size, result.sha256)
    assert_clean_dir(out, {"app.sqlite.zst"})

    reader = sqlite3.connect(project / "data" / "app.db")  # the application keeps its connection open
    with sqlite3.connect(project / "data" / "app.db") as db:
        db.execute("DROP TABLE orders")
        db.execute("UPDATE customers SET name = 'changed'")
    db.close()
    dumper.restore(result.path)
    assert sqlite_contents(project / "data" / "app.db") == before
    assert reader.execute("SELECT count(*) FROM orders").fetchone() == (300,)  # sees the restored database
    reader.close()
    assert_clean_dir(project / "data", {"app.db"})
    # Restoring where no database exists yet renames the checked copy into place.
    fresh = make_dumper(sqlite_spec(tmp_path / "fresh.db"), project)
    fresh.restore(result.path)
    assert sqlite_contents(tmp_path / "fresh.db") == before


def test_sqlite_refuses_a_missing_database_and_a_damaged_dump(tmp_path: Path) -> None:
    dumper = make_dumper(sqlite_spec(tmp_path / "missing.db"), tmp_path)
    with pytest.raises(DumpFailed, match="not found"):
        dumper.dump(tmp_path / "x.sqlite.zst")
    assert not (tmp_path / "missing.db").exists()  # not created as an empty database
    assert_clean_dir(tmp_path, set())
    seed_sqlite(tmp_path / "app.db")
    before = sqlite_contents(tmp_path / "app.db")
    garbage = tmp_path / "garbage.sqlite.zst"
    garbage.write_bytes(zstandard.ZstdCompressor().compress(b"not a database" * 1000))
    live = make_dumper(sqlite_spec(tmp_path / "app.db"), tmp_path)
    with pytest.raises(DumpFailed, match="does not hold a SQLite database"):
        live.restore(garbage)
    assert sqlite_contents(tmp_path / "app.db") == before
    assert_clean_dir(tmp_path, {"app.db", "garbage.sqlite.zst"})


@pytest.mark.parametrize("wal", [False, True], ids=["rollback-journal", "wal"])
def test_sqlite_dump_while_the_app_writes_is_consistent(tmp_path: Path, wal: bool) -> None:
    path = tmp_path / "app.db"
    seed_sqlite(path, wal=wal)
    with sqlite3.connect(path) as db:  # ~20 MB, so that each copy takes a while
        db.execute("CREATE TABLE filler (data BLOB)")
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
            "INSERT INTO filler SELECT randomblob(4000) FROM n"
        )
    db.close()
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        db = sqlite3.connect(path, timeout=30)
        while not stop.is_set():
            with db:  # one transaction: an order and its audit row, always together
                cur = db.execute("INSERT INTO orders (customer_id, data) VALUES (1, randomblob(2000))")
                db.execute("INSERT INTO customers (id, name) VALUES (?, 'audit')", (int(cur.lastrowid or 0) + 1000,))
            written.append(1)
            time.sleep(0.0005)  # a busy app, not a tight loop that starves every reader in rollback mode
        db.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.2)
        dumper = make_dumper(sqlite_spec(path), tmp_path)
        results = [dumper.dump(tmp_path / f"during-{i}.sqlite.zst") for i in range(3)]
    finally:
        stop.set()
        thread.join()
    assert len(written) > 50, "the writer did not really write during the dumps"
    assert len({r.tables["orders"] for r in results}) == 3, "no writes between the dumps"
    for i, result in enumerate(results):
        restored = tmp_path / f"restored-{i}.db"
        make_dumper(sqlite_spec(restored), tmp_path).restore(result.path)
        with sqlite3.connect(restored) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            orders = db.execute("SELECT count(*) FROM orders").fetchone()[0]
            audits = db.execute("SELECT count(*) FROM customers WHERE name = 'audit'").fetchone()[0]
        db.close()
        assert orders - 300 == audits  # never half a transaction
        assert result.tables == {"customers": 2 + audits, "orders": orders, "filler": 5_000}  # same snapshot
