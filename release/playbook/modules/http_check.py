"""http_check: wait until a URL answers with the expected status (from the controller).

Example::

    - name: Health check
      http_check:
        url: "http://{{ host.address }}:8080/health"
        expect_status: 200
        timeout: 60      # seconds of retrying before the host counts as failed
        delay: 1         # seconds between tries
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from pydantic import Field

from release.playbook.modules.base import Module, ModuleArgs, Step, TaskContext


class HttpCheckArgs(ModuleArgs):
    """`url`, `expect_status` (200), `timeout` (60 s of retrying), `delay` (1 s), `request_timeout` (5 s)."""

    url: str = Field(pattern=r"^https?://")
    expect_status: int = Field(200, ge=100, le=599)
    timeout: float = Field(60, gt=0)
    delay: float = Field(1, ge=0)
    request_timeout: float = Field(5, gt=0)


class HttpCheck(Module):
    """Poll a health URL."""

    name = "http_check"
    Args = HttpCheckArgs

    def plan(self, args: HttpCheckArgs, ctx: TaskContext) -> list[Step]:
        """One step: poll until the status matches or time runs out."""
        return [Step(f"GET {args.url} until {args.expect_status} (up to {args.timeout:g}s)", lambda: wait_for(args))]


def fetch_status(url: str, timeout: float) -> tuple[int | None, str]:
    """One GET: the status (None when no answer) and a short reason."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) only, validated
            return response.status, "OK"
    except urllib.error.HTTPError as exc:
        return exc.code, str(exc.reason)
    except (urllib.error.URLError, OSError) as exc:
        return None, str(getattr(exc, "reason", exc))


def wait_for(args: HttpCheckArgs) -> None:
    """Retry until the expected status; raise with the last answer when time is up."""
    deadline = time.monotonic() + args.timeout
    while True:
        status, reason = fetch_status(args.url, args.request_timeout)
        if status == args.expect_status:
            return
        if time.monotonic() >= deadline:
            got = f"status {status}" if status else f"no answer ({reason})"
            raise RuntimeError(f"health check {args.url}: expected {args.expect_status}, got {got}")
        time.sleep(args.delay)
