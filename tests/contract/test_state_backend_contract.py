"""The state-backend contract (``deployforge.state.base.StateBackend``), one suite run against every
backend: ``LocalBackend`` on a temporary folder and ``S3Backend`` against moto's server (the worker's
``moto_server``, a new bucket per test).

A case gives a *factory*: every call is a new backend over the same storage, the way separate runs
(or processes, or CI jobs) see it. Where backends legitimately differ the case says so and the test
checks the backend's side of it: ``journaling`` (the backend appends records beside the document
rather than writing it whole per batch) and ``processes`` (its lock is raced by processes, not only
threads). What is specific to one backend (file or key layout, temporary files, torn journal lines,
S3's conditional writes and error translation) stays in tests/unit/test_local_state.py,
tests/unit/test_state_journal.py and tests/integration/test_s3_state.py.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deployforge.errors import LockHeldError, StateError
from deployforge.state.base import LockInfo, StateBackend, StateDocument
from deployforge.state.baseline import Baseline, BaselineResource

Factory = Callable[[], StateBackend]

# moto warns (from its server thread) when an error code it sends is missing from botocore's models
pytestmark = pytest.mark.filterwarnings("ignore:Exception.*does not match an error shape:UserWarning")


@dataclass(frozen=True)
class Case:
    id: str
    journaling: bool  # has append_records / sync_records / finish_records (JournalingBackend)
    processes: bool  # its lock is also raced by separate processes (fork) in this suite


CASES = [Case("local", journaling=True, processes=True), Case("s3", journaling=False, processes=False)]


def _local_factory(tmp_path: Path) -> Factory:
    from deployforge.state.local import LocalBackend

    root = tmp_path / ".deployforge"
    return lambda: LocalBackend(root)


def _s3_factory(request: pytest.FixtureRequest) -> Factory:
    import boto3

    from deployforge.state.s3 import S3Backend

    # the worker's moto server, not reset: a bucket of its own isolates the test (a reset re-creates
    # every service moto has loaded in this worker, about a second once EC2 is among them)
    endpoint = request.getfixturevalue("moto_server")
    bucket = f"df-contract-{uuid.uuid4().hex[:12]}"
    boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)

    def make() -> StateBackend:
        backend = S3Backend(f"s3://{bucket}/contract/state", region="us-east-1", endpoint_url=endpoint)
        backend.list_page_size = 2  # every listing of more than two keys follows pages
        return backend

    return make


@pytest.fixture(params=CASES, ids=[case.id for case in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def make(case: Case, request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    return _local_factory(tmp_path) if case.id == "local" else _s3_factory(request)


@pytest.fixture
def backend(make: Factory) -> StateBackend:
    return make()


def _doc(environment: str = "dev", serial: int = 1) -> StateDocument:
    return StateDocument(
        environment=environment,
        serial=serial,
        run_id=f"run-{serial}",
        updated_at="2026-12-04T12:00:00Z",
        resources={
            "web": {
                "type": "aws_s3_bucket",
                "target": "aws",
                "id": "web-bucket",
                "attributes": {"tags": {"team": "web", "note": "ünïcode ✓"}, "versioning": True},
                "outputs": {"arn": "arn:aws:s3:::web-bucket"},
                "depends_on": [],
                "run_id": f"run-{serial}",
            }
        },
        pending=[{"resource": "db", "action": "create", "run_id": f"run-{serial}", "started_at": "now"}],
        canary={"service": "web", "step": 2, "weights": [5, 25]},
    )


def _baseline(environment: str, baseline_id: str, size: int) -> Baseline:
    return Baseline(
        environment=environment,
        id=baseline_id,
        taken_at="2026-12-04T03:00:00Z",
        config_hash="c" * 64,
        commit="abc123",
        state_serial=4,
        resources={"web": BaselineResource("web", "aws_autoscaling_group", "main", "web", {"desired_capacity": size})},
    )


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- documents ------------------------------------------------------------------------------------


def test_everything_of_an_environment_never_written_is_none(backend: StateBackend) -> None:
    assert backend.read("nope") is None
    assert backend.read_lock("nope") is None
    assert backend.read_baseline("nope") is None
    assert backend.read_baseline("nope", "20261204T010000Z-aaaaaa") is None
    assert backend.list_baselines("nope") == []
    assert backend.read_drift_register("nope") is None
    assert list(backend.environments()) == []


def test_write_then_read_round_trips_for_every_run(make: Factory) -> None:
    writer = make()
    document = _doc()
    writer.write(document)
    assert writer.read("dev") is not None
    loaded = make().read("dev")  # another run
    assert loaded is not None
    assert loaded.to_json() == document.to_json()

    loaded.serial, loaded.run_id = 2, "run-2"
    loaded.apply_ops([["del", "web"], ["clear"]])
    reader = make()
    assert reader.read("dev") is not None  # the second writer read it first, as a run does
    reader.write(loaded)
    again = make().read("dev")
    assert again is not None and again.to_json() == loaded.to_json()
    assert again.resources == {} and again.pending == []
    assert make().read("other") is None  # environments do not share documents


def test_environments_lists_every_environment_with_state_sorted(make: Factory) -> None:
    backend = make()
    # every name the config allows (letters, digits, '_', '-', '.' not first) is stored as it is
    names = sorted([*(f"env-{n:02d}" for n in range(4)), "eu.prod", "Team_B-2"])
    for name in reversed(names):
        backend.write(_doc(name))
    # a lock, a baseline or a drift register alone does not make an environment with state
    backend.acquire_lock(LockInfo.new("locked-only", "r", "apply"))
    backend.write_baseline(_baseline("baseline-only", "20261204T010000Z-aaaaaa", 1))
    backend.write_drift_register("drift-only", {"environment": "drift-only", "records": {}})
    assert list(make().environments()) == names
    for name in names:
        assert make().read(name).environment == name  # type: ignore[union-attr]


def test_a_failed_write_leaves_the_previous_document_readable(case: Case, make: Factory) -> None:
    backend = make()
    first = _doc(serial=1)
    backend.write(first)
    assert backend.read("dev") is not None
    broken = _doc(serial=2)
    broken.resources["web"]["attributes"]["bad"] = object()  # not JSON: fails while writing
    with pytest.raises(TypeError):
        backend.write(broken)
    for reader in (backend, make()):
        current = reader.read("dev")
        assert current is not None and current.to_json() == first.to_json()

    if case.journaling:  # a record that cannot be written appends nothing
        state = backend.read("dev")
        assert state is not None
        record = state.record([["set", "bad", {"type": "t", "target": "x", "attributes": {"v": object()}}]], "r", "t")
        with pytest.raises(TypeError):
            backend.append_records("dev", [record])  # type: ignore[attr-defined]
        current = make().read("dev")
        assert current is not None and current.to_json() == first.to_json()

    # the backend still writes after the failure (it did not lose track of what it read)
    fresh = backend.read("dev")
    assert fresh is not None
    fresh.serial = 3
    backend.write(fresh)
    assert make().read("dev").serial == 3  # type: ignore[union-attr]


# -- records: what an apply hands over, and a crash before it finishes -----------------------------


def _hand_over(backend: StateBackend, state: StateDocument, records: Sequence[dict[str, Any]], sync: bool) -> bool:
    """What the Applier does with a batch of records (engine/apply.py ``_flush``): append them when the
    backend journals, else write the whole document. True when they were appended."""
    append = getattr(backend, "append_records", None)
    if append is not None and append(state.environment, records, sync=sync):
        return True
    backend.write(state.snapshot())
    return False


def _entry(n: int) -> dict[str, Any]:
    return {"type": "memory_object", "target": "mem", "id": f"m-{n}", "attributes": {"size": n}, "outputs": {}}


def test_records_survive_a_crash_between_append_and_finish(case: Case, make: Factory) -> None:
    assert hasattr(make(), "append_records") == case.journaling
    assert hasattr(make(), "finish_records") == case.journaling
    make().write(_doc(serial=1))

    run = make()
    state = run.read("dev")
    assert state is not None
    appended = []
    for n in range(4):
        begin = {"resource": f"r{n}", "action": "create", "run_id": "run-crash", "started_at": "t"}
        records = [
            state.record([["begin", begin]], "run-crash", f"t{n}a"),
            state.record([["end", f"r{n}"], ["set", f"r{n}", _entry(n)]], "run-crash", f"t{n}b"),
        ]
        appended.append(_hand_over(run, state, records, sync=n % 2 == 0))
    if case.journaling:
        assert all(appended), "a journaling backend appends small batches instead of rewriting the document"
        run.sync_records("dev")  # type: ignore[attr-defined]
        run.close()  # type: ignore[attr-defined]  # the process dies here: no finish_records
    else:
        assert not any(appended)
    del run

    recovered = make().read("dev")
    assert recovered is not None
    assert recovered.to_json() == state.to_json()
    assert recovered.serial == 9 and sorted(recovered.resources) == ["r0", "r1", "r2", "r3", "web"]

    # the next run goes on from the recovered document and finishes normally
    nxt = make()
    again = nxt.read("dev")
    assert again is not None
    _hand_over(nxt, again, [again.record([["del", "r0"], ["clear"]], "run-next", "t9")], sync=True)
    if case.journaling:
        nxt.finish_records(again)  # type: ignore[attr-defined]
    final = make().read("dev")
    assert final is not None and final.to_json() == again.to_json()
    assert final.serial == 10 and "r0" not in final.resources and final.pending == []


# -- locks -----------------------------------------------------------------------------------------


def test_a_second_acquire_is_refused_naming_the_holder(make: Factory) -> None:
    first, second = make(), make()
    holder = LockInfo.new("dev", "run-holder-42", "apply", ci_run_url="https://ci.example/runs/42")
    assert first.acquire_lock(holder) == holder
    assert second.read_lock("dev") == holder

    for contender in (first, second):
        with pytest.raises(LockHeldError) as caught:
            contender.acquire_lock(LockInfo.new("dev", "run-other", "apply"))
        error = caught.value
        assert error.lock_id == holder.lock_id
        assert error.holder == holder.to_json()
        assert "run-holder-42" in error.message and "https://ci.example/runs/42" in error.message
        assert holder.actor in error.message and holder.host in error.message
        assert "stale" not in error.message  # this test process is alive
        assert error.hint and holder.lock_id in error.hint
    assert make().read_lock("dev") == holder

    # locks are per environment
    other = LockInfo.new("prod", "run-prod", "apply")
    assert second.acquire_lock(other) == other
    assert make().read_lock("prod") == other and make().read_lock("dev") == holder


def test_a_lock_left_by_a_dead_process_is_reported_stale_and_unlocks_without_force(make: Factory) -> None:
    backend = make()
    dead = dataclasses.replace(LockInfo.new("dev", "run-crashed", "apply"), pid=_dead_pid())
    backend.acquire_lock(dead)
    with pytest.raises(LockHeldError) as caught:
        make().acquire_lock(LockInfo.new("dev", "run-next", "apply"))
    assert "run-crashed" in caught.value.message
    assert "no longer running" in caught.value.message and "stale" in caught.value.message
    assert f"deployforge state unlock {dead.lock_id}" in (caught.value.hint or "")

    assert make().force_unlock(dead.lock_id) == dead  # a stale lock needs no --force
    nxt = LockInfo.new("dev", "run-next", "apply")
    assert make().acquire_lock(nxt) == nxt


def test_release_removes_only_the_callers_own_lock(make: Factory) -> None:
    backend = make()
    mine = LockInfo.new("dev", "run-mine", "apply")
    theirs = LockInfo.new("dev", "run-theirs", "apply")
    backend.acquire_lock(mine)

    make().release_lock(theirs)  # not the holder: nothing happens
    assert backend.read_lock("dev") == mine
    backend.release_lock(mine)
    assert make().read_lock("dev") is None
    backend.release_lock(mine)  # already gone: no error
    backend.release_lock(LockInfo.new("never-locked", "r", "apply"))

    # a lock force-removed and retaken by another run is not released by the first run
    backend.acquire_lock(mine)
    make().force_unlock(mine.lock_id, force=True)  # this test process holds it: still running
    make().acquire_lock(theirs)
    backend.release_lock(mine)
    assert make().read_lock("dev") == theirs


def test_force_unlock_finds_the_lock_in_any_environment_and_refuses_a_live_one(make: Factory) -> None:
    backend = make()
    dev = LockInfo.new("dev", "r-dev", "apply")  # held by this (running) process
    prod = LockInfo.new("prod", "r-prod", "apply")
    backend.acquire_lock(dev)
    backend.acquire_lock(prod)

    with pytest.raises(LockHeldError) as live:
        make().force_unlock(prod.lock_id)
    assert "is in use" in live.value.message and "--force" in (live.value.hint or "")
    assert make().read_lock("prod") == prod

    assert make().force_unlock(prod.lock_id, force=True) == prod
    assert make().read_lock("prod") is None
    assert make().read_lock("dev") == dev

    with pytest.raises(StateError) as caught:
        make().force_unlock("no-such-lock")
    assert "no lock with id no-such-lock" in caught.value.message
    assert caught.value.exit_code == 2  # a lock id nobody holds is bad input
    assert caught.value.hint


def _race_threads(backends: list[StateBackend], environment: str) -> tuple[list[LockInfo], list[LockHeldError]]:
    barrier = threading.Barrier(len(backends))
    winners: list[LockInfo] = []
    losers: list[LockHeldError] = []
    others: list[BaseException] = []

    def contend(backend: StateBackend, n: int) -> None:
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


def test_racing_threads_exactly_one_wins(make: Factory) -> None:
    contenders = 3
    backends = [make() for _ in range(contenders)]
    for backend in backends:
        backend.read_lock("warm-up")  # create each client before the race starts
    for round_ in range(20):
        environment = f"race-{round_}"
        winners, losers = _race_threads(backends, environment)
        assert len(winners) == 1, f"round {round_}: {len(winners)} winners"
        assert len(losers) == contenders - 1
        # every loser names the winner (it never read a half-written lock)
        assert all(loser.lock_id == winners[0].lock_id for loser in losers)
        assert make().read_lock(environment) == winners[0]


def _contend(
    make: Factory, environment: str, n: int, start: Any, results: multiprocessing.Queue[tuple[str, str]]
) -> None:
    backend = make()
    info = LockInfo.new(environment, f"run-{n}", "apply")
    start.wait(10)
    try:
        backend.acquire_lock(info)
        results.put(("won", info.lock_id))
    except LockHeldError as exc:
        results.put(("held", str(exc.lock_id)))
    except BaseException as exc:
        results.put(("error", repr(exc)))


@pytest.mark.parametrize("case", [c for c in CASES if c.processes], ids=lambda c: c.id, indirect=True)
def test_racing_processes_exactly_one_wins(make: Factory) -> None:
    ctx = multiprocessing.get_context("fork")
    contenders = 4
    for round_ in range(10):
        environment = f"race-{round_}"
        start = ctx.Event()
        results: multiprocessing.Queue[tuple[str, str]] = ctx.Queue()
        procs = [ctx.Process(target=_contend, args=(make, environment, n, start, results)) for n in range(contenders)]
        for proc in procs:
            proc.start()
        start.set()
        outcomes = [results.get(timeout=30) for _ in procs]
        for proc in procs:
            proc.join(10)
        winners = [detail for kind, detail in outcomes if kind == "won"]
        assert len(winners) == 1, outcomes
        assert make().read_lock(environment).lock_id == winners[0]  # type: ignore[union-attr]
        assert all(kind == "held" and detail == winners[0] for kind, detail in outcomes if kind != "won"), outcomes


# -- baselines and the drift register ------------------------------------------------------------


def test_baselines_are_listed_oldest_first_and_the_latest_wins(make: Factory) -> None:
    backend = make()
    backend.write_baseline(_baseline("prod", "20261204T010000Z-aaaaaa", 2))
    backend.write_baseline(_baseline("prod", "20261204T020000Z-bbbbbb", 3))
    backend.write_baseline(_baseline("prod", "20261204T030000Z-cccccc", 4))
    backend.write_baseline(_baseline("dev", "20261204T040000Z-dddddd", 9))

    reader = make()
    assert reader.list_baselines("prod") == [
        "20261204T010000Z-aaaaaa",
        "20261204T020000Z-bbbbbb",
        "20261204T030000Z-cccccc",
    ]
    assert reader.read_baseline("prod") == _baseline("prod", "20261204T030000Z-cccccc", 4)
    assert reader.read_baseline("prod", "20261204T010000Z-aaaaaa") == _baseline("prod", "20261204T010000Z-aaaaaa", 2)
    assert reader.read_baseline("prod", "20261204T040000Z-dddddd") is None  # dev's, not prod's
    assert reader.read_baseline("prod", "nope") is None
    assert reader.read_baseline("dev") == _baseline("dev", "20261204T040000Z-dddddd", 9)
    assert list(reader.environments()) == []  # baselines are not environments with state


def test_the_newest_baseline_wins_even_within_the_same_second(make: Factory) -> None:
    """Ids sort by their run's start second; within one second (apply, then adopt) the write order decides."""
    backend = make()
    backend.write_baseline(_baseline("prod", "DF-TRC-2QBN00ZZZZ", 2))  # sorts last as text
    backend.write_baseline(_baseline("prod", "DF-TRC-2QBN00AAAA", 3))  # same second, written after
    assert make().read_baseline("prod").id == "DF-TRC-2QBN00AAAA"  # type: ignore[union-attr]
    assert make().list_baselines("prod") == ["DF-TRC-2QBN00ZZZZ", "DF-TRC-2QBN00AAAA"]


def test_the_drift_register_round_trips_per_environment(make: Factory) -> None:
    backend = make()
    doc = {"environment": "prod", "records": {"DF-5XJ-88B": {"resource": "web", "first_seen": "2026-11-20T03:00:00Z"}}}
    backend.write_drift_register("prod", doc)
    backend.write_drift_register("dev", {"environment": "dev", "records": {}})
    assert make().read_drift_register("prod") == doc
    assert make().read_drift_register("dev") == {"environment": "dev", "records": {}}
    backend.write_drift_register("prod", {"environment": "prod", "records": {}})  # replaced, not merged
    assert make().read_drift_register("prod") == {"environment": "prod", "records": {}}
    assert make().read_drift_register("staging") is None


# -- names that cannot be stored -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "team/dev", "../outside", "..", "."])
def test_an_environment_name_that_cannot_be_stored_is_refused(make: Factory, name: str) -> None:
    """The config refuses such names first (config/load.py); a backend must not trust its callers to:
    a name holding a path would read or write outside the environment (``../outside``)."""
    backend = make()
    calls: list[Callable[[], object]] = [
        lambda: backend.read(name),
        lambda: backend.write(StateDocument(environment=name)),
        lambda: backend.acquire_lock(LockInfo.new(name, "r", "apply")),
        lambda: backend.read_lock(name),
        lambda: backend.write_baseline(_baseline(name, "20261204T010000Z-aaaaaa", 1)),
        lambda: backend.read_baseline(name),
        lambda: backend.list_baselines(name),
        lambda: backend.write_drift_register(name, {"records": {}}),
        lambda: backend.read_drift_register(name),
    ]
    for call in calls:
        with pytest.raises(StateError, match="cannot be used as an environment name") as caught:
            call()
        assert caught.value.hint
    assert list(make().environments()) == []


def test_a_baseline_id_naming_another_environments_baseline_is_not_found(make: Factory) -> None:
    backend = make()
    backend.write_baseline(_baseline("dev", "20261204T010000Z-aaaaaa", 1))
    backend.write_baseline(_baseline("prod", "20261204T020000Z-bbbbbb", 2))
    assert backend.read_baseline("dev", "20261204T010000Z-aaaaaa") is not None
    for baseline_id in ("../dev/20261204T010000Z-aaaaaa", "../../dev/baselines/20261204T010000Z-aaaaaa", ".", ""):
        assert backend.read_baseline("prod", baseline_id) is None, baseline_id
