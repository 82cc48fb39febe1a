"""Event-driven drift benchmark (issue 16), end to end on the sandbox (moto's server in its own process).

Prints, for each size (default 100 and 1,000 managed security groups):

1. API calls and wall/CPU time of one check after ONE out-of-band change: the incremental check
   (`drift watch --once`: drain the queue, re-read what the event touched) vs the full scan (`drift
   detect`: every listing) vs the naive approach (one describe call per managed resource);
2. unmanaged discovery (`drift list --unmanaged`) over as many hand-made groups as managed ones,
   vs the Resource Groups Tagging API listing of the same account (a peer: what a tag-based inventory
   such as AWS Config's resource listing pages through; at most 100 per page);
3. detection latency, out-of-band change -> drift recorded in the register, under
   `deployforge drift watch --follow` (a separate process), p50/p95 over --changes changes
   (target <= 5 s), with the CPU of every process (this one, the watcher, the sandbox server).

    python benchmarks/bench_drift_watch.py [--sizes 100,1000] [--changes 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import boto3

from deployforge.providers import sandbox
from deployforge.usecases import drift as service
from deployforge.usecases import drift_watch as watch
from deployforge.usecases.workspace import Options, Workspace

ROOT = Path(__file__).resolve().parents[1]


def proc_cpu(pid: int) -> float:
    """User+system CPU seconds of a running process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def config_text(n: int) -> str:
    """n resources: 90% security groups (one listing page per 1,000), 10% buckets (read one by one)."""
    lines = ["targets:", "  main: {provider: aws, region: us-east-1}", "resources:"]
    buckets = n // 10
    for i in range(n - buckets):
        lines.append(f"  sg{i}: {{type: aws_security_group, properties: {{name: bench-{i}, description: b}}}}")
    for i in range(buckets):
        lines.append(f"  b{i}: {{type: aws_s3_bucket, properties: {{bucket: bench-bucket-{i}}}}}")
    return "\n".join(lines) + "\n"


def cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYFORGE_")}
    env.update(DEPLOYFORGE_SANDBOX="1", PYTHONPATH=str(ROOT / "src"), NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "deployforge", *args], cwd=project, env=env, capture_output=True, text=True
    )


def workspace(project: Path) -> Workspace:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYFORGE_")}
    return Workspace(Options(config=str(project / "deployforge.yaml"), sandbox=True, environ=environ))


def client(endpoint: str, name: str):
    return boto3.client(
        name, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def change(endpoint: str, group_id: str, open_it: bool) -> None:
    """The out-of-band call and the CloudTrail event a real account emits for it."""
    ec2 = client(endpoint, "ec2")
    call = ec2.authorize_security_group_ingress if open_it else ec2.revoke_security_group_ingress
    call(GroupId=group_id, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0")
    detail = {
        "eventSource": "ec2.amazonaws.com",
        "eventName": "AuthorizeSecurityGroupIngress" if open_it else "RevokeSecurityGroupIngress",
        "eventID": str(uuid.uuid4()),
        "requestParameters": {"groupId": group_id},
    }
    client(endpoint, "events").put_events(
        Entries=[{"Source": "aws.ec2", "DetailType": "AWS API Call via CloudTrail", "Detail": json.dumps(detail)}]
    )


def calls_of(ws: Workspace) -> int:
    return sum(ws.api_calls().values())


def measure(fn, repeats: int) -> tuple[float, float, object]:
    """min and median wall seconds of ``fn`` over ``repeats`` runs, and the last result."""
    times = []
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times), result


def one_size(n: int, changes: int, repeats: int) -> None:
    project = Path(tempfile.mkdtemp(prefix=f"bench-watch-{n}-"))
    (project / "deployforge.yaml").write_text(config_text(n))
    try:
        started = time.perf_counter()
        applied = cli(project, "apply", "--auto-approve", "--parallelism", "10")
        if applied.returncode != 0:  # moto's server may answer 500 under load: a second apply finishes
            applied = cli(project, "apply", "--auto-approve", "--parallelism", "10")
        assert applied.returncode == 0, applied.stdout[-2000:] + applied.stderr[-2000:]
        print(
            f"\n== {n} managed resources: {n - n // 10} security groups, {n // 10} buckets "
            f"(apply took {time.perf_counter() - started:.1f} s)"
        )
        info = sandbox.status(project / ".deployforge")
        assert info is not None
        endpoint = info.endpoint
        assert cli(project, "drift", "watch", "setup").returncode == 0
        queue = watch.queue_url(workspace(project), None)
        state = json.loads((project / ".deployforge" / "state" / "default.json").read_text())
        target = state["resources"]["sg0"]["id"]

        # 1. one change: full scan vs incremental vs naive per-resource reads ---------------------
        full_ws = workspace(project)
        server_cpu0 = proc_cpu(info.pid)
        service.detect(full_ws)  # warm: clients made once
        warm = calls_of(full_ws)
        lo, med, scanned = measure(lambda: service.detect(full_ws), repeats)
        full_calls = (calls_of(full_ws) - warm) // repeats
        read = scanned[0].resources_checked  # type: ignore[index]
        print(
            f"full scan (drift detect):       {full_calls:>5} API calls   min {lo:.3f} s  median {med:.3f} s  "
            f"({read} resources read; listings page at 1,000)"
        )
        incremental = []
        inc_calls = []
        ws = workspace(project)
        watch.drain(ws, service.DriftSettings(), queue, reconcile_every=-1)  # warm: clients made once
        for i in range(repeats):
            change(endpoint, target, open_it=(i % 2 == 0))
            before = calls_of(ws)
            t0 = time.perf_counter()
            report = watch.drain(ws, service.DriftSettings(), queue, reconcile_every=-1)
            incremental.append(time.perf_counter() - t0)
            inc_calls.append(calls_of(ws) - before)
            assert report.reads == 1, report.to_json()
        if repeats % 2:  # leave sg0 as in the baseline
            change(endpoint, target, open_it=False)
            watch.drain(workspace(project), service.DriftSettings(), queue, reconcile_every=-1)
        print(
            f"incremental (drift watch --once): {statistics.median(inc_calls):>3.0f} API calls   "
            f"min {min(incremental):.3f} s  median {statistics.median(incremental):.3f} s  (1 resource read; "
            "the calls: receive, describe 1 group, receive (empty), delete)"
        )
        ec2 = client(endpoint, "ec2")
        ids = [e["id"] for e in state["resources"].values() if e["type"] == "aws_security_group"]
        t0 = time.perf_counter()
        for ident in ids:
            ec2.describe_security_groups(GroupIds=[ident])
        print(
            f"naive (a describe per group):   {len(ids):>5} API calls   {time.perf_counter() - t0:.3f} s  "
            "(security groups only; buckets as in the full scan)"
        )

        # 2. unmanaged discovery over n hand-made groups ------------------------------------------
        for i in range(n):
            ec2.create_security_group(GroupName=f"by-hand-{i}", Description="made outside DeployForge")
        settings = service.DriftSettings(unmanaged=True)
        disc_ws = workspace(project)
        service.detect(disc_ws, settings)
        warm = calls_of(disc_ws)
        lo, med, result = measure(lambda: service.detect(disc_ws, settings), repeats)
        found = sum(1 for r in result[0].records if r.status.value == "UNMANAGED")  # type: ignore[index]
        print(
            f"unmanaged discovery:            {(calls_of(disc_ws) - warm) // repeats:>5} API calls   min {lo:.3f} s  "
            f"median {med:.3f} s  ({found} unmanaged found of {n} made by hand; every supported type listed)"
        )
        tagging = client(endpoint, "resourcegroupstaggingapi")

        def inventory() -> tuple[int, int]:
            pages = items = 0
            token = ""
            while True:
                reply = tagging.get_resources(ResourcesPerPage=100, PaginationToken=token)
                pages += 1
                items += len(reply.get("ResourceTagMappingList") or [])
                token = reply.get("PaginationToken") or ""
                if not token:
                    return pages, items

        lo, med, (pages, items) = measure(inventory, repeats)  # type: ignore[misc]
        print(
            f"peer: tagging API inventory:    {pages:>5} API calls   min {lo:.3f} s  median {med:.3f} s  "
            f"({items} resources listed: it sees tagged resources only, without their settings)"
        )

        # 3. latency under drift watch --follow -------------------------------------------------
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYFORGE_")}
        env.update(DEPLOYFORGE_SANDBOX="1", PYTHONPATH=str(ROOT / "src"), NO_COLOR="1")
        follower = subprocess.Popen(
            [sys.executable, "-m", "deployforge", "drift", "watch", "--follow", "--reconcile-every", "-1"],
            cwd=project,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        register = project / ".deployforge" / "drift" / "default.json"
        latencies = []
        try:
            time.sleep(3)  # started and long-polling
            server_cpu1, bench_cpu1 = proc_cpu(info.pid), self_cpu()
            for i in range(changes):
                opened = i % 2 == 0
                before = register.read_text() if register.exists() else ""
                t0 = time.perf_counter()
                change(endpoint, target, open_it=opened)
                while time.perf_counter() - t0 < 30:
                    text = register.read_text() if register.exists() else ""
                    if text != before:
                        try:
                            records = json.loads(text)["records"]
                        except (ValueError, KeyError):
                            time.sleep(0.01)
                            continue
                        drifted = any(r["resource"] == "sg0" for r in records.values())
                        if drifted == opened:
                            latencies.append(time.perf_counter() - t0)
                            break
                    time.sleep(0.01)
                else:
                    latencies.append(float("inf"))
            follower_cpu = proc_cpu(follower.pid)
            server_cpu = proc_cpu(info.pid) - server_cpu1
            bench_cpu = self_cpu() - bench_cpu1
        finally:
            os.killpg(follower.pid, signal.SIGTERM)
            follower.wait(timeout=30)
        latencies.sort()
        p50 = statistics.median(latencies)
        p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
        print(
            f"latency change -> recorded (drift watch --follow): p50 {p50:.2f} s  p95 {p95:.2f} s  "
            f"max {latencies[-1]:.2f} s over {changes} changes (target <= 5 s)"
        )
        print(
            f"CPU during the latency run: watcher {follower_cpu:.2f} s, sandbox server {server_cpu:.2f} s, "
            f"this process {bench_cpu:.2f} s; "
            f"sandbox server for the whole size: {proc_cpu(info.pid) - server_cpu0:.2f} s"
        )
    finally:
        cli(project, "sandbox", "down")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; sandbox = moto's server in its own process")
    for n in (int(s) for s in args.sizes.split(",")):
        one_size(n, args.changes, args.repeats)


if __name__ == "__main__":
    main()
