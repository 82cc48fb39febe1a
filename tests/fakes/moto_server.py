"""Run moto's server on a port the kernel picks, and say where it listens.

    python -m tests.fakes.moto_server --url-file /tmp/url   # writes http://127.0.0.1:PORT, serves until killed

For scripts (the container check) that need moto in another process: binding port 0 inside the
server leaves no window in which another process could take the port, which "pick a free port, then
start moto on it" has, and on a busy CI machine did.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve moto on a free loopback port until killed.")
    parser.add_argument("--url-file", required=True, help="write the endpoint URL here once listening")
    args = parser.parse_args(argv)
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with open(args.url_file + ".tmp", "w") as fh:
        fh.write(f"http://{host}:{port}")
    os.replace(args.url_file + ".tmp", args.url_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
