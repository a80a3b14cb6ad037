"""Checks: every rule that can stop a change, as a value that says what it found and why.

A check never prints and never raises for a normal "no": it returns a `CheckResult` (ok, warn or
fail; a one-line reason; the evidence; the fix). The caller decides what a fail means: a guard of
deploy and rollback refuses (`release.guards`), `release doctor` shows a row, the launch checklist
marks an item. Where a check needs the network, gathering the facts is kept apart from judging
them, so the judging is tested from tables of cases.

Modules: `base` (the protocol), `window`, `lock`, `hosts` (reachability, disk space),
`database`, `backup` (freshness); isolation's check lives with isolation (`release.isolation`).
A new check: a judge on gathered facts in one of these modules, then a `Check` in the list of
the caller that runs it (`release.guards.GUARDS` for what stops a deploy and a rollback).
"""

from release.checks.base import Check, CheckResult, Finding, Status, enforce, refuse_failed

__all__ = ["Check", "CheckResult", "Finding", "Status", "enforce", "refuse_failed"]
