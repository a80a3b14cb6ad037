"""The backup catalog: a ledger table, and a JSON manifest beside each file so it can be rebuilt."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update

from release.ledger import Ledger
from release.ledger_tables import backups


@dataclass
class Backup:
    """One stored dump, as recorded (and as written in its manifest)."""

    id: str
    env: str
    engine: str
    kind: str
    created_at: str
    size: int
    sha256: str
    path: str
    format: str
    release_id: str | None = None
    pinned: bool = False
    verified_at: str | None = None
    verify_error: str | None = None
    remote_path: str | None = None
    server_version: str | None = None
    database: str | None = None
    tables: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The `backup list --json` contract keys (and a few more)."""
        return asdict(self)


def record(ledger: Ledger, backup: Backup) -> None:
    """Add a backup to the ledger."""
    row = asdict(backup) | {"tables": json.dumps(backup.tables)}
    with ledger.engine.begin() as conn:
        conn.execute(insert(backups).values(**row))


def _from_row(row: Any) -> Backup:
    data = dict(row._mapping)
    data["tables"] = json.loads(data["tables"] or "{}")
    return Backup(**data)


def list_backups(ledger: Ledger, env: str) -> list[Backup]:
    """An environment's backups, newest first."""
    query = select(backups).where(backups.c.env == env).order_by(backups.c.created_at.desc(), backups.c.id.desc())
    with ledger.engine.connect() as conn:
        return [_from_row(r) for r in conn.execute(query)]


def get(ledger: Ledger, env: str, backup_id: str) -> Backup | None:
    """One backup by id."""
    with ledger.engine.connect() as conn:
        row = conn.execute(select(backups).where(backups.c.env == env, backups.c.id == backup_id)).first()
    return _from_row(row) if row else None


def pinned_to(ledger: Ledger, env: str, release_id: str) -> Backup | None:
    """The pre-release dump taken before `release_id` changed anything."""
    query = select(backups).where(
        backups.c.env == env, backups.c.release_id == release_id, backups.c.kind == "pre-release"
    )
    with ledger.engine.connect() as conn:
        row = conn.execute(query.order_by(backups.c.created_at.desc())).first()
    return _from_row(row) if row else None


def set_fields(ledger: Ledger, backup_id: str, **values: Any) -> None:
    """Update a backup (verified_at, pinned)."""
    with ledger.engine.begin() as conn:
        conn.execute(update(backups).where(backups.c.id == backup_id).values(**values))


def remove(ledger: Ledger, backup_id: str) -> None:
    """Drop a backup's record (its files are deleted by the caller first)."""
    with ledger.engine.begin() as conn:
        conn.execute(delete(backups).where(backups.c.id == backup_id))


def write_manifest(dump_file: Path, backup: Backup) -> Path:
    """`<dump>.json` beside the dump, written atomically (the catalog can be rebuilt from these)."""
    path = manifest_path(dump_file)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(backup.to_json(), handle, indent=2, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def manifest_path(dump_file: Path) -> Path:
    """Where a dump's manifest lives."""
    return dump_file.with_name(dump_file.name + ".json")
