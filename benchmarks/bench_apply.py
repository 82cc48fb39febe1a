"""Apply benchmark: what `apply` costs end to end over the in-memory provider, at several sizes.

Each run is a fresh process (``_harness.measure``) that does what `deployforge apply` does around
the cloud calls: read the state from a local backend, refresh and plan, apply with 10 workers
(every operation journalled before its call and recorded after it, durable before going on), then
write the baseline. Reported per size: min / median wall time over the repeats, time per resource,
CPU of the process (all threads), peak memory, bytes written to state and fsyncs.

The naive approach, measured in the same run: the same engine with a backend that rewrites the whole
state document (pretty-printed, fsynced) for every change, which is what DeployForge did before the
journal (and what a straightforward implementation does). It is quadratic, so it runs at the
smaller sizes only. There is no peer to compare with: terraform and pulumi do not install from the
package registries this machine reaches.

    python benchmarks/bench_apply.py [--sizes 1000,10000] [--naive-sizes 300,1000] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from _harness import fmt, repeat, summary, write_json

from deployforge.engine.apply import Applier
from deployforge.engine.planner import make_plan, refresh
from deployforge.model.config import Resource
from deployforge.providers.memory import MemoryProvider
from deployforge.state.base import StateDocument
from deployforge.state.baseline import Baseline, BaselineResource
from deployforge.state.local import LocalBackend


class WholeDocumentBackend(LocalBackend):
    """The naive backend: every change rewrites the whole document (indented JSON, fsync, rename)."""

    append_records = None  # type: ignore[assignment]

    def write(self, document: StateDocument) -> None:
        path = self._state_path(document.environment)
        path.parent.mkdir(parents=True, exist_ok=True)
        blob = (json.dumps(document.to_json(), indent=2, sort_keys=True) + "\n").encode()
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        self.bytes_written += len(blob)
        self.fsyncs += 1


def resources(n: int) -> dict[str, Resource]:
    out = {}
    for i in range(n):
        deps = (f"r{i - 1}",) if i % 10 else ()
        props: dict[str, Any] = {"name": f"r{i}", "size": i % 50, "zone": "a", "labels": {"tier": "web", "n": str(i)}}
        if deps:
            props["parent"] = f"${{resources.r{i - 1}.id}}"
        out[f"r{i}"] = Resource(f"r{i}", "memory_volume", "mem", props, {"owner": "team"}, depends_on=deps)
    return out


def one_apply(n: int, naive: bool) -> dict[str, Any]:
    declared = resources(n)
    provider = MemoryProvider()
    with tempfile.TemporaryDirectory() as root:
        backend = (WholeDocumentBackend if naive else LocalBackend)(Path(root))
        import time

        started, cpu = time.perf_counter(), time.process_time()
        state = backend.read("bench") or StateDocument(environment="bench")
        observed = refresh(declared, state, {"mem": provider})
        plan = make_plan(declared, state, observed, provider.type_info, environment="bench", config_hash="h")
        applier = Applier(
            plan=plan, resources=declared, providers={"mem": provider}, backend=backend, state=state, run_id="run"
        )
        outcome = applier.run()
        assert outcome.ok
        final = applier.state
        baseline = Baseline(
            "bench",
            "run",
            "now",
            "h",
            resources={
                name: BaselineResource(name, e["type"], e["target"], e["id"], e["attributes"])
                for name, e in final.resources.items()
            },
        )
        backend.write_baseline(baseline)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        check = LocalBackend(Path(root)).read("bench")
        assert check is not None and len(check.resources) == n and check.pending == []
        return {"wall_s": wall, "cpu_s": cpu, "bytes_written": backend.bytes_written, "fsyncs": backend.fsyncs}


def report(label: str, n: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    best, median = summary(runs, "wall_s")
    row = {
        "resources": n,
        "wall_min_s": best,
        "wall_median_s": median,
        "per_resource_ms": best / n * 1000,
        "cpu_min_s": summary(runs, "cpu_s")[0],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "bytes_per_resource": runs[0]["bytes_written"] / n,
        "fsyncs": runs[0]["fsyncs"],
    }
    print(
        f"{label:<28} {n:>7,} resources: {fmt(runs, 'wall_s')}; {row['per_resource_ms']:.3f} ms/resource; "
        f"CPU {row['cpu_min_s']:.2f} s; peak {row['peak_rss_mb']:.0f} MB; "
        f"{row['bytes_per_resource']:,.0f} bytes written/resource; {row['fsyncs']:,} fsyncs"
    )
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--naive-sizes", default="300,1000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="merge the figures into this JSON file (for scripts/perf_chart.py)")
    args = ap.parse_args()
    ours = [report("deployforge apply", n, repeat(args.repeat, one_apply, n, False)) for n in _sizes(args.sizes)]
    naive = [report("naive (whole doc per change)", n, repeat(1, one_apply, n, True)) for n in _sizes(args.naive_sizes)]
    first, last = ours[0], ours[-1]
    growth = last["per_resource_ms"] / first["per_resource_ms"]
    verdict = "linear" if growth <= 2 else "NOT linear"
    print(
        f"time per resource from {first['resources']:,} to {last['resources']:,}: x{growth:.2f} -> {verdict}; "
        f"{last['resources']:,} resources in {last['wall_min_s']:.1f} s (target <= 10 s)"
    )
    common = [n for n in _sizes(args.naive_sizes) if n in _sizes(args.sizes)]
    for n in common:
        a = next(r for r in ours if r["resources"] == n)
        b = next(r for r in naive if r["resources"] == n)
        print(
            f"at {n:,}: naive {b['wall_min_s']:.2f} s vs ours {a['wall_min_s']:.2f} s -> {b['wall_min_s'] / a['wall_min_s']:.1f}x"  # noqa: E501
        )
    write_json(args.json, {"apply": {"ours": ours, "naive": naive, "verdict": verdict}})


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


if __name__ == "__main__":
    main()
