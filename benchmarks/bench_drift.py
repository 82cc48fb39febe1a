"""Drift benchmark: what `drift` waits for once the cloud has been read - load the latest baseline
from the state backend, diff 100,000 resources against it and classify - and the number of API calls
a live read makes compared with the minimum number of pages.

Targets (issues 6 and 19): load + diff + classify <= 2 s and <= 1 GB peak memory for 100,000
resources; live reads <= 1.1x the minimum pages. Each repeat runs in a fresh process
(``_harness.measure``: CPU of the whole process, its peak RSS); min and median are reported.

The naive approach, in the same run: the standard library's json.load of the same baseline file
(the collector left on), then per resource a plain ``==`` and, where it differs, a recursive walk
for the changed paths (no classification at all, so it does less than we do). For live reads: one
describe call per resource.

    python benchmarks/bench_drift.py [--resources 100000] [--drift-percent 5] [--repeat 3] [--asgs 250] [--groups 150]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
sys.path.insert(0, os.path.dirname(__file__))

from _harness import fmt, repeat, summary, write_json

from deployforge.drift.detect import LiveView, build_report
from deployforge.providers.base import LiveResource
from deployforge.state.baseline import Baseline, BaselineResource


def make(n: int, drift_percent: float) -> tuple[Baseline, LiveView]:
    resources = {}
    observed = {}
    every = max(1, round(100 / drift_percent)) if drift_percent else 0
    for i in range(n):
        name = f"r{i:06d}"
        attrs = {
            "name": name,
            "min_size": 1,
            "max_size": 10,
            "desired_capacity": 4,
            "availability_zones": ["us-east-1a", "us-east-1b"],
            "launch_template": {"id": f"lt-{i:08x}", "name": f"lt-{i}", "version": 3},
            "ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8"]}],
            "tags": {"owner": "platform", "app": f"app-{i % 50}"},
        }
        resources[name] = BaselineResource(name, "aws_autoscaling_group", "main", name, attrs)
        live = json.loads(json.dumps(attrs))  # equal, but not the same objects (as from a real read)
        if every and i % every == 0:
            kind = (i // every) % 3
            if kind == 0:
                live["desired_capacity"] = 6
            elif kind == 1:
                live["tags"]["owner"] = "someone"
            else:
                live["ingress"][0]["cidr_blocks"] = ["0.0.0.0/0"]
        observed[name] = LiveResource("aws_autoscaling_group", name, live)
    base = Baseline("prod", "b1", "2026-11-26T00:00:00Z", "c" * 64, resources=resources)
    return base, LiveView(observed=observed)


def _walk(a: object, b: object, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in set(a) | set(b):
            if a.get(k) != b.get(k):
                _walk(a.get(k), b.get(k), f"{path}.{k}" if path else k, out)
    elif a != b:
        out.append(path)


def _end_to_end(n: int, drift_percent: float, naive: bool) -> dict[str, float]:
    """In a fresh process: write the baseline (not timed), then load + diff + classify it."""
    import tempfile
    from pathlib import Path

    from deployforge.state.local import LocalBackend

    base, view = make(n, drift_percent)
    with tempfile.TemporaryDirectory() as root:
        LocalBackend(Path(root)).write_baseline(base)
        [path] = Path(root).rglob(f"{base.id}.json")
        del base
        gc.collect()
        started, cpu = time.perf_counter(), time.process_time()
        if naive:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            loaded_at = time.perf_counter()
            found = 0
            for name, entry in data["resources"].items():
                live = view.observed[name].attributes  # type: ignore[union-attr]
                if entry["attributes"] != live:
                    out: list[str] = []
                    _walk(entry["attributes"], dict(live), "", out)
                    found += bool(out)
        else:
            loaded = LocalBackend(Path(root)).read_baseline("prod")
            assert loaded is not None
            loaded_at = time.perf_counter()
            report = build_report(environment="prod", baseline=loaded, view=view, production=True)
            found = len(report.records)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"wall_s": wall, "cpu_s": cpu, "load_s": loaded_at - started, "found": found}


def bench_end_to_end(n: int, drift_percent: float, times: int) -> dict[str, object]:
    ours = repeat(times, _end_to_end, n, drift_percent, False)
    naive = repeat(times, _end_to_end, n, drift_percent, True)
    assert ours[0]["found"] == naive[0]["found"], (ours[0]["found"], naive[0]["found"])
    print(f"drift end to end: load the baseline + diff + classify, {n:,} resources ({drift_percent:g}% drifted)")
    for label, runs in (("deployforge", ours), ("naive", naive)):
        print(
            f"  {label:<11}: wall {fmt(runs, 'wall_s')} (of which load {fmt(runs, 'load_s')}); CPU {fmt(runs, 'cpu_s')}; "  # noqa: E501
            f"peak RSS {max(r['peak_rss_mb'] for r in runs):,.0f} MB (inputs included)"
        )
    best, naive_best = summary(ours, "wall_s")[0], summary(naive, "wall_s")[0]
    peak = max(r["peak_rss_mb"] for r in ours)
    print(f"  naive / deployforge: {naive_best / best:.2f}x   targets: <= 2 s, <= 1024 MB")
    return {
        "resources": n,
        "ours_min_s": best,
        "naive_min_s": naive_best,
        "ours_load_min_s": summary(ours, "load_s")[0],
        "naive_load_min_s": summary(naive, "load_s")[0],
        "peak_rss_mb": peak,
    }


def bench_reads(asgs: int, groups: int) -> None:
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from deployforge.drift.detect import read_live
    from deployforge.providers.aws.provider import AwsProvider

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    try:
        ec2, autoscaling = boto3.client("ec2", **kw), boto3.client("autoscaling", **kw)
        ec2.create_launch_template(LaunchTemplateName="bench-lt", LaunchTemplateData={"ImageId": "ami-12c6146b"})
        for i in range(asgs):
            autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=f"asg-{i:04d}",
                MinSize=0,
                MaxSize=1,
                DesiredCapacity=0,
                LaunchTemplate={"LaunchTemplateName": "bench-lt", "Version": "$Latest"},
                AvailabilityZones=["us-east-1a"],
            )
        group_ids = [
            ec2.create_security_group(GroupName=f"sg-{i:04d}", Description="b")["GroupId"] for i in range(groups)
        ]
        provider = AwsProvider(
            target="main", region="us-east-1", endpoint_url=endpoint, access_key_id="x", secret_access_key="x"
        )
        resources = {
            f"asg{i}": BaselineResource(f"asg{i}", "aws_autoscaling_group", "main", f"asg-{i:04d}", {})
            for i in range(asgs)
        }
        resources.update(
            {
                f"sg{i}": BaselineResource(f"sg{i}", "aws_security_group", "main", gid, {})
                for i, gid in enumerate(group_ids)
            }
        )
        base = Baseline("prod", "b1", "t", "c" * 64, resources=resources)
        started = time.perf_counter()
        view = read_live(base, {"main": provider})
        wall = time.perf_counter() - started
        assert all(v is not None for v in view.observed.values())
        calls = dict(provider.api_calls_by_operation)
        asg_calls = calls.get("autoscaling.DescribeAutoScalingGroups", 0)
        sg_calls = calls.get("ec2.DescribeSecurityGroups", 0)
        asg_min, sg_min = math.ceil(asgs / 100), math.ceil((groups + 1) / 1000)  # +1: the default group
        print(f"live reads of {asgs} Auto Scaling groups and {groups} security groups ({wall:.2f} s)")
        print(
            f"  DescribeAutoScalingGroups: {asg_calls} calls, minimum pages {asg_min} "
            f"(ratio {asg_calls / asg_min:.2f}, target <= 1.10)"
        )
        print(
            f"  DescribeSecurityGroups:    {sg_calls} calls, minimum pages {sg_min} "
            f"(ratio {sg_calls / sg_min:.2f}; moto ignores MaxResults here, so one page holds all)"
        )
        print(f"  naive (one describe per resource): {asgs + groups} calls")
        print(f"  every call: {sorted(calls.items())}")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--drift-percent", type=float, default=5.0)
    parser.add_argument("--asgs", type=int, default=250)
    parser.add_argument("--groups", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-reads", action="store_true")
    parser.add_argument("--json", help="merge the figures into this JSON file (for scripts/perf_chart.py)")
    args = parser.parse_args()
    figures = bench_end_to_end(args.resources, args.drift_percent, args.repeat)
    write_json(args.json, {"drift": figures})
    if not args.skip_reads:
        bench_reads(args.asgs, args.groups)


if __name__ == "__main__":
    main()
