"""The sandbox server process: moto's WSGI app on loopback, saving its state as it changes.

Started by ``up`` as ``python -m deployforge.providers.sandbox serve --root ROOT``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from deployforge.providers.sandbox import (
    HEALTH_PATH,
    INFO_FILE,
    REGION,
    SAVE_INTERVAL,
    STOP_TIMEOUT,
    SandboxInfo,
    logger,
    read_info,
    remove_file,
)
from deployforge.providers.sandbox.persistence import Persistence

# == the server process ===============================================================


class _ReadWriteLock:
    """Many requests at once (shared), or one save (exclusive); a waiting save goes first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self, timeout: float) -> Iterator[bool]:
        deadline = time.monotonic() + timeout
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                acquired = not (self._writer or self._readers)
                if acquired:
                    self._writer = True
            finally:
                self._writers_waiting -= 1
                self._cond.notify_all()
        try:
            yield acquired
        finally:
            if acquired:
                with self._cond:
                    self._writer = False
                    self._cond.notify_all()


_READ_ACTION_PREFIXES = ("Describe", "List", "Get", "BatchGet", "Query", "Scan")


def _may_change_state(environ: dict[str, Any]) -> bool:
    """False for requests that only read (so read-heavy plan / drift runs cause no saves).

    REST reads are GET/HEAD; JSON-protocol services name the action in
    ``X-Amz-Target``; query-protocol services (EC2, autoscaling, CloudWatch...)
    in the form body's ``Action``. Anything unrecognised counts as a change.
    """
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    if method in ("GET", "HEAD", "OPTIONS"):
        return False
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return not str(target).rpartition(".")[2].startswith(_READ_ACTION_PREFIXES)
    action = urllib.parse.parse_qs(str(environ.get("QUERY_STRING", ""))).get("Action")
    if not action and str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded"):
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            length = -1
        if length >= 0:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action")
    if action:
        return not action[0].startswith(_READ_ACTION_PREFIXES)
    return True


class _Server:
    def __init__(self, root: Path, port: int):
        self.root = root
        self.port = port
        self.persistence = Persistence(root)
        self.lock = _ReadWriteLock()
        self.dirty = False
        self.stopping = threading.Event()
        self.restored_ok = False
        self.httpd: Any = None

    def app(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        health = json.dumps({"service": "deployforge-sandbox", "pid": os.getpid(), "root": str(self.root)}).encode()

        def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == HEALTH_PATH:
                start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(health)))])
                return [health]
            changes = _may_change_state(environ)  # before moto consumes the request body
            with self.lock.shared():
                result = inner(environ, start_response)
                try:
                    body = list(result)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
                if changes:
                    self.dirty = True
            return body

        return application

    def save(self, *, final: bool) -> None:
        """Save the backends if there is anything new; ``final`` waits longer and saves regardless."""
        if not self.restored_ok:
            return  # never overwrite a saved state this process did not load
        blob: bytes | None = None
        for _ in range(3):
            with self.lock.exclusive(timeout=STOP_TIMEOUT / 2 if final else 1.0) as acquired:
                if not acquired and not final:
                    return  # a long request is running; try again at the next interval
                self.dirty = False
                try:
                    blob = self.persistence.dump()
                    break
                except RuntimeError as exc:  # "changed size during iteration": only possible unlocked
                    logger.warning("saving the sandbox state failed (%s); retrying", exc)
                    self.dirty = True
                except Exception:
                    logger.exception("saving the sandbox state failed")
                    self.dirty = True
                    return
        if blob is None:
            return
        try:
            self.persistence.save(blob)
        except OSError as exc:
            logger.error("cannot write %s: %s", self.persistence.path, exc.strerror)
            self.dirty = True

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda *_: self.stopping.set())
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        self.persistence.restore()
        self.restored_ok = True
        if self.stopping.is_set():
            return 0
        try:
            self.httpd = make_server(
                "127.0.0.1",
                self.port,
                self.app(DomainDispatcherApplication(create_backend_app)),
                threaded=True,
            )
        except (OSError, SystemExit) as exc:  # werkzeug prints "Address already in use" and exits
            logger.error(
                "cannot listen on 127.0.0.1:%s: %s",
                self.port,
                getattr(exc, "strerror", None) or "the port is taken or not allowed",
            )
            return 1
        host, port = self.httpd.server_address[:2]
        os.environ["MOTO_PORT"] = str(port)  # moto builds some URLs (SQS queues, ...) from it
        from deployforge.providers.sandbox import clouds as sandbox_clouds

        clouds = sandbox_clouds.start(self.root)  # Google stand-ins and OpenBao, when installed
        info = SandboxInfo(
            endpoint=f"http://{host}:{port}",
            pid=os.getpid(),
            started_at=time.time(),
            region=REGION,
            root=self.root,
            warnings=(*self.persistence.warnings, *clouds.warnings),
            google_endpoint=clouds.google_endpoint,
            google_key_file=clouds.google_key_file,
            vault_addr=clouds.vault_addr,
            vault_token=clouds.vault_token,
        )
        thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-http", daemon=True
        )
        thread.start()
        _write_json_atomic(self.root / INFO_FILE, info.to_json())
        logger.info("sandbox listening on %s (pid %s)", info.endpoint, info.pid)

        while not self.stopping.wait(SAVE_INTERVAL):
            if self.dirty:
                self.save(final=False)

        logger.info("stopping: saving the sandbox state")
        clouds.stop()
        self.httpd.shutdown()
        thread.join(5)
        self.save(final=True)
        self.httpd.server_close()
        current = read_info(self.root)
        if current is not None and current.pid == os.getpid():
            remove_file(self.root / INFO_FILE)
        logger.info("sandbox stopped")
        return 0


def _write_json_atomic(path: Path, data: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        remove_file(Path(tmp))
        raise


def serve(root: Path, port: int = 0) -> int:
    """Run the sandbox server in this process until SIGTERM/SIGINT; returns the exit status."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return _Server(Path(root).resolve(), port).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deployforge.providers.sandbox",
        description="Run DeployForge's AWS sandbox server (started by `up`).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the moto server in the foreground")
    serve_cmd.add_argument("--root", required=True, type=Path, help="the folder holding sandbox.json")
    serve_cmd.add_argument("--port", type=int, default=0, help="loopback port (0: any free port)")
    args = parser.parse_args(argv)
    return serve(args.root, args.port)
