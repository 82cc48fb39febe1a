"""Canary control loop against moto's server: overhead per step beyond bake time and API calls, and
how soon the rollback weight change is issued after a failing gate.

The promotion runs twice: with no-op hooks (the control loop alone), and with the hooks a real
`deployforge run` uses - every step appended to the audit log (hash-chained, fsynced) and the canary
journal written into the environment's state document before each weight change - which is what a
user's canary pays per step.

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


def _real_hooks(endpoint: str) -> dict[str, object]:
    """The step recorder and canary journal `deployforge run` passes to the controller, on a throwaway
    project with local state and a local audit log."""
    import tempfile

    from deployforge.usecases.deploy import Journal, _audit_step
    from deployforge.usecases.workspace import Options, Workspace

    root = Path(tempfile.mkdtemp(prefix="bench-canary-"))
    config = root / "deployforge.yaml"
    config.write_text(
        "targets:\n  main: {provider: aws, region: us-east-1, endpoint_url: " + endpoint + "}\nresources: {}\n",
        encoding="utf-8",
    )
    ws = Workspace(Options(config=str(config), environ={"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}))
    # a state of 300 recorded resources, as a real environment has: each journal write reads and writes it
    from deployforge.state.base import StateDocument

    state = StateDocument(environment=ws.config.environment)
    for i in range(300):
        state.resources[f"r{i}"] = {
            "type": "aws_security_group",
            "target": "main",
            "id": f"sg-{i:08x}",
            "attributes": {
                "name": f"group-{i}",
                "description": "x",
                "ingress": [],
                "egress": [],
                "tags": {"team": "web"},
            },
        }
    ws.backend.write(state)
    return {"record": _audit_step(ws), "journal": Journal(ws, {"run_id": ws.run_id}).write}


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
    for label, hooks in (("no-op hooks", {}), ("real audit + state journal hooks", _real_hooks(endpoint))):
        shifter.set_canary_weight(0)
        ctl = Controller(compiled, shifter, {"errors": gate}, **hooks)
        t = time.perf_counter()
        report = ctl.run()
        wall = time.perf_counter() - t
        over = ctl.overhead_ms
        print(
            f"promotion 5percent-step, {label}: {len(report.steps)} steps, verdict {report.verdict}, wall {wall:.2f}s"
        )
        print(
            f"  control-loop overhead per step (beyond bake waits and API calls): mean {statistics.mean(over):.2f} ms, "
            f"median {statistics.median(over):.2f} ms, max {max(over):.2f} ms (budget 50 ms)"
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
