"""Drift benchmark: diff + classification of 100,000 resources against their baseline, and the number
of API calls a live read makes compared with the minimum number of pages.

Targets (issue 6): <= 2 s and <= 1 GB peak memory for 100,000 resources; live reads <= 1.1x the
minimum pages. The naive approach is measured in the same run: a JSON round trip and a full recursive
walk of every resource (no equality fast path), and one describe call per resource for live reads.

    python benchmarks/bench_drift.py [--resources 100000] [--drift-percent 5] [--asgs 250] [--groups 150]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from deployforge.drift.detect import LiveView, build_report
from deployforge.drift.model import AttributeDrift
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


def naive(base: Baseline, view: LiveView) -> int:
    """A JSON round trip of both sides and a full walk of every attribute of every resource."""

    def walk(a, b, path, out):
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k), b.get(k), f"{path}.{k}" if path else k, out)
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{path}[{i}]", out)
        elif json.dumps(a, sort_keys=True) != json.dumps(b, sort_keys=True):
            out.append(AttributeDrift(path, a, b))

    found = 0
    for name, res in base.resources.items():
        expected = json.loads(json.dumps(res.attributes))
        actual = json.loads(json.dumps(dict(view.observed[name].attributes)))  # type: ignore[union-attr]
        out: list[AttributeDrift] = []
        walk(expected, actual, "", out)
        found += bool(out)
    return found


def timed(fn):
    gc.collect()
    tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    value = fn()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return value, wall, cpu, peak / 2**20


def bench_diff(n: int, drift_percent: float) -> None:
    base, view = make(n, drift_percent)
    gc.collect()
    started, cpu0 = time.perf_counter(), time.process_time()
    report = build_report(environment="prod", baseline=base, view=view, production=True)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0  # without tracemalloc's overhead
    _, _, _, peak = timed(lambda: build_report(environment="prod", baseline=base, view=view, production=True))
    found, nwall, ncpu, npeak = timed(lambda: naive(base, view))
    assert found == len(report.records), (found, len(report.records))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"diff + classification of {n:,} resources ({drift_percent:g}% drifted, {len(report.records):,} records)")
    print(f"  deployforge: {wall:6.2f} s wall, {cpu:6.2f} s CPU, {peak:7.1f} MB traced peak during the diff")
    print(f"  naive:       {nwall:6.2f} s wall, {ncpu:6.2f} s CPU, {npeak:7.1f} MB traced peak")
    print(f"  process peak RSS (inputs included): {rss:,.0f} MB   targets: <= 2 s, <= 1024 MB")


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
    parser.add_argument("--skip-reads", action="store_true")
    args = parser.parse_args()
    bench_diff(args.resources, args.drift_percent)
    if not args.skip_reads:
        bench_reads(args.asgs, args.groups)


if __name__ == "__main__":
    main()
