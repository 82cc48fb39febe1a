"""Linear at every size: cost per item may not grow more than 2x from n to 10n.

Counted where counting is exact (bytes written to state, provider calls), timed only where it
cannot be counted (parsing), with the best of several runs and sizes large enough to dwarf noise.
The full-size figures (1k / 10k / 100k) come from ``benchmarks/bench_scaling.py``.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from pathlib import Path

from deployforge.state.baseline import Baseline, BaselineResource
from deployforge.state.local import LocalBackend


def _baseline(count: int) -> Baseline:
    resources = {
        f"r{i:06d}": BaselineResource(
            f"r{i:06d}",
            "aws_security_group",
            "main",
            f"sg-{i:08x}",
            {
                "name": f"r{i}",
                "ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8"]}],
                "tags": {"owner": "platform", "app": f"app-{i % 50}"},
            },
        )
        for i in range(count)
    }
    return Baseline("prod", "b1", "2026-12-04T00:00:00Z", "c" * 64, resources=resources)


def _load_cost(root: Path, count: int) -> tuple[float, float]:
    """(best seconds per resource over 5 loads, peak bytes allocated per resource) of reading a baseline."""
    backend = LocalBackend(root / str(count))
    backend.write_baseline(_baseline(count))
    best = float("inf")
    for _ in range(5):
        gc.collect()
        started = time.process_time()
        loaded = backend.read_baseline("prod")
        best = min(best, time.process_time() - started)
        assert loaded is not None and len(loaded.resources) == count
        del loaded
    tracemalloc.start()
    backend.read_baseline("prod")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best / count, peak / count


def test_baseline_load_is_linear(tmp_path: Path) -> None:
    small_time, small_memory = _load_cost(tmp_path, 3_000)
    large_time, large_memory = _load_cost(tmp_path, 30_000)
    assert large_memory <= 2 * small_memory, (small_memory, large_memory)
    assert large_time <= 2 * small_time, (small_time, large_time)


def test_loading_a_baseline_runs_no_garbage_collection_and_reads_compact_json(tmp_path: Path) -> None:
    """Parsing creates objects and no garbage: a collection during the load only walks the growing heap
    (it tripled the load of 100,000 resources). Counted through gc.callbacks, which is deterministic."""
    backend = LocalBackend(tmp_path)
    backend.write_baseline(_baseline(5_000))
    [path] = (tmp_path / "baselines" / "prod").glob("*.json")
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") == 1 and '": ' not in text  # compact: no indentation, no spaces

    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.collect()
    gc.callbacks.append(count)
    try:
        loaded = backend.read_baseline("prod")
    finally:
        gc.callbacks.remove(count)
    assert loaded is not None and len(loaded.resources) == 5_000
    # at most the one young-generation collection the paused allocations trigger when collection resumes
    # (a document of 8 MB or more is frozen first: none); the code before ran 57 here
    assert len(collections) <= 1, collections
