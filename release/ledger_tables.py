"""The ledger's tables: runs, events, locks and backups, one metadata for every engine.

New tables (the checklist's results and marks, sign-offs, the notification outbox) go here, so that
`Ledger` creates them with the rest and an older ledger gains them on open.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("env", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # deploy | rollback | restore
    Column("version", String(64)),
    Column("release_id", String(96)),
    Column("previous_release_id", String(96)),  # what was current before (a rollback: the release undone)
    # running | succeeded | failed | interrupted | refused (a guard said no: nothing was attempted; `error` says why)
    Column("status", String(16), nullable=False),
    Column("operator", String(128), nullable=False),
    Column("reason", Text),
    Column("break_glass", Boolean, nullable=False, default=False),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("hosts", Text, nullable=False),  # JSON list of host names
    Column("partial", Boolean, nullable=False, default=False),
    Column("artifact_sha256", String(64)),
    Column("backup_id", String(128)),
    Column("controller", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("error", Text),
    # added in issue 11: where a failed run failed, when known (an older ledger gains them, see _add_columns)
    Column("failed_host", String(255)),
    Column("failed_task", Text),
)

# the status of an attempt a guard refused: it never touched a host or a database
REFUSED = "refused"

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("env", String(64), nullable=False, index=True),
    Column("at", String(40), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("operator", String(128), nullable=False),
    Column("message", Text, nullable=False),
    Column("data", Text),
)

locks = Table(
    "locks",
    metadata,
    Column("env", String(64), primary_key=True),
    Column("operator", String(128), nullable=False),
    Column("controller", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("version", String(64)),
    Column("command", String(32), nullable=False),
)


backups = Table(
    "backups",
    metadata,
    Column("id", String(160), primary_key=True),
    Column("env", String(64), nullable=False, index=True),
    Column("engine", String(16), nullable=False),
    Column("kind", String(16), nullable=False),  # scheduled | manual | pre-release | safety
    Column("created_at", String(40), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("release_id", String(96)),
    Column("pinned", Boolean, nullable=False, default=False),
    Column("verified_at", String(40)),
    Column("verify_error", Text),
    Column("path", Text, nullable=False),
    Column("remote_path", Text),
    Column("format", String(32), nullable=False),
    Column("server_version", String(64)),
    Column("database", String(255)),
    Column("tables", Text),
)
