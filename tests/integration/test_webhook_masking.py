"""A webhook URL carries its token: no log line, run log or ledger row may show it (real HTTP stand-ins)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from release.secret_url import SecretUrl
from tests.support.project import Project, local_env

pytestmark = pytest.mark.integration

TOKEN = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


@pytest.fixture(params=["http 500", "errcode 93000"])
def robot(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[str]]]:
    """A robot stand-in answering as a failing one does: a 500, or a 200 with an error code (as WeCom does)."""
    paths: list[str] = []
    failure = request.param

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers["Content-Length"]))
            paths.append(self.path)
            body = json.dumps({"errcode": 93000, "errmsg": "invalid webhook url"}).encode()
            self.send_response(500 if failure == "http 500" else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/cgi-bin/webhook/send?key={TOKEN}", paths
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_failing_alert_never_shows_the_token(tmp_path: Path, robot: tuple[str, list[str]]) -> None:
    url, paths = robot
    project = Project(tmp_path / "proj")
    database = {"engine": "postgresql", "host": "127.0.0.1", "port": 1, "name": "nope", "user": "x"}
    project.write_env("test", local_env(project.root, database=database, backup={"alert_webhook": url}))
    result = project.run("backup", "run", "test")
    assert result.code == 1
    assert paths == [f"/cgi-bin/webhook/send?key={TOKEN}"], "the real URL must reach the robot"
    port = url.split(":")[2].split("/")[0]
    assert f"alert webhook http://127.0.0.1:{port}/*** failed" in result.stderr
    logs = "".join(p.read_text() for p in (project.root / ".release").glob("logs/*"))
    with sqlite3.connect(project.root / ".release" / "ledger.db") as conn:
        ledger = json.dumps(
            conn.execute("SELECT * FROM events").fetchall() + conn.execute("SELECT * FROM runs").fetchall()
        )
    for text in (result.stderr, result.stdout, logs, ledger):
        assert TOKEN not in text and "webhook/send" not in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", "https://qyapi.weixin.qq.com/***"),
        ("https://oapi.dingtalk.com/robot/send?access_token=x", "https://oapi.dingtalk.com/***"),
        ("http://user:pw@10.0.0.9:8080/", "http://10.0.0.9:8080/***"),
        ("http://10.0.0.9:8080/", "http://10.0.0.9:8080"),
        ("https://[fd00::1]/hook", "https://[fd00::1]/***"),
    ],
)
def test_secret_url_prints_masked(url: str, shown: str) -> None:
    secret = SecretUrl(url)
    assert str(secret) == f"{secret}" == shown and shown in repr(secret)
    assert secret.get_secret_value() == url and secret == SecretUrl(url)


def test_a_bad_webhook_url_is_one_inventory_line(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj")
    project.write_env("test", local_env(project.root, backup={"alert_webhook": "ftp://x/y"}))
    result = project.run("status", "test")
    assert result.code == 2 and "backup.alert_webhook" in result.stderr and "http://" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
