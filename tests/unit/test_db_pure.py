"""The dump layer's pure parts: client choice, version parsing, quoting, secret delivery, the atomic writer."""

from __future__ import annotations

import hashlib
import io
import shlex
import subprocess
from pathlib import Path

import pytest
import zstandard
from pydantic import SecretStr

from release.db import make_dumper
from release.db.base import DumpFailed
from release.db.mysql import Program, option_value, pick
from release.db.mysql import parse_discovery as parse_mysql_discovery
from release.db.postgresql import (
    Client,
    PostgresDumper,
    choose_client,
    conninfo_value,
    parse_client_version,
    parse_discovery,
    server_major,
)
from release.db.runner import Tool, remote_script, stdin_preamble
from release.db.sqlite import SqliteDumper
from release.db.stream import AtomicFile, copy_stream, open_dump, read_chunks
from release.errors import BadInput
from release.hosts import LocalHost, SshHost
from release.inventory_models import DatabaseSpec
from release.log import redactor

AWKWARD = "pw-'\"\\ $(touch /tmp/pwned);#`id` x"

# --------------------------------------------------------------------------- PostgreSQL versions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", (15,)),
        ("pg_dump (PostgreSQL) 16.2", (16,)),
        ("pg_dump (PostgreSQL) 17beta1", (17,)),
        ("pg_dump (PostgreSQL) 9.6.24", (9, 6)),
        ("pg_dump (EnterpriseDB) 15.1", None),
        ("", None),
    ],
)
def test_parse_client_version(text: str, expected: tuple[int, ...] | None) -> None:
    assert parse_client_version(text) == expected


@pytest.mark.parametrize(("num", "expected"), [(150018, (15,)), (170000, (17,)), (100023, (10,)), (90624, (9, 6))])
def test_server_major(num: int, expected: tuple[int, ...]) -> None:
    assert server_major(num) == expected


def clients(*versions: tuple[int, ...]) -> list[Client]:
    return [Client(f"/usr/lib/postgresql/{'.'.join(map(str, v))}/bin", v) for v in versions]


@pytest.mark.parametrize(
    ("server", "installed", "chosen"),
    [
        ((15,), [(13,), (15,), (16,)], (15,)),  # the same major wins over newer ones
        ((15,), [(16,), (17,)], (17,)),  # else the newest newer one
        ((14,), [(17,), (13,)], (17,)),
        ((9, 6), [(9, 5), (10,)], (10,)),  # 10 is newer than 9.6
        ((9, 6), [(9, 6), (12,)], (9, 6)),
    ],
)
def test_choose_client(server: tuple[int, ...], installed: list[tuple[int, ...]], chosen: tuple[int, ...]) -> None:
    assert choose_client(server, clients(*installed)).version == chosen


@pytest.mark.parametrize("installed", [[(13,), (14,)], [(9, 6)], []])
def test_a_client_older_than_the_server_is_a_clear_error(installed: list[tuple[int, ...]]) -> None:
    with pytest.raises(DumpFailed) as failed:
        choose_client((15,), clients(*installed), "on db1")
    message = str(failed.value)
    assert "server version 15" in message and "install postgresql-client-15 on db1" in message
    for version in installed:
        assert f"({'.'.join(map(str, version))})" in message


def test_parse_discovery_keeps_the_first_of_each_dir_and_skips_junk() -> None:
    output = (
        "/usr/lib/postgresql/15/bin\tpg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"
        "/usr/lib/postgresql/16/bin\tpg_dump (PostgreSQL) 16.2\n"
        "/usr/bin\tpg_dump (PostgreSQL) 16.2\n"
        "/usr/lib/postgresql/15/bin\tpg_dump (PostgreSQL) 15.18\n"
        "/opt/broken/bin\t\n"
    )
    assert parse_discovery(output) == [
        Client("/usr/lib/postgresql/15/bin", (15,)),
        Client("/usr/lib/postgresql/16/bin", (16,)),
        Client("/usr/bin", (16,)),
    ]


def test_conninfo_value_keeps_a_name_a_name() -> None:
    assert conninfo_value("app") == "'app'"
    assert conninfo_value("a=b 'c'\\") == "'a=b \\'c\\'\\\\'"


# --------------------------------------------------------------------------- MySQL / MariaDB programs

MYSQL_DISCOVERY = (
    "mariadb-dump\t/usr/bin/mariadb-dump\tmariadb-dump  Ver 10.19 Distrib 10.11.6-MariaDB, for debian-linux-gnu\n"
    "mysqldump\t/usr/bin/mysqldump\tmysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)\n"
    "mariadb\t/usr/bin/mariadb\tmariadb from 11.4.2-MariaDB, client 15.2 for debian-linux-gnu (x86_64)\n"
    "mysql\t/usr/bin/mysql\tmysql  Ver 14.14 Distrib 5.7.44, for Linux (x86_64)\n"
)


def test_parse_mysql_discovery_tells_the_families_apart() -> None:
    programs = parse_mysql_discovery(MYSQL_DISCOVERY)
    assert [(p.name, p.family, p.major) for p in programs] == [
        ("mariadb-dump", "mariadb", 10),
        ("mysqldump", "mysql", 8),
        ("mariadb", "mariadb", 11),
        ("mysql", "mysql", 5),
    ]


def test_pick_prefers_the_servers_family_and_obeys_a_need() -> None:
    programs = parse_mysql_discovery(MYSQL_DISCOVERY)
    assert pick(programs, dumps=True, prefer="mariadb").name == "mariadb-dump"
    assert pick(programs, dumps=True, prefer="mysql").name == "mysqldump"
    assert pick(programs, dumps=False, prefer="mysql").name == "mysql"
    # A mariadb-dump file starts with the sandbox line: only a MariaDB client can restore it.
    assert pick(programs, dumps=False, prefer="mysql", need="mariadb").name == "mariadb"
    only_mysql = [p for p in programs if p.family == "mysql"]
    with pytest.raises(DumpFailed, match="install the mariadb-client"):
        pick(only_mysql, dumps=False, prefer="mysql", need="mariadb")
    assert pick([Program("mysqldump", "/usr/bin/mysqldump", "mariadb", 10)], True, "mysql").family == "mariadb"


@pytest.mark.parametrize(
    ("value", "quoted"),
    [("plain", '"plain"'), ('a"b', '"a\\"b"'), ("a\\b", '"a\\\\b"'), ("x # y", '"x # y"'), (" sp ", '" sp "')],
)
def test_option_value(value: str, quoted: str) -> None:
    assert option_value(value) == quoted


# --------------------------------------------------------------------------- secrets never in argv


def test_remote_script_quotes_everything_and_never_holds_the_secret() -> None:
    tool = Tool(["/usr/bin/pg_dump", "-d", "x'; rm -rf /"], {"PGAPPNAME": "a b"}, {"PGPASSWORD": AWKWARD})
    script = remote_script(tool)
    assert AWKWARD not in script
    assert script.startswith("umask 077; IFS= read -r PGPASSWORD || exit 111; export PGPASSWORD")
    assert script.endswith("exec /usr/bin/pg_dump -d " + shlex.quote("x'; rm -rf /"))
    assert "export PGAPPNAME='a b'" in script
    assert stdin_preamble(tool) == f"{AWKWARD}\n".encode()


def test_remote_script_feeds_the_password_to_the_tool_through_stdin() -> None:
    """What the ssh session runs, run here with `sh -c`: the tool sees the exact password in its env."""
    tool = Tool(["sh", "-c", 'printf %s "$PGPASSWORD"; cat'], secret_env={"PGPASSWORD": AWKWARD})
    done = subprocess.run(
        ["sh", "-c", remote_script(tool)], input=stdin_preamble(tool) + b"data after", capture_output=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == AWKWARD.encode() + b"data after"  # and the stream after it reaches the tool intact


@pytest.mark.parametrize("password", ["two\nlines", "nul\0byte"])
def test_a_password_that_cannot_travel_as_one_line_is_refused(password: str) -> None:
    with pytest.raises(BadInput, match="line break or NUL"):
        Tool(["pg_dump"], secret_env={"PGPASSWORD": password})


def test_dump_failed_masks_secrets_and_keeps_the_tail() -> None:
    redactor.add("hunter2-secret")
    stderr = "\n".join(f"line {i}" for i in range(30)) + "\nFATAL: bad password hunter2-secret"
    message = str(DumpFailed("pg_dump of app failed (exit 1)", stderr))
    assert message.startswith("pg_dump of app failed (exit 1):\n")
    assert "hunter2-secret" not in message and "bad password ***" in message
    assert "line 5" not in message and "line 29" in message


# --------------------------------------------------------------------------- the atomic writer


def test_atomic_file_appears_complete_0600_with_its_sha256(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    with AtomicFile(target) as out:
        out.write(b"hello ")
        out.write(b"world")
        assert not target.exists() and len(list(tmp_path.iterdir())) == 1
        out.commit()
    assert target.read_bytes() == b"hello world" and (target.stat().st_mode & 0o777) == 0o600
    assert out.sha256 == hashlib.sha256(b"hello world").hexdigest() and out.size == 11
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_atomic_file_leaves_nothing_on_failure_and_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    with pytest.raises(KeyboardInterrupt), AtomicFile(target) as out:
        out.write(b"partial")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"an older backup")
    with pytest.raises(DumpFailed, match="already exists"), AtomicFile(target):
        pass
    assert target.read_bytes() == b"an older backup" and len(list(tmp_path.iterdir())) == 1


def test_copy_stream_compresses_and_hashes_what_it_stores(tmp_path: Path) -> None:
    data = b"".join(f"row {i}, some text 中文\n".encode() for i in range(200_000))
    seen: list[int] = []
    with AtomicFile(tmp_path / "x.zst") as out:
        total = copy_stream(io.BytesIO(data), out, compress=True, on_bytes=seen.append)
        out.commit()
    stored = (tmp_path / "x.zst").read_bytes()
    assert total == len(data) == sum(seen) and max(seen) <= 1 << 20
    assert out.sha256 == hashlib.sha256(stored).hexdigest() and len(stored) < len(data) // 5
    assert zstandard.ZstdDecompressor().stream_reader(io.BytesIO(stored)).read() == data


def zstd_cases() -> dict[str, tuple[bytes, str | None]]:
    data = b"".join(b"INSERT INTO t VALUES (%d);\n" % i for i in range(100_000))
    frame = zstandard.ZstdCompressor(write_checksum=True).compress(data)
    flipped = bytearray(frame)
    flipped[len(frame) // 2] ^= 0xFF
    return {
        "whole": (frame, None),
        "plain": (data, None),  # an uncompressed dump is restored as it is
        "cut": (frame[: len(frame) // 2], "truncated"),
        "last byte missing": (frame[:-1], "truncated"),
        "flipped byte": (bytes(flipped), "damaged"),
        "trailing junk": (frame + b"junk", "data after the end"),
        "two frames": (frame + frame, "data after the end"),
    }


@pytest.mark.parametrize("case", list(zstd_cases()))
def test_open_dump_refuses_truncated_or_damaged_files_before_streaming(tmp_path: Path, case: str) -> None:
    blob, error = zstd_cases()[case]
    path = tmp_path / "dump.zst"
    path.write_bytes(blob)
    if error is None:
        with open_dump(path) as stream:
            assert b"".join(read_chunks(stream)).endswith(b"INSERT INTO t VALUES (99999);\n")
        return
    with pytest.raises(DumpFailed, match=error), open_dump(path) as stream:
        pytest.fail(f"opened a bad file: {stream}")


# --------------------------------------------------------------------------- make_dumper


def test_make_dumper_treats_a_local_dump_via_host_as_here(tmp_path: Path) -> None:
    spec = DatabaseSpec(engine="postgresql", name="app", password=SecretStr("s3cret-value"))
    dumper = make_dumper(spec, tmp_path, LocalHost(name="db1", roles=[], deploy_to="/srv"))
    assert isinstance(dumper, PostgresDumper) and dumper.runner.via is None
    assert redactor.mask("s3cret-value") == "***"


def test_make_dumper_sqlite_paths_and_no_dump_via(tmp_path: Path) -> None:
    relative = make_dumper(DatabaseSpec(engine="sqlite", name="data/app.db"), tmp_path)
    assert isinstance(relative, SqliteDumper) and relative.path == tmp_path / "data" / "app.db"
    absolute = make_dumper(DatabaseSpec(engine="sqlite", name="/var/lib/app.db"), tmp_path)
    assert isinstance(absolute, SqliteDumper) and absolute.path == Path("/var/lib/app.db")
    with pytest.raises(BadInput, match="SQLite"):
        make_dumper(
            DatabaseSpec(engine="sqlite", name="app.db"), tmp_path, SshHost(name="db1", roles=[], deploy_to="/")
        )
