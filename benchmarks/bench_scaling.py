"""Scaling run: does each cost grow linearly with the number of resources?

For each size (default 1,000 / 10,000 / 100,000), each in a fresh process (``_harness.measure``):

* apply      - the apply engine end to end over the in-memory provider (state read, refresh, plan,
               apply with the journal, baseline write; ``bench_apply.one_apply``)
* state load - reading that state back (document + journal) from the local backend
* drift e2e  - what `drift` waits for once the cloud has been read: load the baseline from the
               local backend, diff every resource and classify (5% drifted)

Prints wall time (min of the repeats), time per resource, CPU of the process, peak memory, and per
operation whether the cost per resource grows at most 2x for each 10x in size: "linear" or "NOT
linear". The verdict uses process CPU time, which other jobs on a shared machine disturb far less
than wall time; the wall-time growth is printed beside it.

    python benchmarks/bench_scaling.py [--sizes 1000,10000,100000] [--repeat 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import repeat, summary, write_json
from bench_apply import one_apply, resources
from bench_drift import make

from deployforge.drift.detect import build_report
from deployforge.engine.apply import Applier
from deployforge.engine.planner import make_plan, refresh
from deployforge.providers.memory import MemoryProvider
from deployforge.state.base import StateDocument
from deployforge.state.local import LocalBackend


def state_load(n: int) -> dict[str, Any]:
    declared = resources(n)
    provider = MemoryProvider()
    with tempfile.TemporaryDirectory() as root:
        backend = LocalBackend(Path(root))
        backend.rewrite_after_run_bytes = 0  # keep the journal: the load replays it
        state = StateDocument(environment="bench")
        plan = make_plan(
            declared,
            state,
            refresh(declared, state, {"mem": provider}),
            provider.type_info,
            environment="b",
            config_hash="h",
        )
        Applier(
            plan=plan, resources=declared, providers={"mem": provider}, backend=backend, state=state, run_id="r"
        ).run()
        del plan, state, declared, provider
        gc.collect()
        started, cpu = time.perf_counter(), time.process_time()
        loaded = LocalBackend(Path(root)).read("bench")
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert loaded is not None and len(loaded.resources) == n
        return {"wall_s": wall, "cpu_s": cpu}


def drift_e2e(n: int) -> dict[str, Any]:
    baseline, view = make(n, 5)
    with tempfile.TemporaryDirectory() as root:
        LocalBackend(Path(root)).write_baseline(baseline)
        del baseline
        gc.collect()
        started, cpu = time.perf_counter(), time.process_time()
        loaded = LocalBackend(Path(root)).read_baseline("prod")
        assert loaded is not None
        report = build_report(environment="prod", baseline=loaded, view=view, production=True)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert len(report.active) == n // 20
        return {"wall_s": wall, "cpu_s": cpu}


OPERATIONS = {
    "apply": lambda n: one_apply(n, False),
    "state load": state_load,
    "drift e2e": drift_e2e,
}


def growth(rows: list[dict[str, Any]], key: str) -> float:
    """The largest growth of ``key`` per resource between consecutive sizes, scaled to a 10x step."""
    import itertools
    import math

    worst = 0.0
    for a, b in itertools.pairwise(rows):
        ratio = (b[key] / b["resources"]) / (a[key] / a["resources"])
        worst = max(worst, ratio ** (1 / math.log10(b["resources"] / a["resources"])))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only", help="comma-separated operations (apply, state load, drift e2e)")
    ap.add_argument("--json", help="merge the figures into this JSON file (for scripts/perf_chart.py)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    wanted = [o.strip() for o in args.only.split(",")] if args.only else list(OPERATIONS)
    out: dict[str, Any] = {}
    for name in wanted:
        rows = []
        for n in sizes:
            runs = repeat(args.repeat, OPERATIONS[name], n)
            best, _median = summary(runs, "wall_s")
            row = {
                "resources": n,
                "wall_min_s": best,
                "per_resource_us": best / n * 1e6,
                "cpu_min_s": summary(runs, "cpu_s")[0],
                "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            }
            rows.append(row)
            print(
                f"{name:<11} {n:>8,}: {best:8.3f} s  {row['per_resource_us']:8.1f} us/resource  "
                f"CPU {row['cpu_min_s']:7.2f} s  peak {row['peak_rss_mb']:7.0f} MB",
                flush=True,
            )
        cpu_growth, wall_growth = growth(rows, "cpu_min_s"), growth(rows, "wall_min_s")
        verdict = "linear" if cpu_growth <= 2 else "NOT linear"
        print(
            f"{name:<11} cost per resource, worst growth per 10x in size: CPU x{cpu_growth:.2f}, "
            f"wall x{wall_growth:.2f} -> {verdict}\n",
            flush=True,
        )
        out[name] = {"rows": rows, "cpu_growth": cpu_growth, "wall_growth": wall_growth, "verdict": verdict}
    write_json(args.json, {"scaling": out})


if __name__ == "__main__":
    main()
