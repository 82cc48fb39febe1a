"""The embedded AWS sandbox: a real detached moto server per test root, driven through boto3."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from deployforge.errors import SandboxError
from deployforge.providers import sandbox
from deployforge.providers.sandbox import SandboxInfo

pytestmark = pytest.mark.integration


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / ".deployforge"
    yield folder
    sandbox.down(folder)  # never leave a server behind, whatever the test did


def _client(info: SandboxInfo, service: str):
    env = sandbox.sandbox_env(info)
    return boto3.session.Session().client(
        service,
        endpoint_url=info.endpoint,
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def _create_everything(info: SandboxInfo) -> None:
    s3 = _client(info, "s3")
    s3.create_bucket(Bucket="df-sandbox-assets")
    s3.put_bucket_tagging(Bucket="df-sandbox-assets", Tagging={"TagSet": [{"Key": "team", "Value": "web"}]})
    s3.put_object(Bucket="df-sandbox-assets", Key="index.html", Body=b"<h1>hello</h1>")

    ec2 = _client(info, "ec2")
    group_id = ec2.create_security_group(GroupName="web", Description="web tier")["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    ec2.create_launch_template(
        LaunchTemplateName="web-lt",
        LaunchTemplateData={
            "ImageId": "ami-12c6146b",
            "InstanceType": "t3.micro",
            "SecurityGroupIds": [group_id],
        },
    )

    _client(info, "autoscaling").create_auto_scaling_group(
        AutoScalingGroupName="web-asg",
        LaunchTemplate={"LaunchTemplateName": "web-lt"},
        MinSize=1,
        MaxSize=4,
        DesiredCapacity=2,
        AvailabilityZones=["us-east-1a"],
    )

    _client(info, "cloudwatch").put_metric_alarm(
        AlarmName="web-cpu-high",
        MetricName="CPUUtilization",
        Namespace="AWS/EC2",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=2,
        Threshold=80.0,
        ComparisonOperator="GreaterThanThreshold",
        Dimensions=[{"Name": "AutoScalingGroupName", "Value": "web-asg"}],
    )


def _assert_everything(info: SandboxInfo) -> None:
    s3 = _client(info, "s3")
    assert s3.get_bucket_tagging(Bucket="df-sandbox-assets")["TagSet"] == [{"Key": "team", "Value": "web"}]
    assert s3.get_object(Bucket="df-sandbox-assets", Key="index.html")["Body"].read() == b"<h1>hello</h1>"

    ec2 = _client(info, "ec2")
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["web"]}])["SecurityGroups"]
    assert len(groups) == 1
    rules = groups[0]["IpPermissions"]
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"], r["IpRanges"]) for r in rules] == [
        ("tcp", 443, 443, [{"CidrIp": "0.0.0.0/0"}])
    ]
    templates = ec2.describe_launch_templates(LaunchTemplateNames=["web-lt"])["LaunchTemplates"]
    assert templates[0]["LaunchTemplateName"] == "web-lt"
    version = ec2.describe_launch_template_versions(LaunchTemplateName="web-lt")["LaunchTemplateVersions"][0]
    assert version["LaunchTemplateData"]["InstanceType"] == "t3.micro"

    autoscaling = _client(info, "autoscaling")
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"]
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (1, 4, 2)
    assert group["LaunchTemplate"]["LaunchTemplateName"] == "web-lt"
    assert len(group["Instances"]) == 2
    # The restored group still works against the restored EC2 backend.
    autoscaling.set_desired_capacity(AutoScalingGroupName="web-asg", DesiredCapacity=3)
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"]
    assert len(group["Instances"]) == 3

    (alarm,) = _client(info, "cloudwatch").describe_alarms(AlarmNames=["web-cpu-high"])["MetricAlarms"]
    assert (alarm["Threshold"], alarm["EvaluationPeriods"]) == (80.0, 2)


def _leftover_temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_state_survives_down_and_up(root: Path) -> None:
    info = sandbox.up(root)
    assert info.endpoint.startswith("http://127.0.0.1:")
    assert info.region == "us-east-1" and info.warnings == ()
    assert _client(info, "s3").list_buckets()["Buckets"] == []
    _create_everything(info)

    assert sandbox.down(root) is True
    assert not (root / "sandbox.json").exists()
    assert (root / "sandbox-state.pickle").stat().st_size > 0
    assert _leftover_temp_files(root) == []
    assert sandbox.status(root) is None

    again = sandbox.up(root)
    assert again.pid != info.pid
    assert again.warnings == ()
    _assert_everything(again)
    assert "restored the sandbox state" in (root / "sandbox.log").read_text()


def test_up_twice_returns_the_running_instance(root: Path) -> None:
    info = sandbox.up(root)
    assert sandbox.up(root) == info
    assert sandbox.ensure_running(root) == info
    assert sandbox.status(root) == info
    env = sandbox.sandbox_env(info)
    assert env["AWS_ENDPOINT_URL"] == info.endpoint
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"

    assert sandbox.down(root) is True
    assert sandbox.down(root) is False  # already stopped: fine
    assert sandbox.status(root) is None


def test_down_when_never_started(tmp_path: Path) -> None:
    assert sandbox.down(tmp_path / "nothing-here") is False
    assert sandbox.status(tmp_path / "nothing-here") is None


def test_changes_are_saved_while_running_and_survive_a_kill(root: Path) -> None:
    info = sandbox.up(root)
    _client(info, "s3").create_bucket(Bucket="df-saved-while-running")
    state = root / "sandbox-state.pickle"
    deadline = time.monotonic() + 10
    while not state.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state.exists(), "the server did not save the change on its own"

    os.kill(info.pid, signal.SIGKILL)  # no chance to save on the way out
    deadline = time.monotonic() + 10
    while sandbox.status(root) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox.status(root) is None  # stale sandbox.json: not running

    again = sandbox.ensure_running(root)
    assert again.pid != info.pid
    names = [b["Name"] for b in _client(again, "s3").list_buckets()["Buckets"]]
    assert names == ["df-saved-while-running"]


def test_corrupt_state_file_starts_empty_with_a_warning(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "sandbox-state.pickle").write_bytes(b"this is not a pickle")

    info = sandbox.up(root)
    assert len(info.warnings) == 1
    assert "could not restore the saved sandbox state" in info.warnings[0]
    assert "started empty" in info.warnings[0]
    moved = sorted(root.glob("sandbox-state.pickle.bad-*"))
    assert len(moved) == 1 and moved[0].read_bytes() == b"this is not a pickle"
    assert str(moved[0]) in info.warnings[0]
    assert "WARNING" in (root / "sandbox.log").read_text()
    assert not (root / "sandbox-state.pickle").exists()
    assert _client(info, "s3").list_buckets()["Buckets"] == []


def test_start_failure_is_a_sandbox_error_and_leaves_no_process(root: Path) -> None:
    with pytest.raises(SandboxError) as caught:
        sandbox.up(root, timeout=0)
    assert "did not answer within 0 s" in caught.value.message
    assert caught.value.hint and "sandbox.log" in caught.value.hint
    assert sandbox.status(root) is None
    assert not (root / "sandbox.json").exists()


def test_server_that_exits_while_starting_reports_its_log(root: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SandboxError) as caught:
            sandbox.up(root, port=port)
    assert "exited with code 1 while starting" in caught.value.message
    assert f"cannot listen on 127.0.0.1:{port}" in caught.value.message  # the log's tail
    assert sandbox.status(root) is None


def test_state_from_another_moto_version_is_set_aside(root: Path) -> None:
    import pickle

    root.mkdir(parents=True)
    header = {"format": 1, "moto_version": "0.0.1", "saved_at": 0.0, "services": [], "excluded": []}
    (root / "sandbox-state.pickle").write_bytes(pickle.dumps(header) + pickle.dumps({}))

    info = sandbox.up(root)
    assert len(info.warnings) == 1
    assert "saved by moto 0.0.1" in info.warnings[0]
    assert len(list(root.glob("sandbox-state.pickle.bad-*"))) == 1


@pytest.mark.parametrize(
    ("environ", "changes"),
    [
        ({"REQUEST_METHOD": "GET", "PATH_INFO": "/bucket/key"}, False),
        ({"REQUEST_METHOD": "HEAD", "PATH_INFO": "/bucket"}, False),
        ({"REQUEST_METHOD": "PUT", "PATH_INFO": "/bucket/key"}, True),
        ({"REQUEST_METHOD": "DELETE", "PATH_INFO": "/bucket/key"}, True),
        ({"REQUEST_METHOD": "POST", "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.GetItem"}, False),
        ({"REQUEST_METHOD": "POST", "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem"}, True),
        ({"REQUEST_METHOD": "POST", "QUERY_STRING": "Action=DescribeAlarms&Version=2010-08-01"}, False),
        (
            {
                "REQUEST_METHOD": "POST",
                "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
                "_body": b"Action=DescribeSecurityGroups&Version=2016-11-15",
            },
            False,
        ),
        (
            {
                "REQUEST_METHOD": "POST",
                "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
                "_body": b"Action=AuthorizeSecurityGroupIngress&GroupId=sg-1",
            },
            True,
        ),
        ({"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/xml", "_body": b"<Delete/>"}, True),
    ],
)
def test_only_requests_that_can_change_state_trigger_a_save(environ: dict, changes: bool) -> None:
    import io

    from deployforge.providers.sandbox.server import _may_change_state

    body = environ.pop("_body", b"")
    environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    assert _may_change_state(environ) is changes
    assert environ["wsgi.input"].read() == body  # the body is still there for moto
