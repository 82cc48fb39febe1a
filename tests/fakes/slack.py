"""A local Slack incoming-webhook server on loopback: records every message it is sent.

``SlackWebhook()`` starts on a free port; ``url`` is the webhook URL, ``messages`` the JSON payloads
received (in order). ``status`` makes it answer with an error (e.g. 500, or 404 "no_service") to test
failing notifications.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SlackWebhook:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.status = 200
        self.body = "ok"
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path != "/services/T000/B000/XXXX" or self.headers.get("Content-Type") != "application/json":
                    self._reply(404, "no_service")
                    return
                if outer.status == 200:
                    outer.messages.append(json.loads(raw))
                self._reply(outer.status, outer.body if outer.status == 200 else "invalid_payload")

            def _reply(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/services/T000/B000/XXXX"

    def __enter__(self) -> SlackWebhook:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
