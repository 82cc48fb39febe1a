"""S3Backend against moto's real HTTP server (fixture ``moto_endpoint``): no decorators, no mocks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest

import deployforge
from deployforge.errors import LockHeldError, StateError
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


def test_missing_environment_reads_none(backend: S3Backend) -> None:
    assert backend.read("nope") is None
    assert backend.read_lock("nope") is None


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


def test_lock_held_names_the_holder(backend: S3Backend) -> None:
    holder = LockInfo.new("dev", "run-holder-42", "apply", ci_run_url="https://ci.example/runs/42")
    assert backend.acquire_lock(holder) == holder
    assert backend.read_lock("dev") == holder

    with pytest.raises(LockHeldError) as caught:
        backend.acquire_lock(LockInfo.new("dev", "run-other", "apply"))
    error = caught.value
    assert error.lock_id == holder.lock_id
    assert "run-holder-42" in error.message
    assert holder.actor in error.message and holder.host in error.message
    assert "https://ci.example/runs/42" in error.message
    assert "stale" not in error.message
    assert error.hint and holder.lock_id in error.hint
    assert error.holder["run_id"] == "run-holder-42"


def test_lock_of_dead_local_process_is_reported_stale(backend: S3Backend) -> None:
    dead = LockInfo(
        lock_id=str(uuid.uuid4()),
        environment="dev",
        run_id="run-dead",
        actor="ci",
        host=socket.gethostname(),
        pid=_dead_pid(),
        created_at=time.time(),
    )
    backend.acquire_lock(dead)
    with pytest.raises(LockHeldError) as caught:
        backend.acquire_lock(LockInfo.new("dev", "run-new", "apply"))
    assert "stale" in caught.value.message
    assert f"deployforge state unlock {dead.lock_id}" in (caught.value.hint or "")


def test_locks_are_per_environment(backend: S3Backend) -> None:
    backend.acquire_lock(LockInfo.new("dev", "r1", "apply"))
    backend.acquire_lock(LockInfo.new("prod", "r2", "apply"))
    assert backend.read_lock("dev").run_id == "r1"  # type: ignore[union-attr]
    assert backend.read_lock("prod").run_id == "r2"  # type: ignore[union-attr]


def _race(backends: list[S3Backend], environment: str) -> tuple[list[LockInfo], list[LockHeldError]]:
    barrier = threading.Barrier(len(backends))
    winners: list[LockInfo] = []
    losers: list[LockHeldError] = []
    others: list[BaseException] = []

    def contend(backend: S3Backend, n: int) -> None:
        info = LockInfo.new(environment, f"run-{n}", "apply")
        barrier.wait()
        try:
            winners.append(backend.acquire_lock(info))
        except LockHeldError as exc:
            losers.append(exc)
        except BaseException as exc:
            others.append(exc)

    threads = [threading.Thread(target=contend, args=(b, n)) for n, b in enumerate(backends)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not others, others
    return winners, losers


def test_racing_threads_exactly_one_wins(moto_endpoint: str, bucket: str) -> None:
    contenders = 3
    backends = [_backend(moto_endpoint, bucket) for _ in range(contenders)]
    for backend in backends:
        backend.read_lock("warm-up")  # create each client before the race starts
    for round_ in range(20):
        environment = f"race-{round_}"
        winners, losers = _race(backends, environment)
        assert len(winners) == 1, f"round {round_}: {len(winners)} winners"
        assert len(losers) == contenders - 1
        assert all(loser.lock_id == winners[0].lock_id for loser in losers)
        assert backends[0].read_lock(environment) == winners[0]


def test_release_only_removes_own_lock(backend: S3Backend) -> None:
    mine = LockInfo.new("dev", "run-mine", "apply")
    theirs = LockInfo.new("dev", "run-theirs", "apply")
    backend.acquire_lock(mine)

    backend.release_lock(theirs)  # not the holder: nothing happens
    assert backend.read_lock("dev") == mine

    backend.release_lock(mine)
    assert backend.read_lock("dev") is None
    backend.release_lock(mine)  # already gone: no error

    # A lock force-removed and retaken by another run is not released by the first run.
    backend.acquire_lock(mine)
    backend.force_unlock(mine.lock_id, force=True)  # this test process holds it: still running
    backend.acquire_lock(theirs)
    backend.release_lock(mine)
    assert backend.read_lock("dev") == theirs


def test_force_unlock_finds_the_lock_in_any_environment(backend: S3Backend) -> None:
    dev = LockInfo.new("dev", "r-dev", "apply")
    prod = LockInfo.new("prod", "r-prod", "apply")
    backend.acquire_lock(dev)
    backend.acquire_lock(prod)

    removed = backend.force_unlock(prod.lock_id, force=True)
    assert removed == prod
    assert backend.read_lock("prod") is None
    assert backend.read_lock("dev") == dev

    with pytest.raises(StateError) as caught:
        backend.force_unlock("no-such-lock")
    assert "no lock with id no-such-lock" in caught.value.message
    assert caught.value.exit_code == 2  # a lock id nobody holds is bad input
    assert caught.value.hint


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


def test_unlocking_a_lock_whose_run_is_still_running_here_needs_force(backend: S3Backend) -> None:
    import dataclasses

    from deployforge.errors import LockHeldError

    live = LockInfo.new("dev", "r-live", "apply")  # held by this (running) process
    backend.acquire_lock(live)
    with pytest.raises(LockHeldError) as caught:
        backend.force_unlock(live.lock_id)
    assert "is in use" in caught.value.message and "--force" in (caught.value.hint or "")
    assert backend.read_lock("dev") == live
    backend.force_unlock(live.lock_id, force=True)
    gone = dataclasses.replace(LockInfo.new("dev", "r-gone", "apply"), pid=2**22 + 7)  # no such process
    backend.acquire_lock(gone)
    assert backend.force_unlock(gone.lock_id) == gone  # a stale lock needs no --force


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
