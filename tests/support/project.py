"""A throwaway release project (inventory, artifacts) and an in-process runner for the CLI."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from release.cli import main
from release.clock import Clock, SystemClock
from release.context import Context
from tests.support.sshd import SshdCluster

SHIPPED_DEPLOY = Path(__file__).parents[2] / "playbooks" / "deploy.yml"


@dataclass
class CliResult:
    """Exit code and captured output of one `release` invocation."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """Parse stdout as JSON."""
        return json.loads(self.stdout)


@dataclass
class Project:
    """A project directory: inventory/<env>.yml, artifacts/, .release/ (ledger)."""

    root: Path
    clock: Clock = field(default_factory=SystemClock)

    @property
    def inventory(self) -> Path:
        """The inventory directory."""
        return self.root / "inventory"

    def write_env(self, name: str, data: dict[str, Any]) -> Path:
        """Write inventory/<name>.yml."""
        self.inventory.mkdir(parents=True, exist_ok=True)
        path = self.inventory / f"{name}.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def artifact(self, version: str, files: dict[str, str | bytes] | None = None, app: str = "oa-portal") -> Path:
        """Build artifacts/<app>-<version>.tar.gz holding `files` (default: VERSION and index.html)."""
        files = files or {"VERSION": f"{version}\n", "index.html": f"<p>{version}</p>\n"}
        path = self.root / "artifacts" / f"{app}-{version}.tar.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path, "w:gz") as archive:
            for name, content in files.items():
                data = content.encode() if isinstance(content, str) else content
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                archive.addfile(info, io.BytesIO(data))
        return path

    def insert_task(self, task: dict[str, Any], before: str = "Switch current", serial: int | None = None) -> Path:
        """Write the project's playbooks/deploy.yml: the shipped one with `task` before the task named `before`."""
        plays = yaml.safe_load(SHIPPED_DEPLOY.read_text())
        tasks = plays[0]["tasks"]
        index = next(i for i, t in enumerate(tasks) if t["name"].startswith(before))
        tasks.insert(index, task)
        if serial is not None:
            plays[0]["serial"] = serial
        path = self.root / "playbooks" / "deploy.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(plays, sort_keys=False, allow_unicode=True))
        return path

    def run(self, *args: str, answer: str | None = None) -> CliResult:
        """Run `release -i <inventory> ARGS` in this process with this project's clock.

        With `answer`, the run has a terminal and `answer` is what the person types at its prompts.
        """
        out, err = io.StringIO(), io.StringIO()
        context = Context(clock=self.clock, interactive=answer is not None)
        cwd, stdin = os.getcwd(), sys.stdin
        os.chdir(self.root)
        try:
            sys.stdin = io.StringIO(answer or "")
            with redirect_stdout(out), redirect_stderr(err):
                code = main(["-i", str(self.inventory), *args], context)
        finally:
            os.chdir(cwd)
            sys.stdin = stdin
        return CliResult(code, out.getvalue(), err.getvalue())

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start `python -m release` as a separate process (for kill -9 and lock tests)."""
        return subprocess.Popen(
            [sys.executable, "-m", "release", "-i", str(self.inventory), *args],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )


def ssh_inventory(cluster: SshdCluster, **extra: Any) -> dict[str, Any]:
    """An inventory for the cluster's hosts: deploy_to /srv/app, host keys checked."""
    data: dict[str, Any] = {
        "app": "oa-portal",
        "deploy_to": "/srv/app",
        "keep_releases": 3,
        "shared_paths": ["logs", "uploads"],
        "artifact": "artifacts/oa-portal-{{ version }}.tar.gz",
        "ssh": {
            "user": cluster.user,
            "identity_file": str(cluster.identity_file),
            "known_hosts": str(cluster.known_hosts),
            "connect_timeout": 5,
        },
        "hosts": {h.name: {"address": h.address, "port": h.port, "roles": ["app"]} for h in cluster.hosts},
    }
    data.update(extra)
    return data


def current_release(root: Path) -> str | None:
    """Where a host's /srv/app/current points (read through the host's /srv as seen from here)."""
    link = root / "app" / "current"
    return os.readlink(link).rsplit("/", 1)[-1] if link.is_symlink() else None


def local_env(root: Path, **extra: Any) -> dict[str, Any]:
    """An inventory with two `connection: local` hosts under `root/hosts/` (no SSH needed)."""
    return {
        "app": "oa-portal",
        "deploy_to": "/unused",
        "artifact": "artifacts/oa-portal-{{ version }}.tar.gz",
        "hosts": {
            "web1": {"connection": "local", "roles": ["app"], "deploy_to": str(root / "hosts" / "web1")},
            "web2": {"connection": "local", "roles": ["app"], "deploy_to": str(root / "hosts" / "web2")},
        },
        **extra,
    }
