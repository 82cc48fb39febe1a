"""A small local HTTP service for the canary's HTTP gate: its answers are switched by the test.

``ProbeServer`` listens on loopback (a free port) in a thread. ``set(status=..., body=...,
delay=...)`` changes what ``GET /health`` returns; ``hits`` counts the requests.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ProbeServer:
    def __init__(self) -> None:
        self.status = 200
        self.body: Any = {"status": "ok"}
        self.delay = 0.0
        self.hits = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with outer._lock:
                    outer.hits += 1
                    status, body, delay = outer.status, outer.body, outer.delay
                if delay:
                    time.sleep(delay)
                data = json.dumps(body).encode() if not isinstance(body, bytes) else body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/health"

    def set(self, *, status: int | None = None, body: Any = None, delay: float | None = None) -> None:
        with self._lock:
            if status is not None:
                self.status = status
            if body is not None:
                self.body = body
            if delay is not None:
                self.delay = delay

    def start(self) -> ProbeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
