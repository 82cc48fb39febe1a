"""LocalBackend, what is particular to the filesystem (file layout, temporary files, damaged files,
a lock taken by another process, file modes). What every backend must do (round trips, locks and
their races, release and force-unlock, baselines, the drift register, crash recovery) is the state
backend contract: tests/contract/test_state_backend_contract.py."""

from __future__ import annotations

import json
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


def test_state_file_is_readable_json(backend: LocalBackend) -> None:
    backend.write(_doc())
    data = json.loads((backend.root / "state" / "dev.json").read_text(encoding="utf-8"))
    assert data["version"] == 1 and data["environment"] == "dev" and data["serial"] == 1


def test_a_saved_plan_or_state_is_readable_by_another_user(tmp_path: Path) -> None:
    """0644 with the usual umask (mkstemp alone makes 0600): a later CI step running as another
    user (GitHub's runner: uid 1001 after an Action that ran as root) reads the plan."""
    import stat

    from deployforge.state.local import _FILE_MODE, atomic_write_json

    target = tmp_path / "reports" / "plan.json"
    atomic_write_json(target, {"x": 1})
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode == _FILE_MODE and mode & stat.S_IROTH, oct(mode)
