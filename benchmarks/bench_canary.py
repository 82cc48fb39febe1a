"""Canary control loop against moto's server: overhead per step beyond bake time and API calls, and
how soon the rollback weight change is issued after a failing gate.

Naive comparison in the same run: a loop that builds a new boto3 client for every step and polls
the gate on a fixed 250 ms sleep (how a shell-script canary usually looks).

    python benchmarks/bench_canary.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402
from tests.integration.test_canary_aws import make_alb  # noqa: E402

from deployforge.deploy.controller import Controller  # noqa: E402
from deployforge.deploy.gates import Gate  # noqa: E402
from deployforge.deploy.shifters.aws_alb import AlbListenerShifter  # noqa: E402
from deployforge.deploy.shifters.base import ShifterContext  # noqa: E402
from deployforge.deploy.strategy import compile_strategy  # noqa: E402
from deployforge.providers.aws.provider import AwsProvider  # noqa: E402


def main() -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    stack = make_alb(endpoint)
    provider = AwsProvider(
        target="main", region="us-east-1", endpoint_url=endpoint, access_key_id="t", secret_access_key="t"
    )
    settings = {
        "listener_arn": stack["listener"],
        "stable_target_group": stack["blue"],
        "canary_target_group": stack["green"],
    }
    shifter = AlbListenerShifter(settings, ShifterContext("main", "aws", provider))
    shifter.preflight()
    gate = Gate("errors", "cloudwatch_alarm", {"alarm_name": "web-5xx"}, provider.client("cloudwatch"))
    compiled = compile_strategy(
        {"interval": "0.02", "check_interval": "0.02", "failure_threshold": 1},
        strategy="5percent-step",
        gate_names=["errors"],
    )
    ctl = Controller(compiled, shifter, {"errors": gate})
    t = time.perf_counter()
    report = ctl.run()
    wall = time.perf_counter() - t
    over = ctl.overhead_ms
    print(f"promotion 5percent-step: {len(report.steps)} steps, verdict {report.verdict}, wall {wall:.2f}s")
    print(
        f"  control-loop overhead per step (beyond bake waits and API calls): mean {statistics.mean(over):.2f} ms, "
        f"max {max(over):.2f} ms (budget 50 ms)"
    )
    shifter.set_canary_weight(0)
    cw = provider.client("cloudwatch")
    cw.set_alarm_state(AlarmName="web-5xx", StateValue="ALARM", StateReason="bench")
    latencies = []
    for _ in range(5):
        report = Controller(compiled, shifter, {"errors": gate}).run()
        latencies.append(report.rollback_latency_ms or 0.0)
    print(
        f"  failing gate -> rollback weight change issued and read back: mean {statistics.mean(latencies):.1f} ms, "
        f"max {max(latencies):.1f} ms (budget 1000 ms)"
    )

    # naive: new client per step, gate polled on a fixed 250 ms sleep
    naive_latency = []
    for _ in range(3):
        seen = time.perf_counter()
        time.sleep(0.25)  # the poll interval a naive loop waits before acting
        elb = boto3.client(
            "elbv2", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        elb.modify_listener(
            ListenerArn=stack["listener"],
            DefaultActions=[
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [
                            {"TargetGroupArn": stack["blue"], "Weight": 100},
                            {"TargetGroupArn": stack["green"], "Weight": 0},
                        ]
                    },
                }
            ],
        )
        naive_latency.append((time.perf_counter() - seen) * 1000)
    t = time.perf_counter()
    for _ in range(5):
        boto3.client(
            "elbv2", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
    per_client = (time.perf_counter() - t) / 5 * 1000
    print(
        f"naive loop: rollback after a failing poll {statistics.mean(naive_latency):.1f} ms; "
        f"a fresh boto3 client per step costs {per_client:.1f} ms of overhead by itself"
    )
    server.stop()


if __name__ == "__main__":
    main()
