"""MySQL and MariaDB: `mariadb-dump`/`mysqldump` as SQL through zstd, restored with the matching client.

Since 10.5.25/10.6.18/10.11.8, mariadb-dump starts its output with a `/*M!999999\\- enable the sandbox
mode */` line that MySQL's client rejects, so a dump that starts with it is restored with a MariaDB
client, whatever the server. The password reaches MariaDB tools in MYSQL_PWD and MySQL's tools in an
option file read from a pipe (MySQL deprecated MYSQL_PWD): never on a command line, never in a file
that a killed run could leave behind (see release.db.runner).

`verify_restore` feeds the dump to a client whose default database is a scratch schema
`release_verify_<unix time>_<hex>` (what a killed verify left behind, the next one drops). That is
safe only because a dump of one database (no --databases) holds no `USE` and no CREATE/DROP
DATABASE: every unqualified statement lands in the client's default database. A dump that would
switch databases anyway is refused before that line reaches the client.
The login needs the rights to create and drop such schemas, e.g. ``GRANT ALL ON `release\\_verify\\_%`.*``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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

SANDBOX = b"/*M!999999\\- enable the sandbox mode */"
COMPLETE = b"-- Dump completed"
MAX_COUNTED_BYTES = 2 << 30
# Lines that would leave the client's default database: USE / \u, connect / \r, source / \., and
# CREATE/DROP DATABASE. None is in a single-database dump (USE is not even allowed in a routine).
SWITCHES = re.compile(
    rb"^[ \t]*(?:use[ \t`;]|\\[ur.]|connect\b|source[ \t]|(?:create|drop)[ \t]+(?:database|schema)\b)",
    re.IGNORECASE | re.MULTILINE,
)
Family = Literal["mariadb", "mysql"]
PasswordVia = Literal["env", "file"]

_DISCOVER = r"""
for t in mariadb-dump mysqldump mariadb mysql; do
  p=$(command -v "$t") && printf '%s\t%s\t%s\n' "$t" "$p" "$("$p" --version 2>/dev/null | head -n 1)"
done
true
"""


@dataclass(frozen=True)
class Program:
    """One installed client program and who made it."""

    name: str  # mariadb-dump, mysqldump, mariadb, mysql
    path: str
    family: Family
    major: int

    @property
    def dumps(self) -> bool:
        """True for the dump tools, False for the SQL clients."""
        return self.name in ("mariadb-dump", "mysqldump")


def parse_discovery(output: str) -> list[Program]:
    """`name<TAB>path<TAB>--version line` -> programs ('MariaDB' in the version means its family)."""
    programs = []
    for line in output.splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or not parts[1]:
            continue
        name, path, version = parts
        family: Family = "mariadb" if "mariadb" in version.lower() else "mysql"
        programs.append(Program(name, path, family, _major(version)))
    return programs


def _major(version: str) -> int:
    """The release major: `Distrib 5.7.44` -> 5, `from 11.4.2-MariaDB` -> 11, `Ver 8.0.36` -> 8."""
    for pattern in (r"Distrib (\d+)\.", r"from (\d+)\.", r"Ver (\d+)\."):
        match = re.search(pattern, version)
        if match:
            return int(match.group(1))
    return 0


def option_value(value: str) -> str:
    """Quote a value for a MySQL option file: inside double quotes `#` is no comment; escape `\\` and `"`."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def pick(
    programs: list[Program], dumps: bool, prefer: Family | None, need: Family | None = None, where: str = "locally"
) -> Program:
    """A dump tool (or SQL client) of family `need`, else of family `prefer`, else any."""
    usable = [p for p in programs if p.dumps == dumps and (need is None or p.family == need)]
    usable.sort(key=lambda p: (p.family != prefer, p.name not in ("mariadb-dump", "mariadb")))
    if not usable:
        kind = "mariadb-dump/mysqldump" if dumps else "mariadb/mysql client"
        extra = f" from {need}" if need else ""
        package = f"{need or prefer or 'mariadb'}-client"
        raise DumpFailed(f"no {kind}{extra} found {where}: install the {package} package {where}")
    return usable[0]


class MysqlDumper(CountsTables):
    """Dumps and restores one MySQL or MariaDB database, locally or via the dump_via host."""

    engine = "mysql"
    format = "sql+zstd"

    def __init__(self, spec: DatabaseSpec, runner: Runner, password_via: PasswordVia | None = None) -> None:
        self.spec = spec
        self.runner = runner
        self.password_via = password_via  # None: by the program's family
        self._programs: list[Program] | None = None
        self._version: str | None = None

    def extension(self) -> str:
        """Plain SQL inside a zstd frame."""
        return ".sql.zst"

    def programs(self) -> list[Program]:
        """Client programs installed where the tools run."""
        if self._programs is None:
            self._programs = parse_discovery(self.runner.shell(_DISCOVER))
        return self._programs

    def _tool(self, program: Program, *args: str, database: str | None = None) -> Tool:
        """`program` with the connection options; its default database is `database` (default: the spec's)."""
        spec = self.spec
        argv = [program.path, *args, "--default-character-set=utf8mb4"]
        argv += [f"--host={spec.host}"] if spec.host else []
        argv += [f"--port={spec.port}"] if spec.port else []
        argv += [f"--user={spec.user}"] if spec.user else []
        argv += ["--", database or spec.name]
        if spec.password is None:
            return Tool(argv)
        password = spec.password.get_secret_value()
        via = self.password_via or ("env" if program.family == "mariadb" else "file")
        if via == "env":
            return Tool(argv, secret_env={"MYSQL_PWD": password})
        return Tool(argv, option_file=f"password={option_value(password)}")

    def _query(self, sql: str, database: str | None = None) -> list[list[str]]:
        client = pick(self.programs(), dumps=False, prefer="mariadb", where=self.runner.where)
        args = ("--batch", "--skip-column-names", "--raw", f"--execute={sql}")
        output = self.runner.run(self._tool(client, *args, database=database))
        return [line.split("\t") for line in output.splitlines()]

    def server_version(self) -> str:
        """E.g. '10.11.6-MariaDB-0+deb12u1' or '8.0.36'."""
        if self._version is None:
            rows = self._query("SELECT VERSION()")
            if not rows or not rows[0]:
                raise DumpFailed("the server did not report its version")
            self._version = rows[0][0]
        return self._version

    def family(self) -> Family:
        """Who made the server."""
        return "mariadb" if "mariadb" in self.server_version().lower() else "mysql"

    def client_tools(self) -> str:
        """E.g. `/usr/bin/mariadb-dump (mariadb 10) locally, for server 10.11.6-MariaDB`."""
        tool = pick(self.programs(), dumps=True, prefer=self.family(), where=self.runner.where)
        return f"{tool.path} ({tool.family} {tool.major}) {self.runner.where}, for server {self.server_version()}"

    def _counts(self, database: str | None, cheap_only: bool) -> dict[str, int]:
        """Row counts per table of `database` (default: the spec's); of every table unless `cheap_only`."""
        rows = self._query(
            "SELECT table_name, COALESCE(data_length, 0) FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1",
            database,
        )
        tables = [(_literal(name), _ident(name), int(size)) for name, size in rows]
        return counted_tables(tables, cheap_only, MAX_COUNTED_BYTES, lambda sql: self._query(sql, database))

    def dump(self, target: Path, on_bytes: Callable[[int], None] | None = None) -> DumpResult:
        """One consistent snapshot (InnoDB) with routines, triggers and events, as SQL through zstd."""
        tool = pick(self.programs(), dumps=True, prefer=self.family(), where=self.runner.where)
        try:
            tables = self.table_counts()
        except DumpFailed as exc:
            logger.warning("row counts of {db} skipped: {exc}", db=self.spec.name, exc=exc)
            tables = {}
        args = ["--single-transaction", "--routines", "--triggers", "--events", "--hex-blob", "--no-tablespaces"]
        if tool.family == "mysql" and tool.major >= 8:
            args.append("--column-statistics=0")  # MySQL 8's mysqldump otherwise fails on MariaDB and 5.7
        tail = bytearray()

        def keep_tail(chunk: bytes) -> None:
            tail.extend(chunk[-256:])
            del tail[:-256]

        with AtomicFile(target) as out, self.runner.start(self._tool(tool, *args)) as process:
            copy_stream(process.stdout, out, compress=True, on_bytes=on_bytes, watch=keep_tail)
            if process.wait() != 0:
                raise process.failed(f"{tool.name} of {self.spec.name} {self.runner.where}")
            if COMPLETE not in tail:
                raise DumpFailed(f"{tool.name} of {self.spec.name} ended without '-- Dump completed'", process.stderr())
            out.commit()
        return DumpResult(target, out.size, out.sha256, self.engine, self.format, self.server_version(), tables)

    def restore(self, source: Path) -> None:
        """Replace the database with `source`: what it holds dropped, then the SQL fed to a client of
        the dump tool's family (stops at the first error).

        A dump only drops the tables and routines it holds, so a table a migration added after it
        would survive a rollback: every table, view, sequence, routine and event goes first. DDL
        commits at once here, so this starts only after the whole file was checked (`open_dump`).
        """
        self._feed(source, None, before=self._drop_everything)

    def _drop_everything(self) -> bytes:
        """The statements that drop every table, view, sequence, routine and event of the database."""
        rows = self._query(
            "SELECT table_type, HEX(table_name) FROM information_schema.tables WHERE table_schema = DATABASE() "
            "UNION ALL SELECT routine_type, HEX(routine_name) FROM information_schema.routines "
            "WHERE routine_schema = DATABASE() UNION ALL SELECT 'EVENT', HEX(event_name) "
            "FROM information_schema.events WHERE event_schema = DATABASE()"
        )
        drops = [
            f"DROP {_DROP_KIND.get(kind, 'TABLE')} IF EXISTS {_ident(bytes.fromhex(name).decode())};\n"
            for kind, name in rows
            if kind != "PACKAGE BODY"  # goes with its PACKAGE (MariaDB's Oracle mode)
        ]
        return ("SET FOREIGN_KEY_CHECKS = 0;\n" + "".join(drops) + "SET FOREIGN_KEY_CHECKS = 1;\n").encode()

    def _feed(
        self,
        source: Path,
        database: str | None,
        guard: SwitchGuard | None = None,
        before: Callable[[], bytes] | None = None,
    ) -> None:
        """Feed the SQL to a client whose default database is `database` (default: the spec's).

        With `guard`, each chunk is checked before the client sees it; `before` gives SQL to run first,
        once the file has been checked whole.
        """
        into = f"the scratch schema {database}" if database else self.spec.name
        with open_dump(source) as stream:
            chunks = read_chunks(stream)
            first = next(chunks, b"")
            need: Family | None = "mariadb" if first.startswith(SANDBOX) else None
            client = pick(self.programs(), dumps=False, prefer=self.family(), need=need, where=self.runner.where)
            tool = self._tool(client, "--batch", "--max-allowed-packet=1G", database=database)
            prefix = before() if before is not None else b""
            with self.runner.start(tool, stdin=True, stdout=False) as process:
                try:
                    for chunk in itertools.chain([prefix, first], chunks):
                        if guard is not None:
                            guard.check(chunk, source.name)
                        process.stdin.write(chunk)
                    process.stdin.close()
                except BrokenPipeError:
                    pass  # the client stopped reading: its exit status and stderr say why
                if process.wait() != 0:
                    raise process.failed(f"{client.name} restoring {source.name} into {into} {self.runner.where}")

    # ---------------------------------------------------------------- verify

    def verify_restore(self, source: Path) -> dict[str, int]:
        """Restore into a new scratch schema, count every table, drop it (also on failure or interrupt)."""
        with scratch_database(self._create_scratch, self.drop_scratch) as scratch:
            self._feed(source, scratch, SwitchGuard())
            return self._counts(scratch, cheap_only=False)

    def _create_scratch(self, scratch: str) -> None:
        """CREATE DATABASE release_verify_<time>_<hex> with the live database's default character set and collation."""
        user = f"'{self.spec.user}'" if self.spec.user else "the database user"
        try:
            charset, collation = self._query(
                "SELECT default_character_set_name, default_collation_name FROM information_schema.schemata "
                "WHERE schema_name = DATABASE()"
            )[0]
            if not (_PLAIN.match(charset) and _PLAIN.match(collation)):
                raise ValueError(charset, collation)
        except DumpFailed as exc:
            raise ScratchUnavailable(f"cannot read the character set of {self.spec.name}: {exc}") from None
        except (IndexError, ValueError):  # no row, not two fields, or not plain names
            raise ScratchUnavailable(f"cannot read the character set of {self.spec.name}: unexpected answer") from None
        try:
            self._query(f"CREATE DATABASE {_ident(scratch)} CHARACTER SET {charset} COLLATE {collation}")
        except DumpFailed as exc:
            if "access denied" in str(exc).lower():  # ERROR 1044; a wrong password failed the query above
                raise ScratchUnavailable(
                    f"{user} may not create the scratch schema {scratch} that verify restores into: "
                    f"give it the right with GRANT ALL ON `{SCRATCH_LIKE}`.* TO {user}@'<its host>'"
                ) from None
            raise ScratchUnavailable(f"cannot create the scratch schema {scratch}: {exc}") from None
        logger.debug("created the scratch schema {db}", db=scratch)

    def scratch_databases(self) -> list[str]:
        """The `release_verify_*` schemas this login can see (its grant on them is what lets it see them)."""
        like = _literal(SCRATCH_LIKE)  # a quoted constant: S608 does not apply
        rows = self._query(f"SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE {like}")  # noqa: S608
        return [row[0] for row in rows if row]

    def drop_scratch(self, scratch: str, quietly: bool = False) -> None:
        """DROP DATABASE IF EXISTS; `quietly` (another error is on its way): a failure is logged, not raised."""
        try:
            self._query(f"DROP DATABASE IF EXISTS {_ident(scratch)}")
        except DumpFailed as exc:
            message = f"the scratch schema {scratch} could not be dropped, drop it by hand: {exc}"
            if not quietly:
                raise DumpFailed(message) from None
            logger.error(message)


class SwitchGuard:
    """Refuses SQL that would leave the client's default database (see SWITCHES), across chunk boundaries."""

    def __init__(self) -> None:
        self._carry = b""  # the start of the unfinished last line, when it is still short enough to matter

    def check(self, chunk: bytes, name: str) -> None:
        """Raise DumpFailed if a line of `chunk` (joined to the previous one's unfinished line) switches."""
        text = self._carry + chunk
        match = SWITCHES.search(text)
        if match:
            line = text[match.start() :].split(b"\n", 1)[0][:80].decode(errors="replace").strip()
            raise DumpFailed(
                f"{name} switches databases ({line!r}): it is not a dump of one database, and restoring it into "
                "a scratch schema could write elsewhere; refusing to run it"
            )
        tail = text[text.rfind(b"\n") + 1 :]
        # A line start already seen whole (64 bytes) cannot match any more: carry a byte that anchors nothing.
        self._carry = tail if len(tail) < 64 else b"-"


_PLAIN = re.compile(r"^[A-Za-z0-9_]+$")
# information_schema's table_type and routine_type -> the DROP that removes it ('BASE TABLE',
# 'SYSTEM VERSIONED': DROP TABLE).
_DROP_KIND = {k: k for k in ("VIEW", "SEQUENCE", "PROCEDURE", "FUNCTION", "PACKAGE", "EVENT")}


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
