"""Linear at every size: cost per item may not grow more than 2x from n to 10n.

Counted where counting is exact (bytes written to state, bytes allocated, provider calls, garbage
collections), never timed: timings live in the benchmarks.
The full-size figures (1k / 10k / 100k) come from ``benchmarks/bench_scaling.py``.
"""

from __future__ import annotations

import gc
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


def _load_memory(root: Path, count: int) -> float:
    """Peak bytes allocated per resource while reading a baseline of ``count`` resources."""
    backend = LocalBackend(root / str(count))
    backend.write_baseline(_baseline(count))
    gc.collect()
    tracemalloc.start()
    loaded = backend.read_baseline("prod")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert loaded is not None and len(loaded.resources) == count
    return peak / count


def test_baseline_load_memory_is_linear(tmp_path: Path) -> None:
    """Counted, not timed: the load's time (linear, 1k/10k/100k) is benchmarks/bench_scaling.py's
    figure; what made it superlinear (a collection walking the growing heap) is counted below."""
    small, large = _load_memory(tmp_path, 2_000), _load_memory(tmp_path, 20_000)
    assert large <= 2 * small, (small, large)


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
