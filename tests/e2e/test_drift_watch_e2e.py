"""Issue 16, point 3 through the CLI on the sandbox: `drift watch setup`, `--once`, `--follow`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import uuid

import boto3

from tests.e2e.conftest import ROOT, Project

ENV = {"DEPLOYFORGE_SANDBOX": "1"}


def _client(endpoint: str, name: str):
    return boto3.client(
        name, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def _scale(endpoint: str, group: str, capacity: int) -> None:
    """The out-of-band call, and the CloudTrail event a real account would emit for it."""
    _client(endpoint, "autoscaling").set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=capacity)
    detail = {
        "eventSource": "autoscaling.amazonaws.com",
        "eventName": "SetDesiredCapacity",
        "eventID": str(uuid.uuid4()),
        "requestParameters": {"autoScalingGroupName": group, "desiredCapacity": capacity},
        "responseElements": None,
    }
    _client(endpoint, "events").put_events(
        Entries=[
            {"Source": "aws.autoscaling", "DetailType": "AWS API Call via CloudTrail", "Detail": json.dumps(detail)}
        ]
    )


def test_watch_setup_once_and_follow_on_the_sandbox(tmp_path):
    shutil.copy(ROOT / "examples" / "quickstart" / "deployforge.yaml", tmp_path / "deployforge.yaml")
    project = Project(tmp_path, endpoint="unused")
    try:
        assert project.run("apply", "-e", "dev", "--auto-approve", **ENV).returncode == 0
        assert project.run("drift", "list", "-e", "dev", **ENV).returncode == 0  # a full check: the register
        endpoint = project.run("sandbox", "endpoint").stdout.strip()

        missing = project.run("drift", "watch", "-e", "dev", "--once", **ENV)
        assert missing.returncode == 1 and "does not exist" in missing.stderr
        assert "deployforge drift watch setup -e dev" in missing.stderr and "Traceback" not in missing.stderr

        made = project.run("drift", "watch", "setup", "-e", "dev", **ENV)
        assert made.returncode == 0, made.stderr
        assert project.run("drift", "watch", "setup", "-e", "dev", **ENV).stdout == made.stdout  # idempotent
        queue = made.stdout.split("--queue ", 1)[1].split()[0]

        _scale(endpoint, "quickstart-web-asg", 5)
        once = project.run("drift", "watch", "-e", "dev", "--queue", queue, "--once", **ENV)
        assert once.returncode == 2, once.stdout + once.stderr
        assert "re-read 1 resource(s)" in once.stdout and "~ desired_capacity: 2 -> 5" in once.stdout
        drained = project.run("drift", "watch", "-e", "dev", "--queue", queue, "--once", **ENV)
        assert drained.returncode == 0 and "0 message(s)" in drained.stdout  # deleted once recorded

        follow = project.popen("drift", "watch", "-e", "dev", "--follow", "--wait", "1", **ENV)
        try:
            time.sleep(3)
            _scale(endpoint, "quickstart-web-asg", 6)
            register = tmp_path / ".deployforge" / "drift" / "dev.json"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                text = register.read_text() if register.exists() else ""
                if "incremental_at" in text and '"web_asg"' in text and json.loads(text).get("records"):
                    records = json.loads(text)["records"]
                    if any(r["resource"] == "web_asg" for r in records.values()):
                        break
                time.sleep(0.2)
            time.sleep(1)
        finally:
            os.killpg(follow.pid, signal.SIGTERM)
            out, err = follow.communicate(timeout=30)
        assert follow.returncode == 130, err
        assert "~ desired_capacity: 2 -> 6" in out, out + err
    finally:
        project.run("sandbox", "down")


def test_watch_needs_once_or_follow(tmp_path):
    (tmp_path / "deployforge.yaml").write_text("targets: {main: {provider: aws, region: us-east-1}}\nresources: {}\n")
    out = Project(tmp_path, endpoint="unused").run("drift", "watch")
    assert out.returncode == 1 and "choose --once" in out.stderr and "Traceback" not in out.stderr
