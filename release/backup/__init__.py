"""Backups: dumps stored with a manifest, recorded in the ledger, restored with a safety net."""
