"""The local state journal: an apply writes what it changes (not the whole state per change), crash-safely."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from deployforge.engine.apply import Applier
from deployforge.engine.planner import make_plan, refresh
from deployforge.errors import StateError
from deployforge.model.config import Resource
from deployforge.providers.memory import MemoryProvider
from deployforge.state.base import StateDocument
from deployforge.state.local import LocalBackend


def _resources(count: int) -> dict[str, Resource]:
    return {
        f"r{i}": Resource(
            name=f"r{i}",
            type="memory_object",
            target="mem",
            properties={"name": f"r{i}", "size": i, "labels": {"team": "web"}},
            tags={"owner": "team"},
            depends_on=(f"r{i - 1}",) if i % 10 else (),
        )
        for i in range(count)
    }


def _apply(backend: LocalBackend, resources: dict[str, Resource], provider: MemoryProvider | None = None) -> Applier:
    provider = provider or MemoryProvider()
    state = backend.read("test") or StateDocument(environment="test")
    observed = refresh(resources, state, {"mem": provider})
    plan = make_plan(resources, state, observed, provider.type_info, environment="test", config_hash="h")
    applier = Applier(
        plan=plan, resources=resources, providers={"mem": provider}, backend=backend, state=state, run_id="run-1"
    )
    assert applier.run().ok
    return applier


def _bytes_per_resource(tmp_path: Path, count: int) -> float:
    backend = LocalBackend(tmp_path / f"n{count}")
    backend.journal_min_bytes = 0  # compact as soon as the journal outgrows the document
    _apply(backend, _resources(count))
    document = LocalBackend(backend.root).read("test")
    assert document is not None and len(document.resources) == count and document.pending == []
    return backend.bytes_written / count


def test_bytes_written_per_resource_stay_flat_from_n_to_10n(tmp_path: Path) -> None:
    # rewriting the whole document per change (the old way) makes this ratio about 10
    small, large = _bytes_per_resource(tmp_path, 150), _bytes_per_resource(tmp_path, 1500)
    assert large <= 2 * small, (small, large)
    assert large < 3000  # a few records' worth per resource (each entry is about 300 bytes)


def test_provider_calls_per_resource_stay_flat(tmp_path: Path) -> None:
    per = []
    for count in (100, 1000):
        provider = MemoryProvider()
        _apply(LocalBackend(tmp_path / f"c{count}"), _resources(count), provider)
        per.append(len(provider.calls) / count)
    assert per[0] == per[1] == 1.0  # one create each, nothing read again


def test_the_document_is_compact_and_the_changes_go_to_the_journal(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    backend.rewrite_after_run_bytes = 0  # (the end of the run rewrites a small document whole)
    _apply(backend, _resources(20))
    state_dir = tmp_path / "state"
    assert sorted(p.name for p in state_dir.iterdir()) == ["test.journal", "test.json"]
    document_text = (state_dir / "test.json").read_text(encoding="utf-8")
    assert document_text.count("\n") == 1 and ": " not in document_text  # compact, one line
    journal = (state_dir / "test.journal").read_text(encoding="utf-8").splitlines()
    token = json.loads(document_text)["journal"]
    assert json.loads(journal[0]) == {"journal": token}
    serials = [json.loads(line)["serial"] for line in journal[1:]]
    assert serials == sorted(serials) and serials[-1] == 40  # begin + finish per resource
    assert backend.fsyncs < 1 + 40  # records written in batches: at most one fsync each (usually fewer)

    fresh = LocalBackend(tmp_path).read("test")
    assert fresh is not None and fresh.serial == 40 and len(fresh.resources) == 20 and fresh.pending == []


def test_after_a_run_a_small_document_is_whole_again(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    _apply(backend, _resources(20))
    state_dir = tmp_path / "state"
    assert sorted(p.name for p in state_dir.iterdir()) == ["test.json"]
    document = json.loads((state_dir / "test.json").read_bytes())  # what people and tools read
    assert document["serial"] == 40 and len(document["resources"]) == 20 and document["pending"] == []


def test_one_write_and_one_fsync_per_batch(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    document = StateDocument(environment="test")
    backend.write(document)
    records = [
        document.record([["set", f"r{i}", {"type": "t", "target": "m", "id": str(i)}]], "run", "now") for i in range(5)
    ]
    before = backend.fsyncs
    assert backend.append_records("test", records)
    assert backend.fsyncs == before + 1
    assert LocalBackend(tmp_path).read("test").to_json() == document.to_json()  # type: ignore[union-attr]


def test_a_torn_last_record_is_ignored_and_cut_by_the_next_writer(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    document = StateDocument(environment="test")
    backend.write(document)
    first = document.record([["set", "a", {"type": "t", "target": "m", "id": "1"}]], "run", "now")
    assert backend.append_records("test", [first])
    backend.close()
    journal = tmp_path / "state" / "test.journal"
    with journal.open("ab") as fh:
        fh.write(b'{"serial": 2, "ops": [["set", "b", {"ty')  # a kill in the middle of an append

    seen = LocalBackend(tmp_path).read("test")
    assert seen is not None and set(seen.resources) == {"a"} and seen.serial == 1

    writer = LocalBackend(tmp_path)
    state = writer.read("test")
    assert state is not None
    second = state.record([["set", "c", {"type": "t", "target": "m", "id": "3"}]], "run-2", "later")
    assert writer.append_records("test", [second])
    after = LocalBackend(tmp_path).read("test")
    assert after is not None and set(after.resources) == {"a", "c"} and after.serial == 2


def test_a_journal_older_than_the_document_is_ignored(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    document = StateDocument(environment="test")
    backend.write(document)
    assert backend.append_records(
        "test", [document.record([["set", "a", {"type": "t", "target": "m", "id": "1"}]], "r", "t")]
    )
    backend.close()
    stale = (tmp_path / "state" / "test.journal").read_bytes()
    document.apply_ops([["del", "a"]])
    LocalBackend(tmp_path).write(document)  # compaction: a new document, the journal removed...
    (tmp_path / "state" / "test.journal").write_bytes(stale)  # ...unless killed in between
    seen = LocalBackend(tmp_path).read("test")
    assert seen is not None and seen.resources == {}


def test_a_damaged_record_in_the_middle_is_a_state_error_naming_the_line(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    document = StateDocument(environment="test")
    backend.write(document)
    records = [
        document.record([["set", f"r{i}", {"type": "t", "target": "m", "id": str(i)}]], "r", "t") for i in range(3)
    ]
    assert backend.append_records("test", records)
    backend.close()
    journal = tmp_path / "state" / "test.journal"
    lines = journal.read_bytes().split(b"\n")
    lines[2] = b"garbage"
    journal.write_bytes(b"\n".join(lines))
    with pytest.raises(StateError) as caught:
        LocalBackend(tmp_path).read("test")
    assert f"{journal}:3 is damaged" in caught.value.message and caught.value.hint


def test_compaction_rewrites_the_document_and_starts_a_new_journal(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    backend.journal_min_bytes = 0
    _apply(backend, _resources(300))
    state_dir = tmp_path / "state"
    document = json.loads((state_dir / "test.json").read_bytes())
    assert document["serial"] > 0  # rewritten during the apply, not only at its start
    journal = (state_dir / "test.journal").read_bytes() if (state_dir / "test.journal").exists() else b""
    assert len(journal) <= len((state_dir / "test.json").read_bytes()) + 4096
    seen = LocalBackend(tmp_path).read("test")
    assert seen is not None and seen.serial == 600 and len(seen.resources) == 300


def test_readers_during_an_apply_always_see_a_consistent_state(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    backend.journal_min_bytes = 0  # many compactions while the reader reads
    done = threading.Event()
    problems: list[str] = []
    serials: list[int] = []

    def read_loop() -> None:
        reader = LocalBackend(tmp_path)
        while not done.is_set():
            try:
                seen = reader.read("test")
            except StateError as exc:
                problems.append(exc.message)
                continue
            if seen is None:
                continue
            serials.append(seen.serial)
            recorded = len(seen.resources)
            # begin + finish per resource: serial = 2 x recorded + in flight (at most parallelism)
            if not (2 * recorded <= seen.serial <= 2 * recorded + len(seen.pending)) or len(seen.pending) > 10:
                problems.append(f"serial {seen.serial} with {recorded} resources, {len(seen.pending)} pending")

    thread = threading.Thread(target=read_loop)
    thread.start()
    try:
        _apply(backend, _resources(1500))
    finally:
        done.set()
        thread.join()
    assert problems == []
    assert len(serials) > 3 and serials == sorted(serials)


def test_only_intents_wait_for_an_fsync_and_every_record_is_written_at_once(tmp_path: Path) -> None:
    """An intent (before a cloud call) is fsynced before the call; an outcome is handed to the OS at
    once (a kill -9 loses nothing) and made durable by the next intent's fsync or the end of the run."""
    seen_by_cloud: list[tuple[str, int, int]] = []

    class Watching(MemoryProvider):
        def create(self, spec):  # type: ignore[no-untyped-def]
            # what a reader (another process) sees when the cloud is called: the intent is in the journal
            state = LocalBackend(tmp_path).read("test")
            assert state is not None
            seen_by_cloud.append((spec.name, len(state.pending), backend.fsyncs))
            assert any(p["resource"] == spec.name for p in state.pending)
            return super().create(spec)

    backend = LocalBackend(tmp_path)
    backend.rewrite_after_run_bytes = 0
    resources = _resources(30)
    provider = Watching()
    state = StateDocument(environment="test")
    backend.write(state)
    observed = refresh(resources, state, {"mem": provider})
    plan = make_plan(resources, state, observed, provider.type_info, environment="test", config_hash="h")
    applier = Applier(
        plan=plan,
        resources=resources,
        providers={"mem": provider},
        backend=backend,
        state=state,
        run_id="r",
        parallelism=1,
    )
    fsyncs_before = backend.fsyncs
    assert applier.run().ok
    assert len(seen_by_cloud) == 30
    # one fsync per intent (each also makes the previous outcome durable) and one at the end: not two per resource
    assert backend.fsyncs - fsyncs_before == 30 + 1
    after = LocalBackend(tmp_path).read("test")
    assert after is not None and len(after.resources) == 30 and after.pending == [] and after.serial == 60
