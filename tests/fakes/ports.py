"""Start a server binary on a free loopback port without racing for the port.

A server that cannot be told "port 0" needs a port picked for it, and between picking and binding
another process on a busy machine (parallel pytest workers, the container check's servers) can take
it: the binary then exits with "address in use" and, worse, a readiness probe may be answered by the
other process. ``spawn_on_free_port`` only accepts a start when the probe succeeds *and* our process
is still alive after it; otherwise it tries again on a new port.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator


def free_port() -> int:
    """A loopback port free right now (for servers that must be told a port; see the module docstring)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_on_free_port(
    start: Callable[[int], subprocess.Popen[bytes]],
    ready: Callable[[int], bool],
    *,
    name: str,
    timeout: float = 30.0,
    attempts: int = 4,
) -> tuple[subprocess.Popen[bytes], int]:
    """Run ``start(port)`` until ``ready(port)`` answers while the process it started still runs.

    ``ready`` must return False (not raise) while the server is not up yet. Raises RuntimeError
    naming ``name`` when no attempt succeeds.
    """
    why = "no attempt made"
    for _ in range(attempts):
        port = free_port()
        proc = start(port)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if ready(port):
                time.sleep(0.2)  # a server that lost the port exits right after trying to bind it
                if proc.poll() is None:
                    return proc, port
                break
            time.sleep(0.05)
        why = f"exited with status {proc.returncode}" if proc.poll() is not None else f"not ready in {timeout:.0f}s"
        proc.kill()
        proc.wait()
    raise RuntimeError(f"{name} did not start on a free loopback port ({attempts} tries; last: {why})")


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections for as long as the block runs.

    The port stays bound (without listening) by this process, so no other server can take it in the
    meantime: connecting is refused, reliably, which "a port that was free a moment ago" is not.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])
