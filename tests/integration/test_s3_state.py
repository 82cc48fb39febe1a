"""S3Backend against moto's real HTTP server (fixture ``moto_endpoint``): no decorators, no mocks.

What is particular to S3 (key layout, conditional writes refusing a lost update, listing pages,
botocore errors translated); what every backend must do is the state backend contract:
tests/contract/test_state_backend_contract.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest

import deployforge
from deployforge.errors import StateError
from deployforge.state.base import LockInfo, StateDocument
from deployforge.state.s3 import S3Backend

pytestmark = pytest.mark.integration

PREFIX = "teams/web/state"


def _client(endpoint: str):
    return boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    name = f"df-state-{uuid.uuid4().hex[:12]}"
    _client(moto_endpoint).create_bucket(Bucket=name)
    return name


def _backend(endpoint: str, bucket: str, prefix: str = PREFIX) -> S3Backend:
    return S3Backend(f"s3://{bucket}/{prefix}", region="us-east-1", endpoint_url=endpoint)


@pytest.fixture
def backend(moto_endpoint: str, bucket: str) -> S3Backend:
    return _backend(moto_endpoint, bucket)


def _doc(environment: str = "dev", serial: int = 1) -> StateDocument:
    return StateDocument(
        environment=environment,
        serial=serial,
        run_id=f"run-{serial}",
        updated_at="2024-05-01T12:00:00Z",
        resources={
            "web": {
                "type": "aws.s3.bucket",
                "target": "aws",
                "id": "web-bucket",
                "attributes": {"tags": {"team": "web"}},
                "outputs": {},
                "depends_on": [],
                "run_id": f"run-{serial}",
            }
        },
        pending=[{"resource": "db", "action": "create", "run_id": f"run-{serial}", "started_at": "now"}],
    )


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_module_import_does_not_import_boto3() -> None:
    src = str(Path(deployforge.__file__).resolve().parents[1])
    code = "import sys, deployforge.state.s3\nassert 'boto3' not in sys.modules and 'botocore' not in sys.modules"
    env = {**os.environ, "PYTHONPATH": src}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_round_trip_and_layout(backend: S3Backend, bucket: str, moto_endpoint: str) -> None:
    document = _doc()
    backend.write(document)

    loaded = backend.read("dev")
    assert loaded is not None
    assert loaded.to_json() == document.to_json()
    keys = [o["Key"] for o in _client(moto_endpoint).list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"{PREFIX}/dev/state.json"]

    loaded.serial = 2
    backend.write(loaded)
    assert backend.read("dev").serial == 2  # type: ignore[union-attr]


def test_bucket_root_without_prefix(moto_endpoint: str, bucket: str) -> None:
    backend = S3Backend(f"s3://{bucket}", endpoint_url=moto_endpoint, region="us-east-1")
    backend.write(_doc("prod"))
    assert _client(moto_endpoint).get_object(Bucket=bucket, Key="prod/state.json")["ContentLength"] > 0
    assert list(backend.environments()) == ["prod"]


def test_corrupt_state_object_is_a_state_error(backend: S3Backend, bucket: str, moto_endpoint: str) -> None:
    _client(moto_endpoint).put_object(Bucket=bucket, Key=f"{PREFIX}/dev/state.json", Body=b"{not json")
    with pytest.raises(StateError) as caught:
        backend.read("dev")
    assert "not valid JSON" in caught.value.message
    assert caught.value.hint and "version" in caught.value.hint


def test_write_refuses_a_lost_update(moto_endpoint: str, bucket: str) -> None:
    first = _backend(moto_endpoint, bucket)
    second = _backend(moto_endpoint, bucket)
    first.write(_doc(serial=1))

    a = first.read("dev")
    b = second.read("dev")
    assert a is not None and b is not None
    b.serial, b.run_id = 2, "run-b"
    second.write(b)

    a.serial = 2
    with pytest.raises(StateError) as caught:
        first.write(a)
    assert "changed since this run read it" in caught.value.message
    assert "serial 2" in caught.value.message and "run-b" in caught.value.message
    assert first.read("dev").run_id == "run-b"  # type: ignore[union-attr]


def test_write_refuses_when_state_appeared_after_reading_none(moto_endpoint: str, bucket: str) -> None:
    first = _backend(moto_endpoint, bucket)
    second = _backend(moto_endpoint, bucket)
    assert first.read("dev") is None
    second.write(_doc(serial=5))
    with pytest.raises(StateError, match="changed since this run read it"):
        first.write(_doc(serial=1))


def test_environments_follow_every_page(backend: S3Backend, moto_endpoint: str, bucket: str) -> None:
    names = [f"env-{n:02d}" for n in range(7)]
    for name in reversed(names):
        backend.write(_doc(name))
    backend.acquire_lock(LockInfo.new("locked-only", "r", "apply"))  # a lock without state is not listed
    _client(moto_endpoint).put_object(Bucket=bucket, Key=f"{PREFIX}/stray.json", Body=b"{}")
    _client(moto_endpoint).put_object(Bucket=bucket, Key="elsewhere/x/state.json", Body=b"{}")

    pages: list[int] = []
    lister = _backend(moto_endpoint, bucket)
    lister.list_page_size = 3
    lister._s3.meta.events.register("after-call.s3.ListObjectsV2", lambda **kw: pages.append(1))

    assert list(lister.environments()) == names
    assert len(pages) >= 3  # 9 keys under the prefix at 3 a page


def test_unreachable_endpoint_fails_fast_with_a_state_error(dead_port: int) -> None:
    endpoint = f"http://127.0.0.1:{dead_port}"
    backend = S3Backend("s3://some-bucket/state", region="us-east-1", endpoint_url=endpoint)
    started = time.monotonic()
    with pytest.raises(StateError) as caught:
        backend.read("dev")
    assert time.monotonic() - started < 15
    assert endpoint in caught.value.message
    assert caught.value.hint and "endpoint_url" in caught.value.hint


def test_missing_bucket_is_a_state_error_with_a_hint(moto_endpoint: str) -> None:
    backend = _backend(moto_endpoint, "df-no-such-bucket")
    for action in (
        lambda: backend.read("dev"),
        lambda: backend.write(_doc()),
        lambda: backend.acquire_lock(LockInfo.new("dev", "r", "apply")),
        lambda: list(backend.environments()),
    ):
        with pytest.raises(StateError) as caught:
            action()
        assert "df-no-such-bucket" in caught.value.message and "does not exist" in caught.value.message
        assert caught.value.hint and "aws s3 mb s3://df-no-such-bucket" in caught.value.hint


def test_bad_urls_are_state_errors() -> None:
    with pytest.raises(StateError, match="not an S3 state url"):
        S3Backend("gs://bucket/x")
    with pytest.raises(StateError, match="names no bucket"):
        S3Backend("s3:///x")


def test_description_names_bucket_and_prefix(moto_endpoint: str, bucket: str) -> None:
    backend = _backend(moto_endpoint, bucket, prefix="/a/b/")
    assert backend.description == f"s3://{bucket}/a/b at {moto_endpoint}"


def test_an_apply_writes_s3_state_in_batches_and_every_write_stays_conditional(moto_endpoint: str, bucket: str) -> None:
    """S3 cannot append: the apply engine writes the whole document per batch of records (group commit),
    each put conditional on the ETag of the previous one, and the result is the same state."""
    from deployforge.engine.apply import Applier
    from deployforge.engine.planner import make_plan, refresh
    from deployforge.model.config import Resource
    from deployforge.providers.memory import MemoryProvider

    backend = _backend(moto_endpoint, bucket)
    sent: list[dict[str, str]] = []
    backend._s3.meta.events.register(
        "provide-client-params.s3.PutObject",
        lambda params, **_: sent.append({k: params[k] for k in ("IfMatch", "IfNoneMatch") if k in params}),
    )
    declared = {
        f"r{i}": Resource(f"r{i}", "memory_object", "mem", {"name": f"r{i}"}, {}, depends_on=()) for i in range(40)
    }
    provider = MemoryProvider()
    state = backend.read("dev") or StateDocument(environment="dev")
    plan = make_plan(
        declared,
        state,
        refresh(declared, state, {"mem": provider}),
        provider.type_info,
        environment="dev",
        config_hash="h",
    )
    outcome = Applier(
        plan=plan, resources=declared, providers={"mem": provider}, backend=backend, state=state, run_id="run-s3"
    ).run()
    assert outcome.ok
    stored = _backend(moto_endpoint, bucket).read("dev")
    assert stored is not None and set(stored.resources) == set(declared) and stored.pending == []
    assert stored.serial == 80  # begin + finish per resource, in order
    assert 0 < len(sent) <= 80  # at most one put per record, usually far fewer (batched)
    assert sent[0] == {"IfNoneMatch": "*"} and all("IfMatch" in s for s in sent[1:])  # never unconditional
