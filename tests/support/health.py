"""A tiny HTTP server standing in for the application's health endpoint, one path per host."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HealthServer:
    """GET /health/<host> answers `statuses[host]` (default 200); `hits` counts requests per host."""

    def __init__(self) -> None:
        self.statuses: dict[str, int] = {}
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                host = self.path.rsplit("/", 1)[-1]
                server.hits[host] = server.hits.get(host, 0) + 1
                self.send_response(server.statuses.get(host, 200))
                self.end_headers()
                self.wfile.write(b"ok\n")

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """The health URL template for an inventory (rendered per host)."""
        return f"http://127.0.0.1:{self.port}/health/{{{{ host.name }}}}"

    def stop(self) -> None:
        """Shut the server down."""
        self.httpd.shutdown()
        self.httpd.server_close()


class WebhookServer:
    """Collects the JSON bodies POSTed to it (a stand-in for an alert webhook)."""

    def __init__(self) -> None:
        self.received: list[dict[str, object]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Shut the server down."""
        self.httpd.shutdown()
        self.httpd.server_close()
