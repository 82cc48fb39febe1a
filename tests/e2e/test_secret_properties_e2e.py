"""``vault://`` references in resource properties, through the real CLI (a subprocess), against moto
and a real OpenBao dev server: the cloud gets the value; stdout/stderr, the plan file, the state
folder (state, baselines) and the audit log never hold it; bad references exit 2 before any change."""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path

import boto3
import pytest

from tests.e2e.conftest import stack
from tests.e2e.test_multicloud import _leaks
from tests.fakes.vault import openbao_server  # noqa: F401


@pytest.fixture
def secret_project(project, openbao):
    """A launch template whose user_data and an alarm whose description come from OpenBao."""
    tag = uuid.uuid4().hex[:10]
    token = f"Tok-{uuid.uuid4().hex}"
    user_data = f"#!/bin/sh\nexport APP_TOKEN={token}\nexec /srv/app --token-from-env\n"
    description = f"Page on-call with runbook key {uuid.uuid4().hex}"
    path = f"apps/web-{tag}"
    openbao.put(path, user_data=user_data, description=description)
    names = {"lt": f"web-lt-{tag}", "alarm": f"web-cpu-{tag}"}
    resources = {
        "web_lt": {
            "type": "aws_launch_template",
            "properties": {
                "name": names["lt"],
                "image_id": "ami-12c6146b",
                "instance_type": "t3.micro",
                "user_data": f"vault://secret/{path}#user_data",
            },
        },
        "cpu_alarm": {
            "type": "aws_cloudwatch_metric_alarm",
            "properties": {
                "alarm_name": names["alarm"],
                "metric_name": "CPUUtilization",
                "namespace": "AWS/EC2",
                "statistic": "Average",
                "period": 60,
                "evaluation_periods": 2,
                "threshold": 80,
                "comparison_operator": "GreaterThanThreshold",
                "alarm_description": f"vault://secret/{path}#description",
            },
        },
    }
    project.write(stack(0, **resources))
    return project, openbao.env(), names, path, [user_data, token, description]


def _ec2(endpoint):
    return boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1")


def _templates(endpoint, name):
    found = _ec2(endpoint).describe_launch_templates(Filters=[{"Name": "launch-template-name", "Values": [name]}])
    return found["LaunchTemplates"]


def test_apply_sends_the_values_and_nothing_written_holds_them(secret_project):
    project, env, names, path, secrets = secret_project
    user_data, _, description = secrets
    runs = []

    validate = project.run("validate")  # no Vault needed (no VAULT_ADDR here at all)
    assert validate.returncode == 0, validate.stderr
    planned = project.run("plan", "--out", "plan.json", **env)
    assert planned.returncode == 2, planned.stderr
    assert re.search(rf"user_data +=  ?\(secret: vault://secret/{path}#user_data\)", planned.stdout), planned.stdout
    assert f"(secret: vault://secret/{path}#description)" in planned.stdout
    applied = project.run("apply", "plan.json", **env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    runs += [("plan", planned), ("apply", applied)]

    # the cloud received the real values
    [template] = _templates(project.endpoint, names["lt"])
    version = _ec2(project.endpoint).describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"], Versions=["$Default"]
    )["LaunchTemplateVersions"][0]
    assert base64.b64decode(version["LaunchTemplateData"]["UserData"]).decode() == user_data
    cloudwatch = boto3.client("cloudwatch", endpoint_url=project.endpoint, region_name="us-east-1")
    [alarm] = cloudwatch.describe_alarms(AlarmNames=[names["alarm"]])["MetricAlarms"]
    assert alarm["AlarmDescription"] == description

    # plans stay clean, drift sees nothing, and JSON output holds no value either
    again = project.run("plan", "--format", "json", **env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["plan"]["summary"]["no-op"] == 2
    detect = project.run("drift", "detect", **env)
    assert detect.returncode == 0, detect.stdout + detect.stderr
    noop = project.run("apply", "--auto-approve", **env)
    assert noop.returncode == 0 and "No changes" in noop.stdout
    runs += [("plan json", again), ("drift detect", detect), ("apply again", noop)]

    state_files = [p for p in Path(project.dir).rglob("*") if p.is_file()]
    assert Path(project.dir, "plan.json") in state_files
    assert any("audit" in str(p) for p in state_files) and any("baseline" in str(p) for p in state_files)
    texts = [(f"{name} {stream}", getattr(run, stream)) for name, run in runs for stream in ("stdout", "stderr")]
    texts += [(str(p), p.read_text(encoding="utf-8", errors="replace")) for p in state_files]
    assert _leaks(secrets, texts) == []
    assert f"vault://secret/{path}#user_data" in "".join(t for _, t in texts)  # references are kept


def test_a_changed_reference_updates_the_cloud_with_the_new_value(secret_project, openbao):
    project, env, names, path, _ = secret_project
    assert project.run("apply", "--auto-approve", **env).returncode == 0
    new_data = f"#!/bin/sh\nexport APP_TOKEN=Rotated-{uuid.uuid4().hex}\n"
    openbao.put(f"{path}-v2", user_data=new_data)
    project.config.write_text(
        project.config.read_text().replace(f"{path}#user_data", f"{path}-v2#user_data"), encoding="utf-8"
    )
    planned = project.run("plan", **env)
    assert planned.returncode == 2
    assert re.search(rf"user_data +: \(sensitive\) -> \(secret: vault://secret/{path}-v2#user_data\)", planned.stdout)
    applied = project.run("apply", "--auto-approve", **env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    [template] = _templates(project.endpoint, names["lt"])
    version = _ec2(project.endpoint).describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"], Versions=["$Default"]
    )["LaunchTemplateVersions"][0]
    assert base64.b64decode(version["LaunchTemplateData"]["UserData"]).decode() == new_data
    assert project.run("plan", **env).returncode == 0
    assert _leaks([new_data], [("plan", planned.stdout), ("apply", applied.stdout + applied.stderr)]) == []


def test_a_missing_key_exits_2_before_any_change(secret_project):
    project, env, names, path, _ = secret_project
    project.config.write_text(
        project.config.read_text().replace(f"{path}#user_data", f"{path}#usr_data"), encoding="utf-8"
    )
    applied = project.run("apply", "--auto-approve", **env)
    assert applied.returncode == 2, applied.stdout + applied.stderr
    assert f"resources.web_lt.properties.user_data: vault://secret/{path}#usr_data" in applied.stderr
    assert "has no key 'usr_data'" in applied.stderr and "keys of that secret: description, user_data" in (
        applied.stderr
    )
    assert _templates(project.endpoint, names["lt"]) == []
    cloudwatch = boto3.client("cloudwatch", endpoint_url=project.endpoint, region_name="us-east-1")
    assert cloudwatch.describe_alarms(AlarmNames=[names["alarm"]])["MetricAlarms"] == []  # nothing at all


def test_unreachable_vault_exits_2_before_any_change(secret_project, dead_port):
    project, env, names, _, _ = secret_project
    dead = {**env, "VAULT_ADDR": f"http://127.0.0.1:{dead_port}"}
    planned = project.run("plan", **dead)  # planning does not need the values
    assert planned.returncode == 2 and "cannot reach Vault" not in planned.stderr
    applied = project.run("apply", "--auto-approve", **dead)
    assert applied.returncode == 2, applied.stdout + applied.stderr
    assert "resources.web_lt.properties.user_data: vault://secret/" in applied.stderr
    assert "cannot reach Vault" in applied.stderr
    assert _templates(project.endpoint, names["lt"]) == []


def test_run_reads_the_secrets_before_pre_deploy_hooks_and_masks_them_in_hook_output(secret_project):
    """A bad reference stops `run` before a migration hook runs; a hook echoing a value or the Vault
    token shows *** on the console, in --format json and in the JUnit report."""
    import sys

    project, env, names, path, secrets = secret_project
    user_data, token, description = secrets
    config = __import__("yaml").safe_load(project.config.read_text())
    echo = (
        "import os, sys, pathlib; pathlib.Path('migrated.txt').write_text('yes'); "
        "print('token', os.environ['VAULT_TOKEN']); print('desc', sys.argv[1]); "
        "print('inputs', sorted(k for k in os.environ if k.startswith('INPUT_'))); "
        "print('envdesc', os.environ['HOOK_DESC'])"
    )
    config["hooks"] = [
        {
            "phase": "pre_deploy",
            "name": "migrate",
            "command": [sys.executable, "-c", echo, description],
            "env": {"HOOK_DESC": f"vault://secret/{path}#description"},  # read from Vault for the hook
        }
    ]
    config["resources"]["cpu_alarm"]["properties"]["alarm_description"] = f"vault://secret/{path}#descriptoin"
    project.write(__import__("yaml").safe_dump(config))
    typo = project.run("run", **env)
    assert typo.returncode == 2, typo.stdout + typo.stderr
    assert "has no key 'descriptoin'" in typo.stderr
    assert not (project.dir / "migrated.txt").exists()  # the hook never ran
    assert _templates(project.endpoint, names["lt"]) == []

    config["resources"]["cpu_alarm"]["properties"]["alarm_description"] = f"vault://secret/{path}#description"
    project.write(__import__("yaml").safe_dump(config))
    ran = project.run(
        "run", "--junit", "junit.xml", "--format", "json", **{**env, "INPUT_GITHUB-TOKEN": "ghs_" + "x" * 30}
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (project.dir / "migrated.txt").read_text() == "yes"
    outputs = ran.stdout + ran.stderr + (project.dir / "junit.xml").read_text()
    assert "desc ***" in ran.stderr and "token ***" in ran.stderr  # the Vault token a hook inherits is masked
    assert "envdesc ***" in ran.stderr  # resolved (not the literal reference), and masked
    assert "inputs []" in ran.stderr  # no INPUT_* (the Action's inputs, its token among them) reached the hook
    assert len(env["VAULT_TOKEN"]) >= 12 and env["VAULT_TOKEN"] not in outputs
    assert description not in outputs and user_data not in outputs and token not in outputs
