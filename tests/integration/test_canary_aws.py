"""The canary deploy stage against moto's server: promotion and every abort path, weights read back."""

from __future__ import annotations

import io
import json
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from tests.fakes.http_probe import ProbeServer

from deployforge.errors import ConfigError, InputError
from deployforge.usecases import deploy as service
from deployforge.usecases.audit import audit_path
from deployforge.usecases.deploy import Callbacks, InterruptedCanaryError
from deployforge.usecases.workspace import Options, Workspace


def _client(endpoint: str, name: str) -> Any:
    return boto3.client(
        name, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )


def make_alb(endpoint: str) -> dict[str, str]:
    ec2, elb = _client(endpoint, "ec2"), _client(endpoint, "elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    lb = elb.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    blue, green = (
        elb.create_target_group(Name=n, Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
        for n in ("blue", "green")
    )
    listener = elb.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": blue}]
    )["Listeners"][0]["ListenerArn"]
    cw = _client(endpoint, "cloudwatch")
    cw.put_metric_alarm(
        AlarmName="web-5xx",
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
    )
    return {"listener": listener, "blue": blue, "green": green}


def listener_weights(endpoint: str, listener: str) -> dict[str, int]:
    actions = _client(endpoint, "elbv2").describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"]
    groups = actions[0].get("ForwardConfig", {}).get("TargetGroups") or [
        {"TargetGroupArn": actions[0]["TargetGroupArn"], "Weight": 1}
    ]
    return {g["TargetGroupArn"].split("/")[1]: int(g["Weight"]) for g in groups}


def write_config(tmp_path: Path, endpoint: str, deploy: dict[str, Any], hooks: list[Any] | None = None) -> str:
    doc: dict[str, Any] = {
        "targets": {"main": {"provider": "aws", "region": "us-east-1", "endpoint_url": endpoint}},
        "resources": {},
        "deploy": deploy,
    }
    if hooks:
        doc["hooks"] = hooks
    path = tmp_path / "canary.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return str(path)


def alb_deploy(**extra: Any) -> dict[str, Any]:
    deploy = {
        "strategy": "5percent-step",
        "interval": "20ms",
        "check_interval": "10ms",
        "failure_threshold": 1,
        "shifter": {
            "type": "aws_alb_listener",
            "target": "main",
            "load_balancer": "web",
            "port": 80,
            "stable_target_group": "blue",
            "canary_target_group": "green",
        },
        "gates": [{"name": "errors", "type": "cloudwatch_alarm", "target": "main", "alarm_name": "web-5xx"}],
    }
    deploy.update(extra)
    return deploy


HEALTH = {"name": "health", "type": "http", "json_field": {"path": "status", "equals": "ok"}}


def workspace(config: str) -> Workspace:
    return Workspace(Options(config=config, environ={}))


class Recorder(Callbacks):
    def __init__(self, action: Any = None) -> None:
        super().__init__()
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.action = action
        self.on_event = self._on_event

    def _on_event(self, kind: str, payload: dict[str, Any]) -> None:
        self.events.append((kind, payload))
        if self.action:
            self.action(kind, payload)


def test_full_promotion_through_5percent_step(tmp_path: Path, moto_endpoint: str) -> None:
    make_alb(moto_endpoint)
    ws = workspace(write_config(tmp_path, moto_endpoint, alb_deploy()))
    rec = Recorder()
    result = service.run(ws, callbacks=rec)
    assert result.exit_code == 0, result.to_json()
    report = result.canary
    assert report.verdict == "promoted"
    weights_set = [p["weight"] for kind, p in rec.events if kind == "weight"]
    assert weights_set == [*range(5, 100, 5), 100]
    # each step's weights were read back from the listener
    assert [s.weights.canary for s in report.steps if s.kind == "set_weight"] == list(range(5, 100, 5))
    assert listener_weights(moto_endpoint, make_listener_arn(ws)) == {"green": 100}
    assert len(report.evaluations) >= 19 and all(g.passed for g in report.evaluations)
    # baseline taken, journal cleared, every step in the audit log
    assert result.extra["baseline"] == ws.run_id
    assert ws.read_state().canary is None
    audit = [json.loads(line) for line in Path(audit_path(ws)).read_text().splitlines()]
    steps = [r for r in audit if r.get("kind") == "deploy.step"]
    assert len(steps) == len(report.steps) and steps[-1]["step"]["kind"] == "promote"
    assert result.to_json()["canary"]["verdict"] == "promoted"


def make_listener_arn(ws: Workspace) -> str:
    elb = ws.provider("main").client("elbv2")
    lb = elb.describe_load_balancers(Names=["web"])["LoadBalancers"][0]["LoadBalancerArn"]
    return str(elb.describe_listeners(LoadBalancerArn=lb)["Listeners"][0]["ListenerArn"])


def test_alarm_mid_way_rolls_back_listener(tmp_path: Path, moto_endpoint: str) -> None:
    stack = make_alb(moto_endpoint)
    cw = _client(moto_endpoint, "cloudwatch")
    seen: list[dict[str, int]] = []

    def action(kind: str, payload: dict[str, Any]) -> None:
        if kind == "weight" and payload["weight"] == 20:
            seen.append(listener_weights(moto_endpoint, stack["listener"]))
            cw.set_alarm_state(AlarmName="web-5xx", StateValue="ALARM", StateReason="5xx spike")

    hooks = [{"phase": "on_failure", "command": ["sh", "-c", 'echo "reason=$DEPLOYFORGE_FAILURE_REASON"']}]
    ws = workspace(write_config(tmp_path, moto_endpoint, alb_deploy(), hooks))
    result = service.run(ws, callbacks=Recorder(action))
    assert result.exit_code == 1
    report = result.canary
    assert report.verdict == "rolled_back"
    assert seen == [{"blue": 80, "green": 20}]
    assert listener_weights(moto_endpoint, stack["listener"]) == {"blue": 100, "green": 0}
    assert report.final_weights.canary == 0 and report.final_weights.stable == 100
    assert report.failed_gate.gate == "errors" and report.failed_gate.value == "ALARM"
    assert "gate 'errors' failed" in report.reason and "ALARM" in report.reason
    assert report.rollback_latency_ms is not None and report.rollback_latency_ms < 1000
    assert max(s.weight or 0 for s in report.steps) == 20
    on_failure = [r for r in result.hooks.runs if r.phase == "on_failure"]
    assert on_failure and "gate 'errors' failed" in on_failure[0].output_tail[0]
    assert ws.read_state().canary is None


def make_lambda(endpoint: str) -> tuple[str, str]:
    lam, iam = _client(endpoint, "lambda"), _client(endpoint, "iam")
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(e, c):\n    return 1\n")
    lam.create_function(
        FunctionName="fn", Runtime="python3.11", Role=role, Handler="index.handler", Code={"ZipFile": buf.getvalue()}
    )
    v1 = lam.publish_version(FunctionName="fn")["Version"]
    lam.update_function_code(FunctionName="fn", ZipFile=buf.getvalue())
    v2 = lam.publish_version(FunctionName="fn")["Version"]
    lam.create_alias(FunctionName="fn", Name="live", FunctionVersion=v1)
    return v1, v2


def lambda_deploy(canary: str, **extra: Any) -> dict[str, Any]:
    return alb_deploy(
        shifter={
            "type": "aws_lambda_alias",
            "target": "main",
            "function_name": "fn",
            "alias": "live",
            "canary_version": canary,
        },
        **extra,
    )


def test_lambda_alias_alarm_rolls_back(tmp_path: Path, moto_endpoint: str) -> None:
    make_alb(moto_endpoint)  # for the alarm
    v1, v2 = make_lambda(moto_endpoint)
    lam, cw = _client(moto_endpoint, "lambda"), _client(moto_endpoint, "cloudwatch")
    seen: list[Any] = []

    def action(kind: str, payload: dict[str, Any]) -> None:
        if kind == "weight" and payload["weight"] == 10:
            seen.append(lam.get_alias(FunctionName="fn", Name="live")["RoutingConfig"]["AdditionalVersionWeights"])
            cw.set_alarm_state(AlarmName="web-5xx", StateValue="ALARM", StateReason="errors")

    ws = workspace(write_config(tmp_path, moto_endpoint, lambda_deploy(v2)))
    result = service.run(ws, callbacks=Recorder(action))
    assert result.exit_code == 1 and result.canary.verdict == "rolled_back"
    assert seen == [{v2: 0.1}]
    alias = lam.get_alias(FunctionName="fn", Name="live")
    assert alias["FunctionVersion"] == v1
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")


def test_lambda_alias_promotion(tmp_path: Path, moto_endpoint: str) -> None:
    make_alb(moto_endpoint)
    _v1, v2 = make_lambda(moto_endpoint)
    ws = workspace(write_config(tmp_path, moto_endpoint, lambda_deploy(v2, strategy="canary-25pct-30ms")))
    result = service.run(ws)
    assert result.exit_code == 0 and result.canary.verdict == "promoted"
    alias = _client(moto_endpoint, "lambda").get_alias(FunctionName="fn", Name="live")
    assert alias["FunctionVersion"] == v2
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")


def test_http_gate_errors_abort_after_threshold(tmp_path: Path, moto_endpoint: str) -> None:
    stack = make_alb(moto_endpoint)
    probe = ProbeServer().start()
    try:
        probe.set(status=503, body={"status": "degraded"})
        deploy = alb_deploy(
            failure_threshold=3,
            gates=[
                {"name": "health", "type": "http", "url": probe.url, "json_field": {"path": "status", "equals": "ok"}}
            ],
        )
        rec = Recorder()
        result = service.run(workspace(write_config(tmp_path, moto_endpoint, deploy)), callbacks=rec)
    finally:
        probe.stop()
    assert result.exit_code == 1 and result.canary.verdict == "rolled_back"
    assert result.canary.failures == 3
    assert [k for k, _ in rec.events].count("hold") == 2  # held at 5% twice, aborted on the third
    assert result.canary.failed_gate.value["status"] == 503
    assert listener_weights(moto_endpoint, stack["listener"]) == {"blue": 100, "green": 0}


def test_http_gate_json_field_mismatch_fails(tmp_path: Path, moto_endpoint: str) -> None:
    make_alb(moto_endpoint)
    probe = ProbeServer().start()
    try:
        probe.set(status=200, body={"status": "degraded"})
        deploy = alb_deploy(
            gates=[
                {"name": "health", "type": "http", "url": probe.url, "json_field": {"path": "status", "equals": "ok"}}
            ]
        )
        result = service.run(workspace(write_config(tmp_path, moto_endpoint, deploy)))
    finally:
        probe.stop()
    assert result.canary.verdict == "rolled_back"
    assert "status is 'degraded'" in result.canary.failed_gate.detail


def test_metric_gate_over_threshold_rolls_back(tmp_path: Path, moto_endpoint: str) -> None:
    stack = make_alb(moto_endpoint)
    _client(moto_endpoint, "cloudwatch").put_metric_data(
        Namespace="App",
        MetricData=[
            {"MetricName": "ErrorRate", "Value": 7.5, "Dimensions": [{"Name": "svc", "Value": "web"}]},
        ],
    )
    deploy = alb_deploy(
        gates=[
            {
                "name": "error-rate",
                "type": "cloudwatch_metric",
                "target": "main",
                "namespace": "App",
                "metric_name": "ErrorRate",
                "dimensions": {"svc": "web"},
                "threshold": 5,
                "comparison": "<=",
            }
        ]
    )
    result = service.run(workspace(write_config(tmp_path, moto_endpoint, deploy)))
    assert result.canary.verdict == "rolled_back"
    assert result.canary.failed_gate.value == 7.5
    assert listener_weights(moto_endpoint, stack["listener"]) == {"blue": 100, "green": 0}


def test_overall_timeout_rolls_back(tmp_path: Path, moto_endpoint: str) -> None:
    stack = make_alb(moto_endpoint)
    ws = workspace(write_config(tmp_path, moto_endpoint, alb_deploy(interval="1s", check_interval="50ms")))
    result = service.run(ws, timeout=0.3)
    assert result.exit_code == 1
    assert result.canary.verdict == "timeout" and "timeout" in result.canary.reason
    assert listener_weights(moto_endpoint, stack["listener"]) == {"blue": 100, "green": 0}


def test_missing_listener_is_input_error_before_traffic_moves(tmp_path: Path, moto_endpoint: str) -> None:
    make_alb(moto_endpoint)
    deploy = alb_deploy()
    deploy["shifter"]["load_balancer"] = "nope"
    with pytest.raises(InputError, match="load balancer 'nope' does not exist") as exc:
        service.run(workspace(write_config(tmp_path, moto_endpoint, deploy)))
    assert exc.value.exit_code == 2


def test_missing_alias_is_input_error(tmp_path: Path, moto_endpoint: str) -> None:
    make_alb(moto_endpoint)
    make_lambda(moto_endpoint)
    deploy = lambda_deploy("2")
    deploy["shifter"]["alias"] = "nope"
    with pytest.raises(InputError, match="fn:nope does not exist"):
        service.run(workspace(write_config(tmp_path, moto_endpoint, deploy)))


def test_bad_input_reported_together_with_locations(tmp_path: Path, moto_endpoint: str) -> None:
    deploy = alb_deploy(strategy="7percent-jump")
    deploy["gates"].append({"name": "orphan", "type": "cloudwatch_alarm", "alarm_name": "x"})
    config = write_config(tmp_path, moto_endpoint, deploy)
    with pytest.raises(ConfigError) as exc:
        service.run(workspace(config))
    text = exc.value.render()
    assert "unknown strategy '7percent-jump'" in text and "5percent-step" in text
    assert "gate 'orphan' has no target" in text
    assert f"{config}:" in text


def test_pre_deploy_failure_aborts_and_on_failure_failure_does_not_hide_it(tmp_path: Path, moto_endpoint: str) -> None:
    stack = make_alb(moto_endpoint)
    hooks = [
        {"phase": "pre_deploy", "command": ["sh", "-c", "echo migrating; exit 3"]},
        {"phase": "on_failure", "command": ["sh", "-c", "echo cleanup broke; exit 1"]},
    ]
    result = service.run(workspace(write_config(tmp_path, moto_endpoint, alb_deploy(), hooks)))
    assert result.exit_code == 1 and result.canary is None
    assert "pre_deploy hook failed" in result.messages[0]
    phases = [(r.phase, r.status) for r in result.hooks.runs]
    assert phases == [("pre_deploy", "failed"), ("on_failure", "failed")]
    assert listener_weights(moto_endpoint, stack["listener"]) == {"blue": 1}  # untouched


def test_hard_killed_canary_journal_blocks_next_run_and_rollback_clears_it(tmp_path: Path, moto_endpoint: str) -> None:
    stack = make_alb(moto_endpoint)
    config = write_config(tmp_path, moto_endpoint, alb_deploy())
    ws = workspace(config)

    class Killed(BaseException):
        pass

    def die(kind: str, payload: dict[str, Any]) -> None:
        if kind == "weight" and payload["weight"] == 15:
            raise Killed  # stands for kill -9: nothing after this runs (the e2e test does the real one)

    with pytest.raises(Killed):
        service.run(ws, callbacks=Recorder(die))
    journal = ws.read_state().canary
    assert journal["weight"] == 15 and journal["run_id"] == ws.run_id
    with pytest.raises(InterruptedCanaryError, match="interrupted at canary weight 15%") as exc:
        service.run(workspace(config))
    assert "deployforge deploy --rollback" in (exc.value.hint or "")
    out = service.rollback(workspace(config))
    assert out.exit_code == 0 and "stable 100% / canary 0%" in out.messages[0]
    assert listener_weights(moto_endpoint, stack["listener"]) == {"blue": 100, "green": 0}
    assert workspace(config).read_state().canary is None


def test_dry_run_lists_steps_without_touching_anything(tmp_path: Path, moto_endpoint: str) -> None:
    config = write_config(tmp_path, moto_endpoint, alb_deploy())
    result = service.dry_run(workspace(config), strategy="canary-10pct-5m", timeout=None)
    steps = result.extra["deploy"]["steps"]
    assert [s["kind"] for s in steps] == ["set_weight", "bake", "promote"]
    assert steps[1]["duration_s"] == 300


def test_timeline_renders_and_exports_junit(tmp_path: Path, moto_endpoint: str) -> None:
    from deployforge.deploy.render import render_canary

    make_alb(moto_endpoint)
    result = service.run(
        workspace(write_config(tmp_path, moto_endpoint, alb_deploy(strategy="linear-50pct-every-20ms")))
    )
    text = render_canary(result.canary)
    assert textwrap.dedent(text).startswith("Canary promoted: every step passed")
    assert "final weights (read back): stable 0% / canary 100%" in text
    from deployforge.deploy.render import to_junit_suite
    from deployforge.render.junit import render_junit

    suite = to_junit_suite(result.canary, environment="default")
    assert len(suite.cases) == len(result.canary.evaluations) >= 1
    assert all(c.classname == "canary.default" and c.status == "passed" for c in suite.cases)
    assert "errors :: step 2 at 50% #1" in render_junit([suite])


def test_junit_marks_the_failing_gate_evaluation(tmp_path: Path, moto_endpoint: str) -> None:
    from deployforge.deploy.render import to_junit_suite

    make_alb(moto_endpoint)
    _client(moto_endpoint, "cloudwatch").set_alarm_state(AlarmName="web-5xx", StateValue="ALARM", StateReason="x")
    result = service.run(workspace(write_config(tmp_path, moto_endpoint, alb_deploy())))
    cases = to_junit_suite(result.canary).cases
    assert [c.status for c in cases] == ["failure"]
    assert cases[0].failure is not None and "value ALARM" in cases[0].failure.message
