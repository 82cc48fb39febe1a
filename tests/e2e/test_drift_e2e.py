"""The product page's drift commands, verbatim, through the real CLI against moto's server."""

from __future__ import annotations

import json
import re

import boto3

from tests.e2e.conftest import stack

CONFIG_EXTRA = {
    "web_lt": {
        "type": "aws_launch_template",
        "properties": {"name": "web-lt", "image_id": "ami-12c6146b", "instance_type": "t3.micro"},
    },
    "web_asg": {
        "type": "aws_autoscaling_group",
        "properties": {
            "name": "web-asg",
            "min_size": 1,
            "max_size": 10,
            "desired_capacity": 2,
            "availability_zones": ["us-east-1a"],
            "launch_template": {"name": "web-lt", "version": "$$Latest"},
        },
        "depends_on": ["web_lt"],
    },
}

HEALING = """
environments:
  prod: {require_confirmation: true}
self_healing_rules:
  - resource_type: aws_auto_scaling_group
    max_deviation: 15%
    auto_approve: true
    actions:
      - type: reapply
"""


def test_product_page_commands(project):
    project.write(stack(0, **CONFIG_EXTRA) + HEALING)
    applied = project.run("apply", "--environment=prod", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    listed = project.run("drift", "list", "--environment=prod")
    assert listed.returncode == 0, listed.stderr + listed.stdout
    assert "No drift" in listed.stdout

    kw = dict(endpoint_url=project.endpoint, region_name="us-east-1")
    boto3.client("autoscaling", **kw).set_desired_capacity(AutoScalingGroupName="web-asg", DesiredCapacity=4)

    listed = project.run("drift", "list", "--environment=prod")
    assert listed.returncode == 2, listed.stderr
    (drift_id,) = set(re.findall(r"\bDF-[0-9A-Z]{3}-[0-9A-Z]{3}\b", listed.stdout))
    assert "web_asg" in listed.stdout and "desired_capacity" in listed.stdout

    as_json = json.loads(project.run("drift", "list", "--environment=prod", "--format", "json").stdout)
    assert [r["id"] for r in as_json["drift"]["records"]] == [drift_id]  # the same id on every run

    plan = project.run("drift", "remediate", f"--drift-id={drift_id}", "--dry-run", "--environment=prod")
    assert plan.returncode == 0, plan.stderr
    assert "desired_capacity: 4 -> 2" in plan.stdout and "dry run" in plan.stdout
    assert (
        boto3.client("autoscaling", **kw).describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])[
            "AutoScalingGroups"
        ][0]["DesiredCapacity"]
        == 4
    )

    healed = project.run("drift", "auto-resolve", f"--drift-id={drift_id}", "--environment=prod")
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert "applied" in healed.stdout
    group = boto3.client("autoscaling", **kw).describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])
    assert group["AutoScalingGroups"][0]["DesiredCapacity"] == 2
    assert project.run("drift", "list", "--environment=prod").returncode == 0


def test_errors_exit_1(project):
    project.write(stack(1))
    no_baseline = project.run("drift", "list", "--environment=default")
    assert no_baseline.returncode == 1 and "no baseline" in no_baseline.stderr
    assert project.run("apply", "--auto-approve").returncode == 0
    unknown = project.run("drift", "remediate", "--drift-id=DF-5XJ-88B", "--dry-run")
    assert unknown.returncode == 1 and "no drift DF-5XJ-88B" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_usage_errors_of_drift_commands_exit_1_because_2_means_drift_found(tmp_path):
    import subprocess
    import sys

    for args in (["remediate"], ["list", "--severity", "critical"], ["list", "--bogus"], ["bogus"]):
        out = subprocess.run(
            [sys.executable, "-m", "deployforge", "drift", *args], cwd=tmp_path, capture_output=True, text=True
        )
        assert out.returncode == 1, (args, out.returncode, out.stderr)
        assert out.stderr.strip().splitlines()[-1].startswith("Error: ") and "Traceback" not in out.stderr


def test_an_ignore_that_expires_in_the_past_is_refused(tmp_path):
    import subprocess
    import sys

    (tmp_path / "deployforge.yaml").write_text("targets: {main: {provider: aws, region: us-east-1}}\nresources: {}\n")
    args = ["drift", "remediate", "--drift-id", "DF-5XJ-88B", "--strategy", "ignore", "--reason", "r"]
    out = subprocess.run(
        [sys.executable, "-m", "deployforge", *args, "--expires", "2020-01-01"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1  # bad input in a drift command: 1 (2 means drift found)
    assert "--expires 2020-01-01: that day has come already" in out.stderr
    assert not (tmp_path / "drift-ignore.yaml").exists()
