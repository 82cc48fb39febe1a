"""``deployforge drift detect --github-issue``: the real CLI in a subprocess, against moto's server and
the local fake GitHub. Drift appears (issue opened), lasts (the same issue updated), clears (closed);
a read-only token leaves the drift result intact; a missing token fails before detection."""

from __future__ import annotations

import json

import boto3

from tests.e2e.conftest import stack
from tests.fakes.github import github_fake_fixture, github_fake_server_fixture  # noqa: F401

REPO = "acme/infra"

GROUP = {
    "web_lt": {
        "type": "aws_launch_template",
        "properties": {"name": "issue-lt", "image_id": "ami-12c6146b", "instance_type": "t3.micro"},
    },
    "web_asg": {
        "type": "aws_autoscaling_group",
        "properties": {
            "name": "issue-asg",
            "min_size": 1,
            "max_size": 10,
            "desired_capacity": 2,
            "availability_zones": ["us-east-1a"],
            "launch_template": {"name": "issue-lt", "version": "$$Latest"},
        },
        "depends_on": ["web_lt"],
    },
}


def github_env(fake, **extra: str) -> dict[str, str]:
    env = {
        "GITHUB_TOKEN": fake.token,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": fake.api_url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "4242",
    }
    env.update(extra)
    return env


def set_capacity(project, n: int) -> None:
    client = boto3.client("autoscaling", endpoint_url=project.endpoint, region_name="us-east-1")
    client.set_desired_capacity(AutoScalingGroupName="issue-asg", DesiredCapacity=n)


def test_issue_lifecycle_through_the_cli(project, github_fake):
    project.write(stack(0, **GROUP))
    assert project.run("apply", "--auto-approve").returncode == 0
    env = github_env(github_fake)

    clean = project.run("drift", "detect", "--github-issue", **env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "GitHub issue: none open, none needed" in clean.stdout
    assert github_fake.issues(REPO) == []

    set_capacity(project, 5)
    found = project.run("drift", "detect", "--github-issue", **env)
    assert found.returncode == 2, found.stdout + found.stderr  # drift found, whatever the issue did
    assert f"GitHub issue #1 opened: https://github.com/{REPO}/issues/1" in found.stdout
    (issue,) = github_fake.issues(REPO)
    assert {lab["name"] for lab in issue["labels"]} == {"deployforge-drift", "env:default"}
    assert "web_asg" in issue["body"] and "`~ desired_capacity: 2 -> 5`" in issue["body"]
    assert f"https://github.com/{REPO}/actions/runs/4242" in issue["body"]
    assert github_fake.token not in issue["body"]

    lasting = project.run("drift", "list", "--github-issue", "--format", "json", **env)
    assert lasting.returncode == 2, lasting.stderr
    doc = json.loads(lasting.stdout)
    # the same issue, found again; its body changes only when something in it did (the last-seen time
    # has one-second resolution, so two runs within a second leave it unchanged)
    assert doc["github_issue"]["action"] in ("updated", "unchanged") and doc["github_issue"]["number"] == 1
    assert len(github_fake.issues(REPO)) == 1  # the same issue, never a duplicate

    set_capacity(project, 2)
    cleared = project.run("drift", "detect", "--github-issue", **env)
    assert cleared.returncode == 0, cleared.stdout + cleared.stderr
    assert "GitHub issue #1 closed" in cleared.stdout
    (issue,) = github_fake.issues(REPO)
    assert issue["state"] == "closed" and issue["state_reason"] == "completed"
    (comment,) = github_fake.comments(REPO, 1)
    assert "has cleared" in comment["body"]


def test_read_only_token_warns_and_keeps_the_drift_result(project, github_fake):
    project.write(stack(0, **GROUP))
    assert project.run("apply", "--auto-approve").returncode == 0
    set_capacity(project, 4)
    github_fake.read_only = True
    run = project.run("drift", "detect", "--github-issue", "--format", "json", **github_env(github_fake))
    assert run.returncode == 2, run.stdout + run.stderr  # the drift result, not an error
    doc = json.loads(run.stdout)
    assert doc["github_issue"]["action"] == "degraded"
    assert any("GitHub issue not updated" in w and "403" in w for w in doc["drift"]["warnings"])
    assert [r["resource"] for r in doc["drift"]["records"]] == ["web_asg"]
    assert "Traceback" not in run.stderr and github_fake.issues(REPO) == []

    table = project.run("drift", "detect", "--github-issue", **github_env(github_fake))
    assert table.returncode == 2 and "warning: GitHub issue not updated" in table.stdout


def test_missing_token_fails_before_detection(project, github_fake):
    project.write(stack(1))
    assert project.run("apply", "--auto-approve").returncode == 0
    env = github_env(github_fake)
    del env["GITHUB_TOKEN"]
    run = project.run("drift", "detect", "--github-issue", **env)
    assert run.returncode == 1, run.stdout + run.stderr  # drift's rule: errors exit 1 (2 means drift found)
    assert "--github-issue needs a token (GITHUB_TOKEN or DEPLOYFORGE_GITHUB_TOKEN)" in run.stderr
    assert "hint:" in run.stderr and "Traceback" not in run.stderr and "internal error" not in run.stderr
    assert "No drift" not in run.stdout  # failed before detecting anything
    assert github_fake.calls() == []
