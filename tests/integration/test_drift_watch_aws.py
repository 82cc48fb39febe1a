"""Issue 16, point 3: event-driven, incremental drift against moto's server (EventBridge -> SQS).

moto does not emit CloudTrail events when resources change: the tests put the event a real account's
CloudTrail would emit for the out-of-band call they make, on the default bus, and the rule that
``drift watch setup`` created routes it to the queue."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import boto3
import pytest

from deployforge.drift.events import parse_message
from deployforge.errors import StateError, UsageError
from deployforge.usecases import drift as service
from deployforge.usecases import drift_watch as watch
from deployforge.usecases.apply import apply
from deployforge.usecases.workspace import Options, Workspace

CONFIG = """
targets:
  main: {provider: aws, region: us-east-1, endpoint_url: $AWS_ENDPOINT}
resources:
  sg0: {type: aws_security_group, properties: {name: web-0, description: web 0}}
  sg1: {type: aws_security_group, properties: {name: web-1, description: web 1}}
  sg2: {type: aws_security_group, properties: {name: web-2, description: web 2}}
  logs: {type: aws_s3_bucket, properties: {bucket: watch-logs}}
"""
SETTINGS = service.DriftSettings()


def ws_for(tmp_path: Path, endpoint: str) -> Workspace:
    (tmp_path / "deployforge.yaml").write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    environ = {"AWS_ENDPOINT": endpoint, "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "PATH": ""}
    return Workspace(Options(config=str(tmp_path / "deployforge.yaml"), environ=environ))


def aws(endpoint: str, service_name: str):
    return boto3.client(service_name, endpoint_url=endpoint, region_name="us-east-1")


def cloudtrail(endpoint: str, source: str, name: str, request: dict, event_id: str | None = None) -> None:
    """Put the event CloudTrail emits for a management call on the default bus."""
    detail = {
        "eventVersion": "1.08",
        "eventSource": source,
        "eventName": name,
        "eventID": event_id or str(uuid.uuid4()),
        "awsRegion": "us-east-1",
        "userIdentity": {"type": "IAMUser", "userName": "someone"},
        "requestParameters": request,
        "responseElements": {"_return": True},
    }
    reply = aws(endpoint, "events").put_events(
        Entries=[
            {
                "Source": "aws." + source.split(".", 1)[0],
                "DetailType": "AWS API Call via CloudTrail",
                "Detail": json.dumps(detail),
            }
        ]
    )
    assert reply["FailedEntryCount"] == 0


@pytest.fixture
def watched(tmp_path, moto_endpoint):
    ws = ws_for(tmp_path, moto_endpoint)
    assert apply(ws).exit_code == 0
    service.detect(ws_for(tmp_path, moto_endpoint))  # a recent full check: no reconcile is due
    first = watch.setup(ws_for(tmp_path, moto_endpoint))
    again = watch.setup(ws_for(tmp_path, moto_endpoint))
    assert first == again  # idempotent
    return tmp_path, moto_endpoint, first["watch"][0]["queue_url"]


def group_id(endpoint: str, name: str) -> str:
    groups = aws(endpoint, "ec2").describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])
    return groups["SecurityGroups"][0]["GroupId"]


def test_setup_makes_a_least_privilege_queue_and_a_rule_routed_to_it(watched):
    _, endpoint, queue = watched
    attrs = aws(endpoint, "sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    policy = json.loads(attrs["Policy"])
    [statement] = policy["Statement"]
    rule = aws(endpoint, "events").describe_rule(Name="deployforge-drift-default")
    assert statement["Principal"] == {"Service": "events.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == attrs["QueueArn"]
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": rule["Arn"]}}  # only this rule may send
    assert "deadLetterTargetArn" in json.loads(attrs["RedrivePolicy"])
    pattern = json.loads(rule["EventPattern"])
    assert pattern["detail-type"] == ["AWS API Call via CloudTrail"] and "aws.ec2" in pattern["source"]
    [target] = aws(endpoint, "events").list_targets_by_rule(Rule="deployforge-drift-default")["Targets"]
    assert target["Arn"] == attrs["QueueArn"]


def test_once_rereads_only_what_the_events_touch_and_records_it(watched):
    tmp_path, endpoint, queue = watched
    sg1 = group_id(endpoint, "web-1")
    aws(endpoint, "ec2").authorize_security_group_ingress(
        GroupId=sg1, IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0"
    )
    request = {"groupId": sg1, "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22}]}}
    cloudtrail(endpoint, "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", request, event_id="evt-1")
    cloudtrail(endpoint, "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", request, event_id="evt-1")  # twice
    sqs = aws(endpoint, "sqs")
    sqs.send_message(QueueUrl=queue, MessageBody="{not json")
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"detail-type": "Scheduled Event", "detail": {}}))

    ws = ws_for(tmp_path, endpoint)
    report = watch.drain(ws, SETTINGS, queue)
    assert report.touched == ["sg1"] and report.reads == 1 and not report.reconciled
    assert report.events == 1 and report.duplicates == 1 and len(report.skipped) == 2
    assert any("not JSON" in s for s in report.skipped) and any("foreign" in s for s in report.skipped)
    [record] = report.drift.active
    assert record.resource == "sg1" and record.diff == ("+ ingress tcp/22 from 0.0.0.0/0",)
    assert report.deleted == 4 and not sqs.receive_message(QueueUrl=queue).get("Messages")  # all handled
    register = json.loads((tmp_path / ".deployforge" / "drift" / "default.json").read_text())
    assert register["records"][record.id]["resource"] == "sg1"
    # the full detection finds the same drift under the same id
    full, _ = service.detect(ws_for(tmp_path, endpoint))
    assert [r.id for r in full.active] == [record.id]


def test_a_message_is_deleted_only_after_its_drift_is_recorded(watched):
    tmp_path, endpoint, queue = watched
    aws(endpoint, "s3").put_bucket_tagging(Bucket="watch-logs", Tagging={"TagSet": [{"Key": "o", "Value": "x"}]})
    cloudtrail(endpoint, "s3.amazonaws.com", "PutBucketTagging", {"bucketName": "watch-logs"})
    ws = ws_for(tmp_path, endpoint)

    def broken(*_args, **_kw):
        raise StateError("the state bucket is unreachable")

    ws.backend.write_drift_register = broken  # the run dies before recording (a crash, a lost network)
    with pytest.raises(StateError):
        watch.drain(ws, SETTINGS, queue)
    again = watch.drain(ws_for(tmp_path, endpoint), SETTINGS, queue)  # the restart sees the message again
    assert again.touched == ["logs"] and [r.resource for r in again.drift.active] == ["logs"]
    assert again.deleted == 1


def test_full_reconcile_is_the_safety_net(watched):
    tmp_path, endpoint, queue = watched
    aws(endpoint, "ec2").authorize_security_group_ingress(
        GroupId=group_id(endpoint, "web-2"), IpProtocol="tcp", FromPort=3389, ToPort=3389, CidrIp="0.0.0.0/0"
    )  # no event arrives for this change (a gap in the trail)
    quiet = watch.drain(ws_for(tmp_path, endpoint), SETTINGS, queue)
    assert quiet.drift is None and quiet.reads == 0
    due = watch.drain(ws_for(tmp_path, endpoint), SETTINGS, queue, reconcile_every=0)
    assert due.reconciled and due.reads == 4
    assert [r.resource for r in due.drift.active] == ["sg2"]


def test_a_missing_queue_is_a_clear_error_naming_setup(watched):
    tmp_path, endpoint, _ = watched
    with pytest.raises(UsageError) as caught:
        watch.drain(ws_for(tmp_path, endpoint), SETTINGS, f"{endpoint}/123456789012/no-such-queue")
    assert "does not exist" in caught.value.message and "drift watch setup" in (caught.value.hint or "")


def test_parse_message_refuses_what_is_not_a_managed_call():
    assert parse_message("[]") == "not a JSON object"
    assert "eventSource" in parse_message(json.dumps({"detail-type": "AWS API Call via CloudTrail"}))
    foreign = {"detail-type": "AWS API Call via CloudTrail", "detail": {"eventSource": "iam.amazonaws.com"}}
    assert "foreign" in parse_message(json.dumps(foreign))
    body = '{"detail-type": "AWS API Call via CloudTrail", "detail": {"eventSource": "ec2.amazonaws.com", ' + (
        '"requestParameters": ' + '{"x": ' * 5000 + "1" + "}" * 5000 + "}}"
    )
    assert parse_message(body) == "nested too deeply"  # hostile nesting is skipped, not a crash
