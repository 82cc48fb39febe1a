"""LocalBackend: the same behaviours the S3 backend's integration tests check, on the filesystem."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import deployforge
from deployforge.errors import LockHeldError, StateError
from deployforge.state.base import LockInfo, StateDocument
from deployforge.state.local import LocalBackend

SRC = str(Path(deployforge.__file__).resolve().parents[1])


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


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(tmp_path / ".deployforge")


def test_round_trip(backend: LocalBackend) -> None:
    document = _doc()
    backend.write(document)
    loaded = backend.read("dev")
    assert loaded is not None
    assert loaded.to_json() == document.to_json()
    assert (backend.root / "state" / "dev.json").is_file()

    loaded.serial = 2
    backend.write(loaded)
    assert backend.read("dev").serial == 2  # type: ignore[union-attr]


def test_missing_environment_reads_none(backend: LocalBackend) -> None:
    assert backend.read("nope") is None
    assert backend.read_lock("nope") is None
    assert list(backend.environments()) == []


def test_atomic_write_leaves_no_temporary_files(backend: LocalBackend) -> None:
    for serial in range(1, 6):
        backend.write(_doc(serial=serial))
    assert sorted(p.name for p in (backend.root / "state").iterdir()) == ["dev.json"]


def test_failed_write_keeps_the_old_document_and_no_temporary_file(backend: LocalBackend) -> None:
    backend.write(_doc(serial=1))
    broken = _doc(serial=2)
    broken.resources["web"]["attributes"]["bad"] = object()  # not JSON serialisable
    with pytest.raises(TypeError):
        backend.write(broken)
    assert backend.read("dev").serial == 1  # type: ignore[union-attr]
    assert sorted(p.name for p in (backend.root / "state").iterdir()) == ["dev.json"]


def test_corrupt_state_file_is_a_state_error_with_a_hint(backend: LocalBackend) -> None:
    path = backend.root / "state" / "dev.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"environment": "dev", "serial": ', encoding="utf-8")
    with pytest.raises(StateError) as caught:
        backend.read("dev")
    assert str(path) in caught.value.message
    assert caught.value.hint

    path.write_text('{"serial": 3}', encoding="utf-8")  # valid JSON, not state (no environment)
    with pytest.raises(StateError, match="not valid DeployForge state"):
        backend.read("dev")


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ("[]", "expected a JSON object, found list"),
        ('{"environment": "prod", "resources": {}}', "it is the state of environment 'prod', not of 'dev'"),
        ('{"environment": "dev", "resources": "x"}', "'resources' must be an object"),
        ('{"environment": "dev", "resources": {"a": null}}', "resources.a must be an object, found NoneType"),
        ('{"environment": "dev", "resources": {"a": {"target": "m"}}}', "resources.a.type is missing"),
        ('{"environment": "dev", "pending": [{"op": "x"}]}', "'pending' must be a list of operations"),
    ],
)
def test_a_damaged_state_document_says_what_is_wrong(backend: LocalBackend, document: str, says: str) -> None:
    path = backend.root / "state" / "dev.json"
    path.parent.mkdir(parents=True)
    path.write_text(document, encoding="utf-8")
    with pytest.raises(StateError) as caught:
        backend.read("dev")
    assert caught.value.message.startswith(f"state file {path} is not valid DeployForge state: {says}")
    assert caught.value.hint
    path.write_text('{\n  "environment": "dev",\n  "serial": ,\n}', encoding="utf-8")
    with pytest.raises(StateError, match=rf"state file {path}:3:13 is not valid JSON: Expecting value"):
        backend.read("dev")


def test_unreadable_lock_file_is_a_state_error(backend: LocalBackend) -> None:
    path = backend.root / "locks" / "dev.lock"
    path.parent.mkdir(parents=True)
    path.write_text("garbage", encoding="utf-8")
    with pytest.raises(StateError) as caught:
        backend.read_lock("dev")
    assert caught.value.hint and str(path) in caught.value.hint


def test_lock_held_names_the_holder(backend: LocalBackend) -> None:
    holder = LockInfo.new("dev", "run-holder-42", "apply", ci_run_url="https://ci.example/runs/42")
    assert backend.acquire_lock(holder) == holder
    assert backend.read_lock("dev") == holder

    with pytest.raises(LockHeldError) as caught:
        backend.acquire_lock(LockInfo.new("dev", "run-other", "apply"))
    error = caught.value
    assert error.lock_id == holder.lock_id
    assert "run-holder-42" in error.message
    assert holder.actor in error.message and holder.host in error.message
    assert "stale" not in error.message  # this test process is alive
    assert error.hint and holder.lock_id in error.hint
    assert error.holder["run_id"] == "run-holder-42"


def test_locks_are_per_environment(backend: LocalBackend) -> None:
    backend.acquire_lock(LockInfo.new("dev", "r1", "apply"))
    backend.acquire_lock(LockInfo.new("prod", "r2", "apply"))
    assert backend.read_lock("dev").run_id == "r1"  # type: ignore[union-attr]
    assert backend.read_lock("prod").run_id == "r2"  # type: ignore[union-attr]


def _contend(
    root: str,
    environment: str,
    n: int,
    start: multiprocessing.synchronize.Event,
    results: multiprocessing.Queue,
) -> None:
    backend = LocalBackend(Path(root))
    info = LockInfo.new(environment, f"run-{n}", "apply")
    start.wait(10)
    try:
        backend.acquire_lock(info)
        results.put(("won", info.lock_id))
    except LockHeldError as exc:
        results.put(("held", exc.lock_id))
    except BaseException as exc:
        results.put(("error", repr(exc)))


def test_racing_processes_exactly_one_wins(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    root = tmp_path / ".deployforge"
    contenders = 4
    for round_ in range(10):
        environment = f"race-{round_}"
        start = ctx.Event()
        results: multiprocessing.Queue = ctx.Queue()
        procs = [
            ctx.Process(target=_contend, args=(str(root), environment, n, start, results)) for n in range(contenders)
        ]
        for proc in procs:
            proc.start()
        start.set()
        outcomes = [results.get(timeout=30) for _ in procs]
        for proc in procs:
            proc.join(10)
        winners = [lock_id for kind, lock_id in outcomes if kind == "won"]
        assert len(winners) == 1, outcomes
        assert LocalBackend(root).read_lock(environment).lock_id == winners[0]  # type: ignore[union-attr]
        # the lock file appears complete (written aside, then linked into place): every loser reads
        # the winner, none a half-written file
        assert all(kind == "held" and detail == winners[0] for kind, detail in outcomes if kind != "won"), outcomes


def test_lock_left_by_a_dead_process_is_reported_stale(backend: LocalBackend) -> None:
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from deployforge.state.base import LockInfo
        from deployforge.state.local import LocalBackend

        info = LocalBackend(Path(sys.argv[1])).acquire_lock(LockInfo.new("dev", "run-crashed", "apply"))
        print(info.lock_id)
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-c", script, str(backend.root)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    dead_lock_id = done.stdout.strip()

    holder = backend.read_lock("dev")
    assert holder is not None and holder.lock_id == dead_lock_id
    assert holder.is_stale_here()
    with pytest.raises(LockHeldError) as caught:
        backend.acquire_lock(LockInfo.new("dev", "run-next", "apply"))
    assert "run-crashed" in caught.value.message
    assert "no longer running" in caught.value.message and "stale" in caught.value.message
    assert f"deployforge state unlock {dead_lock_id}" in (caught.value.hint or "")

    backend.force_unlock(dead_lock_id)
    backend.acquire_lock(LockInfo.new("dev", "run-next", "apply"))


def test_release_only_removes_own_lock(backend: LocalBackend) -> None:
    mine = LockInfo.new("dev", "run-mine", "apply")
    theirs = LockInfo.new("dev", "run-theirs", "apply")
    backend.acquire_lock(mine)

    backend.release_lock(theirs)
    assert backend.read_lock("dev") == mine

    backend.release_lock(mine)
    assert backend.read_lock("dev") is None
    backend.release_lock(mine)  # already gone: no error

    backend.acquire_lock(mine)
    backend.force_unlock(mine.lock_id, force=True)  # this test process holds it: still running
    backend.acquire_lock(theirs)
    backend.release_lock(mine)
    assert backend.read_lock("dev") == theirs


def test_force_unlock_finds_the_lock_in_any_environment(backend: LocalBackend) -> None:
    dev = LockInfo.new("dev", "r-dev", "apply")
    prod = LockInfo.new("prod", "r-prod", "apply")
    backend.acquire_lock(dev)
    backend.acquire_lock(prod)

    assert backend.force_unlock(prod.lock_id, force=True) == prod
    assert backend.read_lock("prod") is None
    assert backend.read_lock("dev") == dev

    with pytest.raises(StateError) as caught:
        backend.force_unlock("no-such-lock")
    assert "no lock with id no-such-lock" in caught.value.message
    assert caught.value.exit_code == 2  # a lock id nobody holds is bad input
    assert caught.value.hint


def test_environments_lists_state_files_sorted(backend: LocalBackend) -> None:
    for name in ("prod", "dev", "staging"):
        backend.write(_doc(name))
    backend.acquire_lock(LockInfo.new("locked-only", "r", "apply"))
    assert list(backend.environments()) == ["dev", "prod", "staging"]


def test_state_file_is_readable_json(backend: LocalBackend) -> None:
    backend.write(_doc())
    data = json.loads((backend.root / "state" / "dev.json").read_text(encoding="utf-8"))
    assert data["version"] == 1 and data["environment"] == "dev" and data["serial"] == 1


def test_unlocking_a_lock_whose_run_is_still_running_here_needs_force(backend: LocalBackend) -> None:
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


def test_a_saved_plan_or_state_is_readable_by_another_user(tmp_path: Path) -> None:
    """0644 with the usual umask (mkstemp alone makes 0600): a later CI step running as another
    user (GitHub's runner: uid 1001 after an Action that ran as root) reads the plan."""
    import stat

    from deployforge.state.local import _FILE_MODE, atomic_write_json

    target = tmp_path / "reports" / "plan.json"
    atomic_write_json(target, {"x": 1})
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode == _FILE_MODE and mode & stat.S_IROTH, oct(mode)
