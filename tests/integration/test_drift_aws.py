"""Drift against moto's server: out-of-band changes to a security group rule, an ASG's capacity and a
bucket's tags are detected, classified, remediated (dry run, then for real) and self-healed."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import boto3
import pytest
from tests.fakes.slack import SlackWebhook
from tests.fakes.vault import openbao_server  # noqa: F401  (the session fixture `openbao`)

from deployforge.drift.model import Severity, Status
from deployforge.errors import UsageError
from deployforge.usecases import drift as service
from deployforge.usecases.apply import apply
from deployforge.usecases.drift_heal import auto_resolve
from deployforge.usecases.workspace import Options, Workspace

CONFIG = """
targets:
  main: {provider: aws, region: us-east-1, endpoint_url: $AWS_ENDPOINT}
environments:
  dev: {}
  prod: {require_confirmation: true}
resources:
  logs:
    type: aws_s3_bucket
    properties: {bucket: drift-logs}
    tags: {owner: platform}
  web_sg:
    type: aws_security_group
    properties:
      name: web-sg
      description: Web
      ingress:
        - {protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: ["10.0.0.0/8"]}
  web_lt:
    type: aws_launch_template
    properties: {name: web-lt, image_id: ami-12c6146b, instance_type: t3.micro}
  web_asg:
    type: aws_autoscaling_group
    properties:
      name: web-asg
      min_size: 1
      max_size: 10
      desired_capacity: 4
      availability_zones: [us-east-1a]
      launch_template: {name: web-lt, version: $$Latest}
    depends_on: [web_lt]
"""


def ws_for(tmp_path: Path, endpoint: str, env: str = "dev", extra: str = "") -> Workspace:
    (tmp_path / "deployforge.yaml").write_text(textwrap.dedent(CONFIG) + extra, encoding="utf-8")
    environ = {"AWS_ENDPOINT": endpoint, "SLACK_URL": "", "PATH": ""}
    return Workspace(Options(config=str(tmp_path / "deployforge.yaml"), environment=env, environ=environ))


def clients(endpoint: str):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1")
    return boto3.client("ec2", **kw), boto3.client("autoscaling", **kw), boto3.client("s3", **kw)


@pytest.fixture
def deployed(tmp_path, moto_endpoint):
    ws = ws_for(tmp_path, moto_endpoint)
    result = apply(ws)
    assert result.exit_code == 0 and result.extra.get("baseline")
    return tmp_path, moto_endpoint


def change_out_of_band(endpoint: str) -> None:
    ec2, autoscaling, s3 = clients(endpoint)
    group = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["web-sg"]}])["SecurityGroups"][0]
    ec2.authorize_security_group_ingress(
        GroupId=group["GroupId"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    autoscaling.set_desired_capacity(AutoScalingGroupName="web-asg", DesiredCapacity=5)
    s3.put_bucket_tagging(Bucket="drift-logs", Tagging={"TagSet": [{"Key": "owner", "Value": "someone-else"}]})


def test_no_drift_right_after_apply(deployed):
    tmp_path, endpoint = deployed
    report, _ = service.detect(ws_for(tmp_path, endpoint))
    assert report.records == () and report.exit_code == 0
    assert report.resources_checked == 4 and report.in_sync == 4


def test_detects_and_classifies_out_of_band_changes(deployed):
    tmp_path, endpoint = deployed
    change_out_of_band(endpoint)
    report, _ = service.detect(ws_for(tmp_path, endpoint))
    by_resource = {r.resource: r for r in report.active}
    assert set(by_resource) == {"web_sg", "web_asg", "logs"}
    sg, asg, bucket = by_resource["web_sg"], by_resource["web_asg"], by_resource["logs"]
    assert sg.status is Status.MODIFIED and sg.severity is Severity.SECURITY and sg.paths == ("ingress",)
    assert asg.severity is Severity.PERFORMANCE and asg.paths == ("desired_capacity",)
    assert (asg.changes[0].expected, asg.changes[0].actual) == (4, 5)
    assert bucket.severity is Severity.INFORMATIONAL and bucket.paths == ("tags.owner",)
    assert (bucket.changes[0].expected, bucket.changes[0].actual) == ("platform", "someone-else")
    assert report.exit_code == 2
    # ids are stable across runs, and first-seen survives
    again, _ = service.detect(ws_for(tmp_path, endpoint))
    assert {r.resource: r.id for r in again.active} == {r.resource: r.id for r in report.active}
    assert {r.id: r.first_seen for r in again.active} == {r.id: r.first_seen for r in report.active}


def test_first_seen_lives_in_the_state_backend_so_each_ci_run_can_start_from_scratch(tmp_path, moto_endpoint):
    """A scheduled drift job runs on a fresh runner each time: only the S3 state is shared."""
    import datetime as dt

    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket="team-state")
    shared = "state:\n  url: s3://team-state/deployforge\n  endpoint_url: $AWS_ENDPOINT\n"
    first_runner, second_runner = tmp_path / "run1", tmp_path / "run2"
    first_runner.mkdir()
    second_runner.mkdir()
    assert apply(ws_for(first_runner, moto_endpoint, extra=shared)).exit_code == 0
    change_out_of_band(moto_endpoint)
    monday = dt.datetime(2026, 11, 23, 3, 0, tzinfo=dt.UTC)
    first, _ = service.detect(ws_for(first_runner, moto_endpoint, extra=shared), service.DriftSettings(now=monday))
    assert {r.first_seen for r in first.active} == {"2026-11-23T03:00:00Z"}
    assert not (first_runner / ".deployforge" / "drift").exists()  # nothing kept on the runner
    thursday = dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC)
    later, _ = service.detect(ws_for(second_runner, moto_endpoint, extra=shared), service.DriftSettings(now=thursday))
    assert {r.id: r.first_seen for r in later.active} == {r.id: "2026-11-23T03:00:00Z" for r in first.active}
    assert {r.last_seen for r in later.active} == {"2026-11-26T03:00:00Z"}
    stored = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").get_object(
        Bucket="team-state", Key="deployforge/dev/drift.json"
    )
    assert set(json.loads(stored["Body"].read())["records"]) == {r.id for r in later.records}


def test_an_unreadable_register_restarts_first_seen_with_a_warning(deployed):
    tmp_path, endpoint = deployed
    change_out_of_band(endpoint)
    (tmp_path / ".deployforge" / "drift").mkdir(parents=True, exist_ok=True)
    (tmp_path / ".deployforge" / "drift" / "dev.json").write_text("{torn")
    report, _ = service.detect(ws_for(tmp_path, endpoint))
    assert {r.resource for r in report.active} == {"web_sg", "web_asg", "logs"}
    assert any("first-seen times not read" in w and "unreadable" in w for w in report.warnings), report.warnings
    again, _ = service.detect(ws_for(tmp_path, endpoint))  # the detection rewrote a good register
    assert again.warnings == () and {r.first_seen for r in again.active} == {r.first_seen for r in report.active}


def test_production_raises_the_level(deployed):
    tmp_path, endpoint = deployed
    ws = ws_for(tmp_path, endpoint)
    baseline = ws.backend.read_baseline("dev")
    ws.backend.write_baseline(type(baseline)(**{**baseline.__dict__, "environment": "prod"}))
    change_out_of_band(endpoint)
    report, _ = service.detect(ws_for(tmp_path, endpoint, env="prod"))
    severities = {r.resource: r.severity for r in report.active}
    assert severities == {"web_sg": Severity.SECURITY, "web_asg": Severity.PERFORMANCE, "logs": Severity.PERFORMANCE}
    logs = next(r for r in report.active if r.resource == "logs")
    assert "production" in logs.reason


def test_unmanaged_and_deleted_objects(deployed):
    tmp_path, endpoint = deployed
    ec2, _, s3 = clients(endpoint)
    ec2.create_security_group(GroupName="hand-made", Description="by hand")
    report, _ = service.detect(ws_for(tmp_path, endpoint))
    unmanaged = [r for r in report.active if r.status is Status.UNMANAGED]
    assert [r.type for r in unmanaged] == ["aws_security_group"]
    s3.delete_bucket(Bucket="drift-logs")
    report, _ = service.detect(ws_for(tmp_path, endpoint))
    deleted = [r for r in report.active if r.status is Status.DELETED]
    assert [r.resource for r in deleted] == ["logs"] and deleted[0].severity is Severity.PERFORMANCE


def test_remediate_dry_run_then_for_real(deployed):
    tmp_path, endpoint = deployed
    change_out_of_band(endpoint)
    ws = ws_for(tmp_path, endpoint)
    report, _ = service.detect(ws)
    ids = {r.resource: r.id for r in report.active}
    for name in ("web_sg", "web_asg", "logs"):
        plan = service.remediate(ws_for(tmp_path, endpoint), ids[name], dry_run=True)
        rem = plan.drift.remediations[0]
        assert rem.outcome == "planned" and rem.dry_run and plan.exit_code == 0
    # the dry run changed nothing
    still, _ = service.detect(ws_for(tmp_path, endpoint))
    assert {r.id for r in still.active} == set(ids.values())
    for name in ("web_sg", "web_asg", "logs"):
        done = service.remediate(ws_for(tmp_path, endpoint), ids[name])
        assert done.drift.remediations[0].outcome == "applied", done.drift.remediations[0].to_json()
    ec2, autoscaling, s3 = clients(endpoint)
    sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["web-sg"]}])["SecurityGroups"][0]
    assert [(p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in sg["IpPermissions"]] == [(443, "10.0.0.0/8")]
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 4
    assert s3.get_bucket_tagging(Bucket="drift-logs")["TagSet"] == [{"Key": "owner", "Value": "platform"}]
    clean, _ = service.detect(ws_for(tmp_path, endpoint))
    assert clean.active == () and clean.exit_code == 0


def test_adopt_and_ignore(deployed):
    tmp_path, endpoint = deployed
    change_out_of_band(endpoint)
    report, _ = service.detect(ws_for(tmp_path, endpoint))
    ids = {r.resource: r.id for r in report.active}
    adopted = service.remediate(ws_for(tmp_path, endpoint), ids["web_asg"], strategy="adopt")
    assert adopted.drift.remediations[0].outcome == "applied"
    assert any("desired_capacity" in n for n in adopted.drift.remediations[0].notes)  # the config still says 4
    with pytest.raises(UsageError):
        service.remediate(ws_for(tmp_path, endpoint), ids["logs"], strategy="ignore")
    service.remediate(ws_for(tmp_path, endpoint), ids["logs"], strategy="ignore", reason="owner moved teams")
    after, _ = service.detect(ws_for(tmp_path, endpoint))
    assert {r.resource for r in after.active} == {"web_sg"}
    ignored = [r for r in after.records if r.ignored]
    assert [r.resource for r in ignored] == ["logs"] and "owner moved teams" in ignored[0].ignored


def test_unknown_drift_id_and_missing_baseline(deployed, tmp_path_factory, moto_endpoint):
    tmp_path, endpoint = deployed
    with pytest.raises(UsageError, match="no drift DF-000-000"):
        service.remediate(ws_for(tmp_path, endpoint), "DF-000-000", dry_run=True)
    with pytest.raises(UsageError, match="not a drift id"):
        service.remediate(ws_for(tmp_path, endpoint), "nope", dry_run=True)
    with pytest.raises(UsageError, match="no baseline"):
        service.detect(ws_for(tmp_path_factory.mktemp("empty"), moto_endpoint))


HEALING = """
notifications:
  slack: {webhook_url: $SLACK_URL, channel: "#default"}
self_healing_rules:
  - resource_type: aws_auto_scaling_group
    max_deviation: 30%
    actions:
      - type: rolling_restart
      - type: notify_slack
        channel: "#infra-alerts"
  - resource_type: aws_security_group
    actions: [{type: reapply}, {type: notify_slack}]
"""


def healing_ws(tmp_path, endpoint, url, env="dev"):
    ws = ws_for(tmp_path, endpoint, env=env, extra=HEALING)
    ws.options.environ["SLACK_URL"] = url
    return ws


def test_auto_resolve_within_and_beyond_max_deviation(deployed):
    tmp_path, endpoint = deployed
    _, autoscaling, _ = clients(endpoint)
    with SlackWebhook() as slack:
        autoscaling.set_desired_capacity(AutoScalingGroupName="web-asg", DesiredCapacity=5)  # 25% <= 30%
        report, _ = service.detect(ws_for(tmp_path, endpoint))
        (record,) = report.active
        result = auto_resolve(healing_ws(tmp_path, endpoint, slack.url), record.id)
        rem = result.drift.remediations[0]
        assert rem.outcome == "within-tolerance" and rem.deviation == 25.0 and result.exit_code == 0
        assert slack.messages == []
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"][0]
        before = {i["InstanceId"] for i in group["Instances"]}
        assert group["DesiredCapacity"] == 5

        autoscaling.set_desired_capacity(AutoScalingGroupName="web-asg", DesiredCapacity=6)  # 50% > 30%
        report, _ = service.detect(ws_for(tmp_path, endpoint))
        (record,) = report.active
        result = auto_resolve(healing_ws(tmp_path, endpoint, slack.url), record.id)
        rem = result.drift.remediations[0]
        assert rem.outcome == "applied", rem.to_json()
        assert [s.action for s in rem.steps] == ["rolling_restart"] and "replaced 4" in rem.steps[0].description
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"][0]
        assert group["DesiredCapacity"] == 4 and len(group["Instances"]) == 4
        assert not ({i["InstanceId"] for i in group["Instances"]} & before)  # every instance replaced
        (message,) = slack.messages
        assert message["channel"] == "#infra-alerts" and record.id in message["text"]
        assert "applied" in message["text"] and result.drift.notifications[0].ok
        clean, _ = service.detect(ws_for(tmp_path, endpoint))
        assert clean.active == ()


def test_security_drift_is_not_reverted_automatically_and_slack_failure_is_reported(deployed):
    tmp_path, endpoint = deployed
    change_out_of_band(endpoint)
    report, _ = service.detect(ws_for(tmp_path, endpoint))
    sg = next(r for r in report.active if r.resource == "web_sg")
    with SlackWebhook() as slack:
        slack.status = 500
        result = auto_resolve(healing_ws(tmp_path, endpoint, slack.url), sg.id)
    rem = result.drift.remediations[0]
    assert rem.outcome == "blocked" and "security-critical" in rem.notes[0]
    (note,) = result.drift.notifications
    assert not note.ok and "500" in note.error and "XXXX" not in note.error  # the webhook path is secret
    assert result.exit_code == 2
    # an unreachable Slack does not stop the report either
    result = auto_resolve(healing_ws(tmp_path, endpoint, "http://127.0.0.1:9/services/x"), sg.id)
    assert result.drift.remediations and not result.drift.notifications[0].ok
    assert "cannot reach Slack" in result.drift.notifications[0].error


def test_production_needs_confirmation(deployed):
    tmp_path, endpoint = deployed
    ws = ws_for(tmp_path, endpoint)
    baseline = ws.backend.read_baseline("dev")
    ws.backend.write_baseline(type(baseline)(**{**baseline.__dict__, "environment": "prod"}))
    _, autoscaling, _ = clients(endpoint)
    autoscaling.set_desired_capacity(AutoScalingGroupName="web-asg", DesiredCapacity=8)
    with SlackWebhook() as slack:
        result = auto_resolve(healing_ws(tmp_path, endpoint, slack.url, env="prod"))
        assert [r.outcome for r in result.drift.remediations] == ["blocked"]
        assert "confirm" in result.drift.remediations[0].notes[0]
        result = auto_resolve(healing_ws(tmp_path, endpoint, slack.url, env="prod"), confirmed=True)
        assert [r.outcome for r in result.drift.remediations] == ["applied"]
        assert len(slack.messages) == 2


def test_audit_records_each_step(deployed):
    tmp_path, endpoint = deployed
    _, autoscaling, _ = clients(endpoint)
    autoscaling.set_desired_capacity(AutoScalingGroupName="web-asg", DesiredCapacity=8)
    from deployforge.audit import AuditLog, trace

    log = AuditLog(tmp_path / "steps.jsonl")
    with SlackWebhook() as slack, trace.recording(log, "DF-TRC-TEST000001"):
        auto_resolve(healing_ws(tmp_path, endpoint, slack.url))
    names = [json.loads(line).get("name") for line in (tmp_path / "steps.jsonl").read_text().splitlines()]
    assert names[:3] == ["drift detection", "drift impact analysis", "drift remediation: rolling_restart"]
    assert "drift notification" in names


def test_a_slack_webhook_from_vault_is_read_and_posted_to(deployed, openbao):
    tmp_path, endpoint = deployed
    _, autoscaling, _ = clients(endpoint)
    with SlackWebhook() as slack:
        openbao.put("chatops/slack", url=slack.url)
        extra = HEALING.replace("webhook_url: $SLACK_URL", "webhook_url: vault://secret/chatops/slack#url")
        autoscaling.set_desired_capacity(AutoScalingGroupName="web-asg", DesiredCapacity=6)
        report, _ = service.detect(ws_for(tmp_path, endpoint))
        (record,) = report.active
        ws = ws_for(tmp_path, endpoint, extra=extra)
        ws.options.environ.update(openbao.env())
        result = auto_resolve(ws, record.id)
        assert [n.ok for n in result.drift.notifications] == [True], result.drift.notifications
        (message,) = slack.messages
        assert record.id in message["text"]
