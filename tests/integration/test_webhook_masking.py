"""A webhook URL carries its token: no log line, run log or ledger row may show it (real HTTP stand-ins).

The type itself (str, repr, JSON dump, equality) is tested in tests/unit/test_secret_url.py.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import release.cli
from release.log import setup_console, start_run_log
from tests.support.project import CliResult, Project, local_env

pytestmark = pytest.mark.integration

TOKEN = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
ROBOT_PATH = f"/cgi-bin/webhook/send?key={TOKEN}"
UNREACHABLE_DB = {"engine": "postgresql", "host": "127.0.0.1", "port": 1, "name": "nope", "user": "x"}


@dataclass
class Robot:
    """A chat robot stand-in on 127.0.0.1: what it was sent, and how it answered."""

    url: str
    answer: str
    paths: list[str] = field(default_factory=list)
    bodies: list[dict[str, object]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        """Scheme, host and port: what a log line may show."""
        return self.url.removesuffix(ROBOT_PATH)


# the two ways a robot says no: an HTTP error, or a 200 whose JSON carries an error code (WeCom, DingTalk)
ANSWERS = {"http 500": (500, {"errmsg": "internal"}), "errcode 93000": (200, {"errcode": 93000, "errmsg": "invalid"})}


@pytest.fixture(params=sorted(ANSWERS))
def robot(request: pytest.FixtureRequest) -> Iterator[Robot]:
    """A ThreadingHTTPServer answering every POST as a failing robot does."""
    status, answer = ANSWERS[request.param]
    seen = Robot(url="", answer=request.param)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            seen.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            seen.paths.append(self.path)
            seen.content_types.append(self.headers["Content-Type"])
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    seen.url = f"http://127.0.0.1:{httpd.server_address[1]}{ROBOT_PATH}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield seen
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def backup_run_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Give `backup run` the JSON run log a deploy writes (it has none of its own), so that log is checked too."""

    def console_and_run_log(verbose: bool) -> None:
        setup_console(verbose)
        start_run_log(Path.cwd(), "test", "backup")  # Project.run works in the project directory

    monkeypatch.setattr(release.cli, "setup_console", console_and_run_log)
    yield
    setup_console(False)  # close the run log's file sink


def failing_backup(tmp_path: Path, webhook: str) -> tuple[Project, CliResult]:
    """`release backup run test` in-process, on a database that cannot be reached, alerting `webhook`."""
    project = Project(tmp_path / "proj")
    project.write_env("test", local_env(project.root, database=UNREACHABLE_DB, backup={"alert_webhook": webhook}))
    return project, project.run("backup", "run", "test")


def run_logs(project: Project) -> str:
    """Every JSON run log of the project, concatenated (there is one: see `backup_run_log`)."""
    logs = sorted((project.root / ".release" / "logs").glob("*.jsonl"))
    assert logs, "no run log was written"
    return "".join(p.read_text() for p in logs)


def ledger_rows(project: Project) -> str:
    """Every event and run row of the ledger, as text."""
    with sqlite3.connect(project.root / ".release" / "ledger.db") as conn:
        rows = conn.execute("SELECT * FROM events").fetchall() + conn.execute("SELECT * FROM runs").fetchall()
    return json.dumps(rows, ensure_ascii=False, default=str)


def assert_never_shown(project: Project, result: CliResult) -> None:
    """The token, and the path that holds it, appear in no output the run left behind."""
    for text in (result.stderr, result.stdout, run_logs(project), ledger_rows(project)):
        assert TOKEN not in text and "webhook/send" not in text


def test_a_failing_alert_never_shows_the_token(tmp_path: Path, robot: Robot) -> None:
    project, result = failing_backup(tmp_path, robot.url)
    assert result.code == 1  # the backup's failure, not the robot's
    assert robot.paths == [ROBOT_PATH], "the real URL must reach the robot"
    assert robot.content_types == ["application/json"]
    assert [set(b) for b in robot.bodies] == [{"env", "error", "time", "source"}] and robot.bodies[0]["env"] == "test"
    line = f"alert webhook {robot.origin}/*** failed"
    assert line in result.stderr and line in run_logs(project)
    assert ("HTTP 500" if robot.answer == "http 500" else "93000") in result.stderr
    assert "backup-failed" in ledger_rows(project)
    assert_never_shown(project, result)


def test_an_unreachable_robot_is_logged_masked_and_never_raised(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    project, result = failing_backup(tmp_path, f"http://127.0.0.1:{port}{ROBOT_PATH}")
    assert result.code == 1
    assert f"alert webhook http://127.0.0.1:{port}/*** failed: ConnectError" in result.stderr
    assert_never_shown(project, result)


def test_a_bad_webhook_url_is_one_inventory_line(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj")
    project.write_env("test", local_env(project.root, backup={"alert_webhook": f"ftp://x/y?key={TOKEN}"}))
    result = project.run("status", "test")
    assert result.code == 2 and "inventory/test.yml:" in result.stderr
    assert "backup.alert_webhook: must be an http:// or https:// URL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and TOKEN not in result.stderr
