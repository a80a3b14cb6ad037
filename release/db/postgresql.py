"""PostgreSQL: `pg_dump -Fc -Z0` compressed with zstd here, restored as it was, in one transaction.

A restore must bring back the database as dumped, not merge into it: `pg_restore --clean` drops only
what the dump holds, so a table a migration added would survive a rollback, and a renamed one would
make it fail. So pg_restore writes its script (`-f -`) into psql behind a cleanup that first drops
what the login owns outside the system schemas (its schemas but `public`, relations, routines,
types; extension members excepted), all in the one transaction the script opens: a failure
anywhere, or a killed run, leaves the database as it was. Other kinds of objects (operators, text
search configurations, extensions themselves) are left to `--clean`.

pg_dump's own gzip runs on pg_dump's single core; dumping uncompressed and compressing with zstd
in this process (on the other cores) is faster and smaller. The client must be at least as new as
the server, so the tools are picked per server: the same major version when installed, else the
newest newer one, else a clear error before anything starts.

`verify_restore` restores into a scratch database `release_verify_<unix time>_<hex>` on the same
server, made by the same login (which needs the CREATEDB attribute), and drops it afterwards whatever
happened; what a killed verify left behind, the next one finds among the login's own databases.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from release.db.base import (
    SCRATCH_LIKE,
    CountsTables,
    DumpFailed,
    DumpResult,
    ScratchUnavailable,
    counted_tables,
    scratch_database,
)
from release.db.runner import Runner, Tool
from release.db.stream import AtomicFile, copy_stream, open_dump, read_chunks
from release.inventory_models import DatabaseSpec

MAX_COUNTED_PAGES = 262_144  # 2 GiB of 8 KiB pages: beyond that count(*) is no longer cheap
Version = tuple[int, ...]

# Lists candidate bin dirs with their pg_dump version: Debian/Ubuntu, PGDG RPMs, then PATH.
_DISCOVER = r"""
for d in /usr/lib/postgresql/*/bin /usr/pgsql-*/bin "$(dirname -- "$(command -v pg_dump || echo /-)")"; do
  if [ -x "$d/pg_dump" ] && [ -x "$d/pg_restore" ] && [ -x "$d/psql" ]; then
    printf '%s\t%s\n' "$d" "$("$d/pg_dump" --version 2>/dev/null | head -n 1)"
  fi
done
"""


@dataclass(frozen=True)
class Client:
    """One installed set of client tools (pg_dump, pg_restore, psql) and its version."""

    bindir: str
    version: Version

    def tool(self, name: str) -> str:
        """Path of one of the tools."""
        return f"{self.bindir}/{name}"


def parse_client_version(text: str) -> Version | None:
    """`pg_dump (PostgreSQL) 15.18 (Debian …)` -> (15,); 9.x keeps its minor: (9, 6)."""
    match = re.search(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?", text)
    if not match:
        return None
    major = int(match.group(1))
    return (major,) if major >= 10 else (major, int(match.group(2) or 0))


def server_major(version_num: int) -> Version:
    """`server_version_num` 150018 -> (15,); 90624 -> (9, 6)."""
    return (version_num // 10000,) if version_num >= 100000 else (version_num // 10000, version_num // 100 % 100)


def show(version: Version) -> str:
    """(15,) -> '15'; (9, 6) -> '9.6'."""
    return ".".join(str(part) for part in version)


def parse_discovery(output: str) -> list[Client]:
    """The discovery script's lines, de-duplicated, in the order found."""
    clients: list[Client] = []
    for line in output.splitlines():
        bindir, _, text = line.partition("\t")
        version = parse_client_version(text)
        if version is not None and bindir not in {c.bindir for c in clients}:
            clients.append(Client(bindir, version))
    return clients


def choose_client(server: Version, clients: list[Client], where: str = "locally") -> Client:
    """The client of the server's major version, else the newest newer one; never an older one."""
    same = [c for c in clients if c.version == server]
    if same:
        return same[0]
    newer = [c for c in clients if c.version > server]
    if newer:
        return max(newer, key=lambda c: c.version)
    found = ", ".join(f"{c.bindir} ({show(c.version)})" for c in clients) or "none"
    raise DumpFailed(
        f"no PostgreSQL client tools {where} can handle server version {show(server)}: pg_dump must be at least "
        f"as new as the server (found: {found}); install postgresql-client-{show(server)} {where}"
    )


def conninfo_value(value: str) -> str:
    """Quote a value for a libpq connection string (so a name with '=' stays a name)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class PostgresDumper(CountsTables):
    """Dumps and restores one PostgreSQL database, locally or via the dump_via host."""

    engine = "postgresql"
    format = "pg-custom+zstd"

    def __init__(self, spec: DatabaseSpec, runner: Runner) -> None:
        self.spec = spec
        self.runner = runner
        self._version: tuple[int, str] | None = None
        self._clients: list[Client] | None = None

    def extension(self) -> str:
        """Custom-format archive inside a zstd frame."""
        return ".pgdump.zst"

    # ---------------------------------------------------------------- tools and queries

    def _tool(self, path: str, *args: str, database: str | None = None) -> Tool:
        """`path` with the connection options; it connects to `database` (default: the spec's)."""
        spec = self.spec
        argv = [path, "-w"]  # never prompt: no terminal is there to answer
        argv += ["-h", spec.host] if spec.host else []
        argv += ["-p", str(spec.port)] if spec.port else []
        argv += ["-U", spec.user] if spec.user else []
        argv += [*args, f"--dbname=dbname={conninfo_value(database or spec.name)}"]
        env = {"PGCONNECT_TIMEOUT": "15", "PGAPPNAME": "release"}
        secret = {"PGPASSWORD": spec.password.get_secret_value()} if spec.password else {}
        return Tool(argv, env, secret)

    def clients(self) -> list[Client]:
        """The client tool sets installed where the tools run."""
        if self._clients is None:
            self._clients = parse_discovery(self.runner.shell(_DISCOVER))
            if not self._clients:
                raise DumpFailed(
                    f"pg_dump, pg_restore and psql not found {self.runner.where}: install postgresql-client"
                )
        return self._clients

    def _query(self, sql: str, database: str | None = None) -> list[list[str]]:
        """Rows of a query; NUL ends a row and 0x1f separates fields, so any table name survives."""
        newest = max(self.clients(), key=lambda c: c.version)
        args = ("-X", "-q", "-A", "-t", "-F", "\x1f", "-0", "-v", "ON_ERROR_STOP=1", "-c", sql)
        output = self.runner.run(self._tool(newest.tool("psql"), *args, database=database))
        return [row.split("\x1f") for row in output.split("\0")[:-1]]

    def _server(self) -> tuple[int, str]:
        if self._version is None:
            rows = self._query("SELECT current_setting('server_version_num'), current_setting('server_version')")
            try:
                self._version = (int(rows[0][0]), rows[0][1].split()[0])
            except (IndexError, ValueError):
                raise DumpFailed(f"unexpected answer to the server version query: {rows!r}") from None
        return self._version

    def server_version(self) -> str:
        """E.g. '15.18'."""
        return self._server()[1]

    def client(self) -> Client:
        """The tool set to use with this server (checked before anything starts)."""
        return choose_client(server_major(self._server()[0]), self.clients(), self.runner.where)

    def client_tools(self) -> str:
        """E.g. `/usr/lib/postgresql/15/bin (15) for server 15.18`."""
        client = self.client()
        return f"{client.bindir} ({show(client.version)}) {self.runner.where}, for server {self.server_version()}"

    def _counts(self, database: str | None, cheap_only: bool) -> dict[str, int]:
        """Row counts per `schema.table` of `database` (default: the spec's); of every table unless `cheap_only`."""
        rows = self._query(
            "SELECT n.nspname, c.relname, c.relpages FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2",
            database,
        )
        tables = [
            (_literal(f"{schema}.{table}"), f"{_ident(schema)}.{_ident(table)}", int(pages))
            for schema, table, pages in rows
        ]
        return counted_tables(tables, cheap_only, MAX_COUNTED_PAGES, lambda sql: self._query(sql, database))

    # ---------------------------------------------------------------- dump and restore

    def dump(self, target: Path, on_bytes: Callable[[int], None] | None = None) -> DumpResult:
        """`pg_dump -Fc -Z0` streamed through zstd into `target`."""
        client = self.client()
        try:
            tables = self.table_counts()
        except DumpFailed as exc:
            logger.warning("row counts of {db} skipped: {exc}", db=self.spec.name, exc=exc)
            tables = {}
        tool = self._tool(client.tool("pg_dump"), "-Fc", "-Z0")
        with AtomicFile(target) as out, self.runner.start(tool) as process:
            copy_stream(process.stdout, out, compress=True, on_bytes=on_bytes)
            if process.wait() != 0:
                raise process.failed(f"pg_dump of {self.spec.name} {self.runner.where}")
            out.commit()
        return DumpResult(target, out.size, out.sha256, self.engine, self.format, self.server_version(), tables)

    def restore(self, source: Path) -> None:
        """Replace the database with `source`: the login's objects dropped, then the dump, one transaction."""
        client = self.client()
        psql = self._tool(client.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-")
        cleanup = clean_sql(self._server()[0])
        argv = ["sh", "-c", _RESTORE_PIPE, "sh", cleanup, client.tool("pg_restore"), *psql.argv]
        tool = Tool(argv, psql.env, psql.secret_env)
        self._stream(source, tool, self.spec.name)

    def _pg_restore(self, source: Path, database: str) -> None:
        """Stream `source` into pg_restore connected to the (empty) `database`, in one transaction."""
        tool = self._tool(self.client().tool("pg_restore"), "--single-transaction", database=database)
        self._stream(source, tool, f"the scratch database {database}")

    def _stream(self, source: Path, tool: Tool, into: str) -> None:
        """Feed the decompressed `source` to `tool`'s stdin; DumpFailed with its stderr if it fails."""
        with open_dump(source) as stream, self.runner.start(tool, stdin=True, stdout=False) as process:
            try:
                for chunk in read_chunks(stream):
                    process.stdin.write(chunk)
                process.stdin.close()
            except BrokenPipeError:
                pass  # pg_restore stopped reading: its exit status and stderr say why
            if process.wait() != 0:
                raise process.failed(f"pg_restore of {source.name} into {into} {self.runner.where}")

    # ---------------------------------------------------------------- verify

    def verify_restore(self, source: Path) -> dict[str, int]:
        """Restore into a new scratch database, count every table, drop it (also on failure or interrupt).

        The restore is the one `restore` does, minus `--clean` (the scratch database starts empty).
        """
        with scratch_database(self._create_scratch, self.drop_scratch) as scratch:
            self._pg_restore(source, scratch)
            return self._counts(scratch, cheap_only=False)

    def _create_scratch(self, scratch: str) -> None:
        """CREATE DATABASE release_verify_<time>_<hex> from template0 with the live database's encoding and locale."""
        user = self.spec.user or "the database user"
        try:
            self.client()  # the right tools must be there before anything is created
            encoding, collate, ctype = self._query(
                "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database "
                "WHERE datname = current_database()"
            )[0]
            self._query(
                f"CREATE DATABASE {_ident(scratch)} TEMPLATE template0 ENCODING {_literal(encoding)} "
                f"LC_COLLATE {_literal(collate)} LC_CTYPE {_literal(ctype)}"
            )
        except DumpFailed as exc:
            if "permission denied to create database" in str(exc):
                raise ScratchUnavailable(
                    f"{user} may not create databases, and verify restores into a scratch database ({scratch}) "
                    f"on the same server: give it the right with ALTER ROLE {user} CREATEDB"
                ) from None
            raise ScratchUnavailable(f"cannot create the scratch database {scratch}: {exc}") from None
        except (IndexError, ValueError):  # no row, or not three fields
            raise ScratchUnavailable(f"cannot read the encoding of {self.spec.name}: unexpected answer") from None
        logger.debug("created the scratch database {db}", db=scratch)

    def scratch_databases(self) -> list[str]:
        """The login's own `release_verify_*` databases (another login's it could not drop anyway)."""
        like = _literal(SCRATCH_LIKE)  # a quoted constant: S608 does not apply
        owned = f"SELECT datname FROM pg_database WHERE datname LIKE {like} AND pg_get_userbyid(datdba) = current_user"  # noqa: S608
        rows = self._query(owned)
        return [row[0] for row in rows]

    def drop_scratch(self, scratch: str, quietly: bool = False) -> None:
        """DROP DATABASE IF EXISTS, WITH (FORCE) from PostgreSQL 13 (a killed pg_restore's backend may linger).

        `quietly` (when another error is on its way): a failure is logged, not raised.
        """
        try:
            force = " WITH (FORCE)" if self._server()[0] >= 130000 else ""
            self._query(f"DROP DATABASE IF EXISTS {_ident(scratch)}{force}")
        except DumpFailed as exc:
            message = f"the scratch database {scratch} could not be dropped, drop it by hand: {exc}"
            if not quietly:
                raise DumpFailed(message) from None
            logger.error(message)


# sh -c: $1 is the cleanup SQL, $2 pg_restore, the rest psql's argv. psql runs the cleanup (which
# opens the transaction), then pg_restore's script, whose COMMIT is written only once the whole
# archive was read: input cut short or a killed pipe ends psql without it, and nothing changes.
# The exit status is psql's if it failed, else pg_restore's: a POSIX shell has no pipefail, so
# pg_restore's status comes back on descriptor 3.
_RESTORE_PIPE = r"""
cleanup=$1; pg_restore=$2; shift 2
restore_status=$(
  { { printf '%s\n' "$cleanup"; "$pg_restore" --clean --if-exists --single-transaction -f - 3>&-; echo "$?" >&3
    } | "$@" >/dev/null 3>&-; } 3>&1
)
psql_status=$?
[ "$psql_status" -eq 0 ] || exit "$psql_status"
exit "${restore_status:-1}"
"""


def clean_sql(server_version_num: int) -> str:
    """The statements that drop what the login (or a role it belongs to) owns in the database.

    Run inside the restore's transaction, before the dump's own `--clean` drops: schemas but
    `public` go whole (the dump creates again those it holds), then relations, routines and types
    elsewhere. Names are computed before anything is dropped, so an object already gone with its
    schema or table is skipped by IF EXISTS; sequences of serial and identity columns go with their
    table. PostgreSQL 9.6 and 10 have no `prokind`.
    """
    kind = (
        "CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END"
        if server_version_num >= 110000
        else "CASE WHEN p.proisagg THEN 'AGGREGATE' ELSE 'FUNCTION' END"
    )
    return _CLEAN.replace("{routine_kind}", kind)


def _not_member(catalog: str, oid: str) -> str:
    """SQL: the object is not a member of an extension (those go with their extension)."""
    member = f"d.classid = 'pg_catalog.{catalog}'::regclass AND d.objid = {oid} AND d.deptype = 'e'"
    return f"NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE {member})"  # noqa: S608 - constants only


# Constant SQL, no input in it (S608 does not apply); `{routine_kind}` is filled in by clean_sql.
_USER_SCHEMA = "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"
_CLEAN = f"""SET client_min_messages = error;
BEGIN;
DO $release_clean$
DECLARE
  item record;
BEGIN
  FOR item IN
    SELECT 1 AS step, 'SCHEMA' AS kind, format('%I', n.nspname) AS name
      FROM pg_catalog.pg_namespace n
     WHERE n.nspname <> 'public' AND pg_catalog.pg_has_role(n.nspowner, 'MEMBER') AND {_USER_SCHEMA}
       AND {_not_member("pg_namespace", "n.oid")}
    UNION ALL
    SELECT 2, CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                             WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
           format('%I.%I', n.nspname, c.relname)
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND pg_catalog.pg_has_role(c.relowner, 'MEMBER')
       AND {_USER_SCHEMA} AND {_not_member("pg_class", "c.oid")}
       AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid
                  AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')))
    UNION ALL
    SELECT 3, {{routine_kind}},
           format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid))
      FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     WHERE pg_catalog.pg_has_role(p.proowner, 'MEMBER') AND {_USER_SCHEMA} AND {_not_member("pg_proc", "p.oid")}
    UNION ALL
    SELECT 4, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, format('%I.%I', n.nspname, t.typname)
      FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
     WHERE pg_catalog.pg_has_role(t.typowner, 'MEMBER') AND {_USER_SCHEMA} AND {_not_member("pg_type", "t.oid")}
       AND (t.typtype IN ('d', 'e', 'r') OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c
            WHERE c.oid = t.typrelid AND c.relkind = 'c')))
    ORDER BY 1
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', item.kind, item.name);
  END LOOP;
END
$release_clean$;
"""  # noqa: S608


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
