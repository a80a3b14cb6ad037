"""Create the demo's SQLite database `.demo/oa.db` (if missing): users, roles and a dictionary table."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCHEMA = """
CREATE TABLE roles (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE users (
    id INTEGER PRIMARY KEY, login TEXT NOT NULL UNIQUE, name TEXT, role_id INTEGER REFERENCES roles(id)
);
CREATE TABLE dictionary (kind TEXT, code TEXT, label TEXT, PRIMARY KEY (kind, code));
INSERT INTO roles (name) VALUES ('admin'), ('clerk');
INSERT INTO users (login, name, role_id) VALUES ('zhangsan', '张三', 1), ('lisi', '李四', 2);
INSERT INTO dictionary VALUES ('doc_status', 'draft', '草稿'), ('doc_status', 'approved', '已批准');
"""


def seed(path: Path) -> Path:
    """Write the database atomically, unless it exists already."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(tmp) as conn:
        conn.executescript(SCHEMA)
    conn.close()
    tmp.replace(path)
    return path


if __name__ == "__main__":
    print(seed(ROOT / (sys.argv[1] if len(sys.argv) > 1 else ".demo/oa.db")))
