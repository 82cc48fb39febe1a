"""Planning 10,000 resources against the in-memory provider (target: diff and plan <= 1 s).

Run: python benchmarks/bench_plan.py [--resources N]

Prints, in one run:
  * refresh (reading every object through the provider, 10 threads),
  * make_plan (the pure diff + plan), on a first plan (all creates) and on a
    steady-state plan (all recorded, a few changed),
  * the naive approach: re-sorting the graph and re-resolving every reference
    by scanning the whole resource list for each resource (O(n^2)), on a slice,
    extrapolated - what a straightforward implementation does.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from deployforge.engine.planner import Observed, make_plan, refresh
from deployforge.model.config import Resource
from deployforge.providers.memory import MemoryProvider
from deployforge.state.base import StateDocument


def build(n: int) -> dict[str, Resource]:
    out = {}
    for i in range(n):
        deps = (f"r{i - 1}",) if i % 10 else ()
        props = {"name": f"r{i}", "size": i % 50, "zone": "a", "labels": {"tier": "web", "n": str(i)}}
        if deps:
            props["parent"] = f"${{resources.r{i - 1}.id}}"
        out[f"r{i}"] = Resource(
            name=f"r{i}",
            type="memory_volume",
            target="mem",
            properties=props,
            tags={"owner": "team"},
            depends_on=deps,
        )
    return out


def timed(fn, repeat=3):
    samples = []
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t)
    return min(samples), statistics.median(samples), result


def naive_plan(resources: dict[str, Resource], state: StateDocument, limit: int) -> float:
    """For each resource: scan the full list to find its dependencies' outputs (what a naive planner does)."""
    items = list(resources.values())
    t = time.perf_counter()
    for r in items[:limit]:
        for dep in r.depends_on:
            for other in items:  # linear search per dependency
                if other.name == dep:
                    _ = state.resources.get(other.name, {}).get("outputs", {})
                    break
        # and re-sort the whole graph each time to find where it goes
        sorted(items, key=lambda x: len(x.depends_on))
    elapsed = time.perf_counter() - t
    return elapsed * len(items) / limit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resources", type=int, default=10_000)
    n = ap.parse_args().resources
    resources = build(n)
    provider = MemoryProvider()
    info = provider.type_info
    empty = StateDocument(environment="bench")

    best, median, first = timed(lambda: make_plan(resources, empty, {}, info, environment="bench", config_hash="x"))
    print(
        f"first plan    ({n} creates):            make_plan best {best * 1000:7.1f} ms, median {median * 1000:7.1f} ms"
    )

    # record everything as applied, then change 1%
    state = StateDocument(environment="bench")
    from deployforge.engine.planner import spec_for

    outputs: dict[str, dict] = {}
    for name in first.resources:
        r = resources[name.name]
        live = provider.create(spec_for(r, outputs))
        outputs[r.name] = dict(live.outputs)
        state.resources[r.name] = {
            "type": r.type,
            "target": "mem",
            "id": live.id,
            "attributes": dict(live.attributes),
            "outputs": dict(live.outputs),
            "depends_on": list(r.depends_on),
        }
    for i in range(0, n, 100):
        rid = state.resources[f"r{i}"]["id"]
        provider.tamper("memory_volume", rid, size=999)

    best_r, median_r, observed = timed(lambda: refresh(resources, state, {"mem": provider}), repeat=2)
    print(f"refresh       ({n} reads, 10 threads):   best {best_r * 1000:7.1f} ms, median {median_r * 1000:7.1f} ms")
    best, median, steady = timed(
        lambda: make_plan(resources, state, observed, info, environment="bench", config_hash="x")
    )
    counts = steady.counts()
    print(
        f"steady plan   ({counts['update']} updates, {counts['no-op']} unchanged): make_plan best "
        f"{best * 1000:7.1f} ms, median {median * 1000:7.1f} ms"
    )
    total = best + best_r
    print(f"diff and plan total (refresh + make_plan): {total * 1000:.1f} ms  (target <= 1000 ms)")
    naive = naive_plan(resources, state, limit=max(1, n // 20))
    print(
        f"naive planner (linear lookups + re-sort per resource), extrapolated: {naive * 1000:.0f} ms "
        f"-> ours is {naive / best:.0f}x faster"
    )
    _ = Observed


if __name__ == "__main__":
    main()
