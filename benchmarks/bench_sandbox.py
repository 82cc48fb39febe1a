"""Sandbox end to end: `deployforge apply --sandbox` of 300 resources, its API calls and its time
against the floor.

What a user waits for: the real CLI in its own process (config parsing, state I/O, the audit record,
the baseline) against the embedded emulator (moto's server, started with `deployforge sandbox up`
before timing). Reported: wall time (min / median of the repeats, each on a fresh emulator), CPU of
the CLI process (RUSAGE_CHILDREN) and of the emulator process (from /proc), and the API calls the
audit record counts.

The floor, measured in the same run against the same emulator: a bare boto3 script that makes the
calls these resources need, one after another, with nothing else (no plan, no state, no baseline):
per security group create + authorize + one read back; per bucket "is the name free" + create +
tags + versioning + one read back (4 calls); per alarm "does it exist" + put + one read back
(describe + tags). Target: the apply within 1.2x the floor's time, and its calls at the floor's
count plus one credentials check.

    python benchmarks/bench_sandbox.py [--groups 200] [--buckets 50] [--alarms 50] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _harness import ROOT, write_json

CLI = [sys.executable, "-m", "deployforge"]


def config(groups: int, buckets: int, alarms: int, prefix: str) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for i in range(groups):
        resources[f"sg{i}"] = {
            "type": "aws_security_group",
            "properties": {
                "name": f"{prefix}-sg-{i}",
                "description": "bench",
                "ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8"]}],
            },
            "tags": {"owner": "bench"},
        }
    for i in range(buckets):
        resources[f"b{i}"] = {
            "type": "aws_s3_bucket",
            "properties": {"bucket": f"{prefix}-bucket-{i}", "versioning": True},
            "tags": {"owner": "bench"},
        }
    for i in range(alarms):
        resources[f"a{i}"] = {
            "type": "aws_cloudwatch_metric_alarm",
            "properties": {
                "alarm_name": f"{prefix}-alarm-{i}",
                "metric_name": "CPUUtilization",
                "namespace": "AWS/EC2",
                "statistic": "Average",
                "period": 60,
                "evaluation_periods": 1,
                "threshold": 80,
                "comparison_operator": "GreaterThanThreshold",
            },
            "tags": {"owner": "bench"},
        }
    return {"targets": {"main": {"provider": "aws", "region": "us-east-1"}}, "resources": resources}


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYFORGE_", "GITHUB_", "AWS_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    env["NO_COLOR"] = "1"
    return env


def floor(endpoint: str, groups: int, buckets: int, alarms: int, prefix: str) -> tuple[float, int]:
    """The needed calls, made one after another by a bare boto3 client: (seconds, calls)."""
    import boto3

    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    ec2, s3, cw = boto3.client("ec2", **kw), boto3.client("s3", **kw), boto3.client("cloudwatch", **kw)
    calls = 0

    def count(**_: Any) -> None:
        nonlocal calls
        calls += 1

    for client in (ec2, s3, cw):
        client.meta.events.register("before-call", count)
    tags = [{"Key": "owner", "Value": "bench"}]
    started = time.perf_counter()
    for i in range(groups):
        gid = ec2.create_security_group(
            GroupName=f"{prefix}-sg-{i}",
            Description="bench",
            TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
        )["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=gid,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
            ],
        )
        ec2.describe_security_groups(GroupIds=[gid])
    for i in range(buckets):
        name = f"{prefix}-bucket-{i}"
        try:
            s3.head_bucket(Bucket=name)
        except Exception:
            pass
        s3.create_bucket(Bucket=name)
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags})
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.get_bucket_versioning(Bucket=name)
        for read in (s3.get_bucket_encryption, s3.get_public_access_block, s3.get_bucket_tagging):
            try:
                read(Bucket=name)
            except Exception:
                pass
    for i in range(alarms):
        name = f"{prefix}-alarm-{i}"
        cw.describe_alarms(AlarmNames=[name])
        cw.put_metric_alarm(
            AlarmName=name,
            MetricName="CPUUtilization",
            Namespace="AWS/EC2",
            Statistic="Average",
            Period=60,
            EvaluationPeriods=1,
            Threshold=80,
            ComparisonOperator="GreaterThanThreshold",
            Tags=tags,
        )
        arn = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
        cw.list_tags_for_resource(ResourceARN=arn)
    return time.perf_counter() - started, calls


def one_run(groups: int, buckets: int, alarms: int, round_: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as root:
        project = Path(root)
        cfg = project / "deployforge.yaml"
        cfg.write_text(yaml.safe_dump(config(groups, buckets, alarms, f"df{round_}")), encoding="utf-8")
        env = _env()
        up = subprocess.run(
            [*CLI, "sandbox", "up", "-c", str(cfg)], env=env, capture_output=True, text=True, check=True
        )
        match = re.search(r"at (\S+) \(pid (\d+)\)", up.stdout)
        assert match, up.stdout + up.stderr
        endpoint, server_pid = match.group(1), int(match.group(2))
        try:
            # the emulator loads each service and region on first use: not the apply's cost
            floor(endpoint, 2, 2, 2, f"warm{round_}")
            server_cpu = _cpu_of(server_pid)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(
                [*CLI, "apply", "--sandbox", "--auto-approve", "-c", str(cfg)],
                env=env,
                capture_output=True,
                text=True,
                cwd=project,
            )
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            apply_server_cpu = _cpu_of(server_pid) - server_cpu
            assert done.returncode == 0, done.stdout + done.stderr
            record = [
                json.loads(line) for line in (project / ".deployforge/audit/audit.jsonl").read_text().splitlines()
            ][-1]
            calls = sum(sum(per.values()) for per in record["api_calls"].values())
            floor_s, floor_calls = floor(endpoint, groups, buckets, alarms, f"fl{round_}")
        finally:
            subprocess.run([*CLI, "sandbox", "down", "-c", str(cfg)], env=env, capture_output=True, check=False)
        return {
            "wall_s": wall,
            "cli_cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
            "server_cpu_s": apply_server_cpu,
            "calls": calls,
            "calls_by_service": record["api_calls"],
            "floor_s": floor_s,
            "floor_calls": floor_calls,
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=200)
    ap.add_argument("--buckets", type=int, default=50)
    ap.add_argument("--alarms", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="merge the figures into this JSON file (for scripts/perf_chart.py)")
    args = ap.parse_args()
    total = args.groups + args.buckets + args.alarms
    runs = [one_run(args.groups, args.buckets, args.alarms, i) for i in range(args.repeat)]
    walls = sorted(r["wall_s"] for r in runs)
    floors = sorted(r["floor_s"] for r in runs)
    median = walls[len(walls) // 2]
    print(
        f"sandbox apply of {total} resources ({args.groups} security groups, {args.buckets} buckets, {args.alarms} alarms)"  # noqa: E501
    )
    print(f"  deployforge apply (CLI, end to end): min {walls[0]:.2f} s, median {median:.2f} s")
    print(
        f"  CPU: CLI process {min(r['cli_cpu_s'] for r in runs):.2f} s, emulator {min(r['server_cpu_s'] for r in runs):.2f} s"  # noqa: E501
    )
    print(
        f"  API calls: {runs[0]['calls']} ({runs[0]['calls'] / total:.2f} per resource) by service {runs[0]['calls_by_service']}"  # noqa: E501
    )
    print(
        f"  floor (bare boto3, the needed calls one after another): min {floors[0]:.2f} s, {runs[0]['floor_calls']} calls"  # noqa: E501
    )
    ratio = walls[0] / floors[0]
    print(
        f"  apply / floor: {ratio:.2f}x time (target <= 1.2x), "
        f"{runs[0]['calls']} vs {runs[0]['floor_calls']} calls (+1 credentials check expected)"
    )
    write_json(
        args.json,
        {
            "sandbox": {
                "resources": total,
                "apply_min_s": walls[0],
                "apply_median_s": median,
                "floor_min_s": floors[0],
                "calls": runs[0]["calls"],
                "floor_calls": runs[0]["floor_calls"],
                "ratio": ratio,
            }
        },
    )


if __name__ == "__main__":
    main()
