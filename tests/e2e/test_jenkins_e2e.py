"""The Jenkins library's shell commands against the real CLI.

Each test runs a pipeline snippet through jenkins-shared-library/test/pipeline.groovy: the library's
steps run in Debian's groovy with the harness's stand-ins, except `sh`, which really runs bash in
the workspace. So the command lines the library produces are executed by the real `deployforge`
(against moto's server on loopback), the report step renders through the Python core, and the PR
comment goes to the local fake GitHub.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, SRC, stack
from tests.fakes.github import FakeGitHub, github_fake_fixture, github_fake_server_fixture  # noqa: F401

LIBRARY = ROOT / "jenkins-shared-library"


@pytest.fixture(scope="session")
def groovy() -> str:
    if shutil.which("groovy") is None:  # a fresh CI machine: the Groovy check's installer (apt-get)
        subprocess.run([str(ROOT / "scripts/checks/30-groovy.sh"), "--install-only"], check=True)
    found = shutil.which("groovy")
    assert found, "groovy could not be installed"
    return found


@pytest.fixture
def agent_bin(tmp_path: Path) -> Path:
    """A Jenkins agent's PATH entry with `deployforge` (this checkout) and its interpreter beside it."""
    bin_dir = tmp_path / "agent-bin"
    bin_dir.mkdir()
    cli = bin_dir / "deployforge"
    cli.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m deployforge "$@"\n')
    cli.chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    return bin_dir


def run_pipeline(groovy: str, workspace: Path, snippet: str, env: dict[str, str]) -> dict[str, Any]:
    snippet_file = workspace.parent / "snippet.groovy"
    out_file = workspace.parent / "pipeline-out.json"
    snippet_file.write_text(textwrap.dedent(snippet), encoding="utf-8")
    java = (
        {"JAVA_HOME": "/usr/lib/jvm/java-17-openjdk-amd64"}
        if Path("/usr/lib/jvm/java-17-openjdk-amd64").is_dir()
        else {}
    )
    proc = subprocess.run(
        [
            groovy,
            "-cp",
            "src:test/stubs:test",
            "test/pipeline.groovy",
            str(workspace),
            str(snippet_file),
            str(out_file),
        ],
        cwd=LIBRARY,
        env=env | java,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out_file.read_text(encoding="utf-8"))


def agent_env(agent_bin: Path, endpoint: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYFORGE_", "GITHUB_", "CHANGE_", "JENKINS_"))}
    env.update(
        PATH=f"{agent_bin}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=SRC,
        AWS_ENDPOINT=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        NO_COLOR="1",
    )
    env.update(extra)
    return env


def test_plan_apply_plan_on_a_pull_request(
    tmp_path: Path, groovy: str, agent_bin: Path, moto_endpoint: str, github_fake: FakeGitHub
):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "deployforge.yaml").write_text(stack(2))
    github_fake.add_pull_request("octo/app", 7)
    env = agent_env(
        agent_bin,
        moto_endpoint,
        JENKINS_URL="https://ci.example.com/",
        BUILD_URL="https://ci.example.com/job/app/job/PR-7/1/",
        CHANGE_ID="7",
        CHANGE_URL="https://github.com/octo/app/pull/7",
        CHANGE_TARGET="main",
        GIT_COMMIT="0123456789abcdef0123456789abcdef01234567",
        GITHUB_API_URL=github_fake.api_url,
        SECRET_gh=github_fake.token,  # the harness binds credential 'gh' to this value
    )
    out = run_pipeline(
        groovy,
        workspace,
        """
        def keep = { r -> r.subMap(['status', 'result', 'outcome', 'reason']) }
        def v = deployforgeValidate(docker: false)
        def p1 = deployforgePlan(docker: false, githubCredentialsId: 'gh')
        def a = deployforge(command: 'apply', planFile: 'deployforge-reports/plan.json', docker: false,
                            githubCredentialsId: 'gh')
        def p2 = deployforgePlan(docker: false, githubCredentialsId: 'gh')
        return [validate: keep(v), plan1: keep(p1), apply: keep(a), plan2: keep(p2)]
        """,
        env,
    )
    assert out["error"] is None, out
    r = out["returned"]
    assert r["validate"]["result"] == "SUCCESS" and r["validate"]["status"] == 0
    assert r["plan1"] == {
        "status": 2,
        "result": "SUCCESS",
        "outcome": "changes",
        "reason": "deployforge plan found changes (2 to create) (exit 2); onChanges maps this to SUCCESS",
    }
    assert r["apply"]["status"] == 0 and r["apply"]["result"] == "SUCCESS"
    assert r["plan2"]["status"] == 0 and r["plan2"]["outcome"] == "success"
    assert out["buildResult"] is None

    import boto3

    ec2 = boto3.client("ec2", endpoint_url=moto_endpoint, region_name="us-east-1")
    names = {g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    assert {"group-0", "group-1"} <= names

    reports = workspace / "deployforge-reports"
    assert json.loads((reports / "plan-result.json").read_text())["exit_code"] == 0
    html = (reports / "plan-report.html").read_text()
    assert "<table>" in html and "DeployForge plan" in html
    # one sticky comment on the PR, created by the first step and updated by the next ones
    [comment] = github_fake.comments("octo/app", 7)
    assert "DeployForge plan" in comment["body"] and "ci.example.com/job/app/job/PR-7/1/" in comment["body"]
    assert any("PR comment created:" in line for line in out["log"])
    assert sum("PR comment updated:" in line for line in out["log"]) == 2
    # the token reached the CLI's report step only through the environment
    scripts = [c["script"] for c in out["calls"] if c["step"] == "sh"]
    assert scripts and all(github_fake.token not in s for s in scripts)
    assert all(github_fake.token not in line for line in out["log"])
    assert [c["step"] for c in out["calls"]].count("junit") == 4


def test_bad_input_and_a_missing_cli_are_clear_errors(tmp_path: Path, groovy: str, agent_bin: Path, moto_endpoint: str):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "deployforge.yaml").write_text("targets:\n  main: {provider: aws, regoin: us-east-1}\nresources: {}\n")
    (workspace / "good.yaml").write_text(stack(1))
    out = run_pipeline(
        groovy,
        workspace,
        """
        def out = [:]
        try { deployforgePlan(docker: false) } catch (PipelineError e) { out.bad = e.message }
        try { deployforgePlan(docker: false, env: [PATH: '/usr/bin:/bin']) }
        catch (PipelineError e) { out.missing = e.message }
        try { deployforgeRun(pipeline: 'canary.yaml', docker: false) }
        catch (PipelineError e) { out.noFile = e.message }
        def quoted = deployforgePlan(docker: false, config: 'good.yaml', environment: "it's \\$(touch pwned)",
                                     propagate: false)
        out.quoted = quoted.subMap(['status', 'outcome', 'reason'])
        return out
        """,
        agent_env(agent_bin, moto_endpoint),
    )
    r = out["returned"]
    assert r["bad"] == "deployforge plan: bad input (exit 1): 1 problem in the configuration"  # 2 means changes
    assert r["missing"].startswith("deployforgePlan: deployforge is not installed on this agent")
    assert r["noFile"].startswith("deployforgeRun: pipeline file 'canary.yaml' not found in the workspace")
    # a hostile value reached the CLI as one literal argument: nothing was executed by the shell
    assert r["quoted"]["status"] == 1 and r["quoted"]["outcome"] == "input"
    assert not (workspace / "pwned").exists()
    result = json.loads((workspace / "deployforge-reports" / "plan-result.json").read_text())
    assert "it's $(touch pwned)" in json.dumps(result)
    assert "Traceback" not in "\n".join(out["log"])
    assert out["buildResult"] == "FAILURE"


def test_run_and_drift_write_junit_and_the_report_through_the_cli(
    tmp_path: Path, groovy: str, agent_bin: Path, moto_endpoint: str
):
    """deployforgeRun / deployforgeDrift pass --junit; `deployforge jenkins report` renders the reports."""
    import boto3
    import yaml

    from deployforge.render.junit import check_junit, parse_junit
    from tests.e2e.test_run_canary import make_stack, weights

    listener = make_stack(moto_endpoint)
    boto3.client(
        "cloudwatch",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    ).put_metric_alarm(
        AlarmName="jenkins-5xx",
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
    )
    workspace = tmp_path / "ws"
    workspace.mkdir()
    doc = {
        "targets": {"main": {"provider": "aws", "region": "us-east-1", "endpoint_url": "$AWS_ENDPOINT"}},
        "resources": {
            "web": {"type": "aws_security_group", "properties": {"name": "jenkins-web", "description": "web"}}
        },
        "deploy": {
            "strategy": "linear-50pct-every-60ms",
            "check_interval": "20ms",
            "shifter": {
                "type": "aws_alb_listener",
                "target": "main",
                "load_balancer": "web",
                "port": 80,
                "stable_target_group": "blue",
                "canary_target_group": "green",
            },
            "gates": [{"name": "errors", "type": "cloudwatch_alarm", "target": "main", "alarm_name": "jenkins-5xx"}],
        },
    }
    (workspace / "canary.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    out = run_pipeline(
        groovy,
        workspace,
        """
        def keep = { r -> r.subMap(['status', 'result', 'outcome']) }
        def r = deployforgeRun(pipeline: 'canary.yaml', evolveStrategy: 'linear-50pct-every-60ms', timeout: 600,
                               docker: false)
        def d = deployforgeDrift(pipeline: 'canary.yaml', docker: false)
        return [run: keep(r), drift: keep(d)]
        """,
        agent_env(agent_bin, moto_endpoint),
    )
    assert out["error"] is None, out
    assert out["returned"] == {
        "run": {"status": 0, "result": "SUCCESS", "outcome": "success"},
        "drift": {"status": 0, "result": "SUCCESS", "outcome": "success"},
    }
    assert weights(moto_endpoint, listener) == {"green": 100}
    scripts = [c["script"] for c in out["calls"] if c["step"] == "sh"]
    assert any("deployforge run --pipeline 'canary.yaml'" in s and "--junit 'deployforge-reports/run-junit.xml'" in s
               for s in scripts)  # fmt: skip
    assert sum(s.startswith("deployforge jenkins report --command ") for s in scripts) == 2

    reports = workspace / "deployforge-reports"
    run_junit = (reports / "run-junit.xml").read_text(encoding="utf-8")
    assert check_junit(run_junit) == []
    [canary] = parse_junit(run_junit)
    assert canary.name == "canary linear-50pct-every-60ms" and dict(canary.properties)["verdict"] == "promoted"
    assert canary.cases and all(c.status == "passed" and c.classname == "canary.default" for c in canary.cases)
    drift_junit = (reports / "drift-junit.xml").read_text(encoding="utf-8")
    assert check_junit(drift_junit) == []
    [drift] = parse_junit(drift_junit)
    assert [(c.classname, c.name, c.status) for c in drift.cases] == [("drift.default", "web", "passed")]
    # the report step (the real `deployforge jenkins report`) rendered both results
    assert "DeployForge run · `default`: passed" in (reports / "run-report.md").read_text(encoding="utf-8")
    assert "<html" in (reports / "run-report.html").read_text(encoding="utf-8").lower()
    assert (reports / "drift-report.html").exists()
    junit_calls = [c["testResults"] for c in out["calls"] if c["step"] == "junit"]
    assert junit_calls == ["deployforge-reports/run-junit.xml", "deployforge-reports/drift-junit.xml"]  # each its own
