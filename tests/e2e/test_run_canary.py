"""`deployforge run` / `deploy` as a real subprocess: signals during a canary, hard kill, the product command."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import yaml

from tests.e2e.conftest import ROOT, Project


def _elb(endpoint: str) -> Any:
    return boto3.client(
        "elbv2", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )


def make_stack(endpoint: str) -> str:
    kw = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "t", "aws_secret_access_key": "t"}
    ec2, elb = boto3.client("ec2", **kw), _elb(endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    lb = elb.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    blue, _ = (
        elb.create_target_group(Name=n, Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
        for n in ("blue", "green")
    )
    return str(
        elb.create_listener(
            LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": blue}]
        )["Listeners"][0]["ListenerArn"]
    )


def weights(endpoint: str, listener: str) -> dict[str, int]:
    action = _elb(endpoint).describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"][0]
    groups = action.get("ForwardConfig", {}).get("TargetGroups") or [{"TargetGroupArn": action["TargetGroupArn"]}]
    return {g["TargetGroupArn"].split("/")[1]: int(g.get("Weight", 1)) for g in groups}


def write(project: Project, interval: str) -> None:
    doc = {
        "targets": {"main": {"provider": "aws", "region": "us-east-1", "endpoint_url": "$AWS_ENDPOINT"}},
        "resources": {},
        "deploy": {
            "strategy": "10percent-step",
            "interval": interval,
            "shifter": {
                "type": "aws_alb_listener",
                "target": "main",
                "load_balancer": "web",
                "port": 80,
                "stable_target_group": "blue",
                "canary_target_group": "green",
            },
        },
    }
    project.config.write_text(yaml.safe_dump(doc), encoding="utf-8")


def wait_for_split(project: Project, listener: str, proc: Any) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if weights(project.endpoint, listener).get("green", 0) >= 20:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the canary never reached 20%")


def test_sigterm_during_canary_sends_traffic_back_to_stable(project: Project) -> None:
    listener = make_stack(project.endpoint)
    write(project, "300ms")
    proc = project.popen("run", "--no-confirm")
    wait_for_split(project, listener, proc)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert weights(project.endpoint, listener) == {"blue": 100, "green": 0}
    assert "Rolling back: interrupted" in err
    state = yaml.safe_load((project.dir / ".deployforge" / "state" / "default.json").read_text())
    assert "canary" not in state


def test_hard_kill_leaves_journal_next_run_refuses_and_rollback_recovers(project: Project) -> None:
    listener = make_stack(project.endpoint)
    write(project, "300ms")
    proc = project.popen("run")
    wait_for_split(project, listener, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert weights(project.endpoint, listener)["green"] >= 20  # nobody moved it back
    again = project.run("run")
    assert again.returncode == 1
    assert "was interrupted at canary weight" in again.stderr
    assert "deployforge deploy --rollback -e default" in again.stderr  # a command that can be pasted
    back = project.run("deploy", "--rollback", "--junit", "rollback-junit.xml")
    assert back.returncode == 0, back.stderr
    assert "stable 100% / canary 0%" in back.stdout
    assert weights(project.endpoint, listener) == {"blue": 100, "green": 0}
    assert _read_junit(project.dir / "rollback-junit.xml") == {}  # a report CI can read, with nothing checked
    assert project.run("run", "--dry-run", "--junit", "dry-junit.xml").returncode == 0
    assert _read_junit(project.dir / "dry-junit.xml") == {}


def test_bad_strategy_exits_2_before_traffic_moves(project: Project) -> None:
    listener = make_stack(project.endpoint)
    write(project, "10ms")
    out = project.run("run", "--evolve-strategy", "7percent-jump")
    assert out.returncode == 2
    assert "unknown strategy '7percent-jump'" in out.stderr and "canary-<P>pct-<M>m" in out.stderr
    assert weights(project.endpoint, listener) == {"blue": 1}


def test_product_page_command_runs_the_example_in_the_sandbox(tmp_path: Path) -> None:
    example = tmp_path / "canary"
    shutil.copytree(ROOT / "examples" / "canary", example, ignore=shutil.ignore_patterns(".deployforge"))
    project = Project(example, "")
    project.config.unlink(missing_ok=True)
    env = {"DEPLOYFORGE_SANDBOX": "1", "CANARY_BAKE": "20ms", "CANARY_CHECK": "10ms"}
    try:
        out = project.run(
            "run", "--pipeline", "canary.yaml", "--evolve-strategy", "5percent-step", "--timeout", "1800", **env
        )
        assert out.returncode == 0, out.stderr
        assert "Canary promoted" in out.stdout and "stable 0% / canary 100%" in out.stdout
        assert "hook post_success 'smoke test': ok" in out.stdout
    finally:
        project.run("sandbox", "down", "-c", "canary.yaml", **env)


# -- --junit: one test case per gate evaluation (and the policy gate's results), also on abort -------


def _alarm(endpoint: str, name: str, state: str) -> None:
    cw = boto3.client(
        "cloudwatch", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    cw.put_metric_alarm(
        AlarmName=name,
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
    )
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"{state} for the JUnit test")


def _junit_config(project: Project, alarm: str, **extra: Any) -> None:
    write(project, "30ms")
    doc = yaml.safe_load(project.config.read_text(encoding="utf-8"))
    doc["deploy"].update(
        strategy="linear-50pct-every-60ms",
        check_interval="20ms",
        failure_threshold=1,
        gates=[{"name": "errors", "type": "cloudwatch_alarm", "target": "main", "alarm_name": alarm}],
    )
    doc.update(extra)
    project.config.write_text(yaml.safe_dump(doc), encoding="utf-8")


def _read_junit(path: Path) -> Any:
    from deployforge.render.junit import check_junit, parse_junit

    text = path.read_text(encoding="utf-8")
    assert check_junit(text) == []
    return {s.name: s for s in parse_junit(text)}


def test_run_junit_on_an_aborted_canary_has_the_failing_gate_and_the_policy_suite(project: Project) -> None:
    listener = make_stack(project.endpoint)
    _alarm(project.endpoint, "junit-abort-5xx", "ALARM")
    (project.dir / "tags.rego").write_text(
        "package deployforge.tags\nimport rego.v1\n\n"
        "deny contains msg if {\n  not input.resource.tags.owner\n"
        '  msg := sprintf("%s has no owner tag", [input.address])\n}\n',
        encoding="utf-8",
    )
    sg = {
        "type": "aws_security_group",
        "properties": {"name": "junit-web", "description": "web"},
        "tags": {"owner": "platform"},
    }
    _junit_config(project, "junit-abort-5xx", policies=["tags.rego"], resources={"web": sg})
    out = project.run("run", "--junit", "reports/run-junit.xml", "--format", "json")
    assert out.returncode == 1, out.stderr
    assert weights(project.endpoint, listener) == {"blue": 100, "green": 0}  # rolled back
    suites = _read_junit(project.dir / "reports" / "run-junit.xml")
    assert set(suites) == {"deployforge.policy", "canary linear-50pct-every-60ms"}
    assert suites["deployforge.policy"].cases and all(c.status == "passed" for c in suites["deployforge.policy"].cases)
    [case] = suites["canary linear-50pct-every-60ms"].cases  # threshold 1: the first check aborts
    assert case.name == "errors :: step 2 at 50% #1" and case.classname == "canary.default"
    assert case.failure is not None and case.failure.message == "errors: value ALARM; expected not ALARM"
    assert "ALARM for the JUnit test" in case.failure.text


def test_deploy_junit_on_a_promoted_canary_has_a_case_per_gate_check(project: Project) -> None:
    listener = make_stack(project.endpoint)
    _alarm(project.endpoint, "junit-ok-5xx", "OK")
    _junit_config(project, "junit-ok-5xx")
    out = project.run("deploy", "--junit", "deploy-junit.xml")
    assert out.returncode == 0, out.stderr
    assert weights(project.endpoint, listener) == {"green": 100}
    [suite] = _read_junit(project.dir / "deploy-junit.xml").values()
    assert suite.name == "canary linear-50pct-every-60ms" and dict(suite.properties)["verdict"] == "promoted"
    assert len(suite.cases) >= 2 and all(c.status == "passed" for c in suite.cases)
    assert {c.name.split(" #")[0] for c in suite.cases} == {"errors :: step 2 at 50%"}
    assert all(dict(c.properties) == {"weight": "50", "value": "OK"} for c in suite.cases)


def test_junit_path_that_is_a_directory_is_refused_before_traffic_moves(project: Project) -> None:
    listener = make_stack(project.endpoint)
    _alarm(project.endpoint, "junit-ok-5xx", "OK")
    _junit_config(project, "junit-ok-5xx")
    (project.dir / "reports").mkdir()
    out = project.run("run", "--junit", "reports")
    assert out.returncode == 2 and "Invalid value for '--junit': 'reports' is a folder" in out.stderr
    assert weights(project.endpoint, listener) == {"blue": 1}


def test_a_failing_pre_deploy_hook_is_a_failed_junit_case_and_nothing_moves(project: Project) -> None:
    listener = make_stack(project.endpoint)
    _alarm(project.endpoint, "junit-ok-5xx", "OK")
    (project.dir / "migrate.py").write_text("print('migration 7 failed: lock timeout'); raise SystemExit(3)\n")
    hooks = [{"phase": "pre_deploy", "name": "migrate", "command": [sys.executable, "migrate.py"]}]
    _junit_config(project, "junit-ok-5xx", hooks=hooks)
    out = project.run("run", "--junit", "run-junit.xml")
    assert out.returncode == 1, out.stderr
    assert weights(project.endpoint, listener) == {"blue": 1}  # the deploy never started
    [suite] = _read_junit(project.dir / "run-junit.xml").values()
    [case] = suite.cases
    assert (suite.name, case.name, case.classname) == ("hooks", "pre_deploy :: migrate", "hooks.default")
    assert case.failure is not None and case.failure.message == "failed: exit code 3"
    assert "migration 7 failed: lock timeout" in case.failure.text
    assert dict(suite.properties)["deployforge.trace_id"].startswith("DF-TRC-")


def test_a_deploy_needing_confirmation_without_a_terminal_says_so_in_the_json(project: Project) -> None:
    """CI reads `reason` from the error document (the Jenkins library then pauses on `input`)."""
    import json

    doc = {
        "targets": {"main": {"provider": "aws", "region": "us-east-1", "endpoint_url": "$AWS_ENDPOINT"}},
        "environments": {"prod": {"require_confirmation": True}},
        "resources": {"sg": {"type": "aws_security_group", "properties": {"name": "conf-sg", "description": "x"}}},
    }
    project.config.write_text(yaml.safe_dump(doc), encoding="utf-8")
    done = project.run("run", "-e", "prod", "--format", "json")
    assert done.returncode == 2, done.stderr
    error = json.loads(done.stdout)
    assert error["reason"] == "needs-confirmation" and error["input_error"] is True
    assert "requires confirmation" in error["error"]
    # nothing was applied
    ec2 = boto3.client("ec2", endpoint_url=project.endpoint, region_name="us-east-1")
    assert "conf-sg" not in {g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]}
