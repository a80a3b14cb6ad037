"""The ledger's `runs` table exactly as the code before issue 11 created it (no failed_host, failed_task).

Tests of the in-place migration start from this: an existing ledger must keep working, its rows kept.
"""

OLD_RUNS_DDL = """
CREATE TABLE runs (
    id INTEGER NOT NULL, env VARCHAR(64) NOT NULL, kind VARCHAR(16) NOT NULL, version VARCHAR(64),
    release_id VARCHAR(96), previous_release_id VARCHAR(96), status VARCHAR(16) NOT NULL,
    operator VARCHAR(128) NOT NULL, reason TEXT, break_glass BOOLEAN NOT NULL, started_at VARCHAR(40) NOT NULL,
    finished_at VARCHAR(40), hosts TEXT NOT NULL, partial BOOLEAN NOT NULL, artifact_sha256 VARCHAR(64),
    backup_id VARCHAR(128), controller VARCHAR(255) NOT NULL, pid INTEGER NOT NULL, error TEXT, PRIMARY KEY (id)
);
CREATE INDEX ix_runs_env ON runs (env);
"""
