"""Database dumps and restores: one `Dumper` per engine (postgresql, mysql, sqlite) behind one protocol."""

from __future__ import annotations

from pathlib import Path

from release.db.base import Dumper, DumpFailed, DumpResult, ScratchUnavailable
from release.errors import BadInput
from release.hosts import Host, LocalHost, SshHost
from release.inventory_models import DatabaseSpec
from release.log import redactor

__all__ = ["DumpFailed", "DumpResult", "Dumper", "ScratchUnavailable", "make_dumper"]


def make_dumper(spec: DatabaseSpec, project_dir: Path, via: Host | None = None) -> Dumper:
    """The dumper for `spec`; with `via` (the dump_via host) the client tools run there over SSH.

    A `connection: local` host as `dump_via` means this machine. SQLite files are read here:
    its `name` is the file's path, relative to `project_dir` unless absolute. Only the engine's
    own module is imported: a deploy should not pay for the other two at start.
    """
    if spec.password is not None:
        redactor.add(spec.password.get_secret_value())
    if isinstance(via, LocalHost):
        via = None
    if via is not None and not isinstance(via, SshHost):
        raise BadInput(f"dump_via {via.name}: only ssh or local hosts can run the dump tools")
    if spec.engine == "sqlite":
        if via is not None:
            raise BadInput(f"dump_via {via.name}: a SQLite database is dumped where it is; drop dump_via")
        from release.db.sqlite import SqliteDumper

        return SqliteDumper(spec, project_dir)
    from release.db.runner import Runner

    if spec.engine == "postgresql":
        from release.db.postgresql import PostgresDumper

        return PostgresDumper(spec, Runner(via))
    from release.db.mysql import MysqlDumper

    return MysqlDumper(spec, Runner(via))
