"""Issue 16, point 1: the product page's three drift commands, verbatim, on the quickstart (which has
two environments) through the sandbox, with the page's self-healing rule and a Slack webhook from the
environment (the local fake)."""

from __future__ import annotations

import re
import shlex
import shutil

import boto3

from tests.e2e.conftest import ROOT, Project
from tests.fakes.slack import SlackWebhook

# exactly as on the product page (advanced-features.md, "Resolution workflows"); only the id differs
PAGE = """\
deployforge drift list --environment=prod
deployforge drift remediate --drift-id=DF-5XJ-88B --dry-run
deployforge drift auto-resolve --drift-id=DF-5XJ-88B
"""


def _client(project: Project, service: str):
    endpoint = project.run("sandbox", "endpoint").stdout.strip()
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )


def _page_command(line: str, drift_id: str) -> list[str]:
    words = shlex.split(line.replace("DF-5XJ-88B", drift_id))
    assert words[0] == "deployforge"
    return words[1:]


def test_the_page_commands_verbatim_on_the_quickstart(tmp_path):
    shutil.copy(ROOT / "examples" / "quickstart" / "deployforge.yaml", tmp_path / "deployforge.yaml")
    project = Project(tmp_path, endpoint="unused")
    sandbox = {"DEPLOYFORGE_SANDBOX": "1"}
    with SlackWebhook() as slack:
        env = dict(sandbox, SLACK_WEBHOOK_URL=slack.url)
        try:
            assert project.run("validate").returncode == 0
            for name in ("dev", "prod"):  # prod has its own names: both apply into one account
                applied = project.run("apply", "-e", name, "--auto-approve", **env)
                assert applied.returncode == 0, applied.stdout + applied.stderr
            _client(project, "autoscaling").set_desired_capacity(
                AutoScalingGroupName="quickstart-web-prod-asg", DesiredCapacity=6
            )
            lines = PAGE.splitlines()
            listed = project.run(*_page_command(lines[0], ""), **env)
            assert listed.returncode == 2, listed.stdout + listed.stderr
            # dev's objects share the account: they are another environment's, not UNMANAGED here
            assert "UNMANAGED" not in listed.stdout, listed.stdout
            (drift_id,) = set(re.findall(r"\bDF-[0-9A-Z]{3}-[0-9A-Z]{3}\b", listed.stdout))

            planned = project.run(*_page_command(lines[1], drift_id), **env)  # no --environment: the id says
            assert planned.returncode == 0, planned.stdout + planned.stderr
            assert "environment prod" in planned.stderr
            assert "~ desired_capacity: 6 -> 4" in planned.stdout, planned.stdout
            assert "(dry run: nothing was changed)" in planned.stdout

            healed = project.run(*_page_command(lines[2], drift_id), **env)  # no --yes: the rule grants it
            assert healed.returncode == 0, healed.stdout + healed.stderr
            assert "applied" in healed.stdout and "Slack #infra-alerts: sent" in healed.stdout
            group = _client(project, "autoscaling").describe_auto_scaling_groups(
                AutoScalingGroupNames=["quickstart-web-prod-asg"]
            )["AutoScalingGroups"][0]
            assert group["DesiredCapacity"] == 4
            [message] = slack.messages
            assert message["channel"] == "#infra-alerts" and drift_id in message["text"]
            assert project.run("drift", "list", "--environment=prod", **env).returncode == 0
        finally:
            project.run("sandbox", "down")


def test_confirmation_is_refused_with_a_hint_without_the_rule_field_or_yes(tmp_path):
    text = (ROOT / "examples" / "quickstart" / "deployforge.yaml").read_text()
    assert "    auto_approve: true\n" in text
    (tmp_path / "deployforge.yaml").write_text(text.replace("    auto_approve: true\n", ""))
    project = Project(tmp_path, endpoint="unused")
    env = {"DEPLOYFORGE_SANDBOX": "1"}
    try:
        assert project.run("apply", "-e", "prod", "--auto-approve", **env).returncode == 0
        _client(project, "autoscaling").set_desired_capacity(
            AutoScalingGroupName="quickstart-web-prod-asg", DesiredCapacity=6
        )
        listed = project.run("drift", "list", "--environment=prod", **env)
        (drift_id,) = set(re.findall(r"\bDF-[0-9A-Z]{3}-[0-9A-Z]{3}\b", listed.stdout))
        refused = project.run("drift", "auto-resolve", f"--drift-id={drift_id}", **env)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "blocked" in refused.stdout and "--yes" in refused.stdout and "auto_approve: true" in refused.stdout
        capacity = _client(project, "autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=["quickstart-web-prod-asg"]
        )["AutoScalingGroups"][0]["DesiredCapacity"]
        assert capacity == 6  # nothing was repaired
        confirmed = project.run("drift", "auto-resolve", f"--drift-id={drift_id}", "--yes", **env)
        assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
    finally:
        project.run("sandbox", "down")


def test_a_drift_id_that_is_unknown_or_in_several_environments_lists_what_exists(tmp_path):
    shutil.copy(ROOT / "examples" / "quickstart" / "deployforge.yaml", tmp_path / "deployforge.yaml")
    project = Project(tmp_path, endpoint="unused")
    env = {"DEPLOYFORGE_SANDBOX": "1"}
    try:
        assert project.run("apply", "-e", "dev", "--auto-approve", **env).returncode == 0
        _client(project, "autoscaling").set_desired_capacity(
            AutoScalingGroupName="quickstart-web-asg", DesiredCapacity=5
        )
        listed = project.run("drift", "list", "-e", "dev", **env)
        (drift_id,) = set(re.findall(r"\bDF-[0-9A-Z]{3}-[0-9A-Z]{3}\b", listed.stdout))
        unknown = project.run("drift", "show", "DF-000-000", **env)
        assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
        assert "no drift DF-000-000 in any environment" in unknown.stderr and drift_id in unknown.stderr
        named = project.run("drift", "show", "DF-000-000", "-e", "dev", **env)  # with the environment given
        assert named.returncode == 1 and f"current drift ids: {drift_id}" in named.stderr
        # the same id in two registers (copied by hand): ambiguity names both candidates
        registers = tmp_path / ".deployforge" / "drift"
        (registers / "prod.json").write_bytes((registers / "dev.json").read_bytes())
        ambiguous = project.run("drift", "show", drift_id, **env)
        assert ambiguous.returncode == 1
        assert "several environments (dev, prod)" in ambiguous.stderr and "--environment=dev" in ambiguous.stderr
    finally:
        project.run("sandbox", "down")


def test_validate_reports_a_notify_slack_action_without_a_webhook(tmp_path):
    text = (ROOT / "examples" / "quickstart" / "deployforge.yaml").read_text()
    cut = text[: text.index("\nnotifications:")] + "\n"
    (tmp_path / "deployforge.yaml").write_text(cut)
    out = Project(tmp_path, endpoint="unused").run("validate")
    assert out.returncode != 0
    line = next(n for n, row in enumerate(cut.splitlines(), 1) if "type: notify_slack" in row)
    assert f"deployforge.yaml:{line}:" in out.stderr
    assert "notify_slack has no Slack webhook" in out.stderr and "$SLACK_WEBHOOK_URL" in out.stderr
    assert "vault://" in out.stderr
