"""API calls per resource, for every AWS type, counted on a real moto server (botocore's own
``before-call`` event on the provider's clients, never mocks): plan refresh reads each type in
batches at the API's largest size, and the baseline after an apply reads nothing again."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployforge.engine.planner import refresh
from deployforge.providers.aws import AwsProvider
from deployforge.providers.base import ResourceSpec
from deployforge.state.base import StateDocument
from deployforge.usecases.apply import apply
from deployforge.usecases.workspace import Options, Workspace

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Exception.*does not match an error shape:UserWarning"),
]

REGION = "us-east-1"
COUNT = 5
PAGE = 2  # page_size_limit: batches of 2, so 5 objects take 3 calls


def _spec(name: str, rtype: str, properties: dict[str, Any]) -> ResourceSpec:
    return ResourceSpec(name=name, type=rtype, target="main", properties=properties, tags={"team": "web"})


def _specs(rtype: str) -> list[ResourceSpec]:
    made = []
    for i in range(COUNT):
        if rtype == "aws_security_group":
            made.append(_spec(f"sg{i}", rtype, {"name": f"calls-sg-{i}", "description": "x"}))
        elif rtype == "aws_launch_template":
            made.append(_spec(f"lt{i}", rtype, {"name": f"calls-lt-{i}", "image_id": "ami-12c6146b"}))
        elif rtype == "aws_autoscaling_group":
            made.append(
                _spec(
                    f"asg{i}",
                    rtype,
                    {
                        "name": f"calls-asg-{i}",
                        "min_size": 0,
                        "max_size": 1,
                        "launch_template": {"name": "calls-base-lt", "version": 1},
                        "availability_zones": ["us-east-1a"],
                    },
                )
            )
        elif rtype == "aws_cloudwatch_metric_alarm":
            made.append(
                _spec(
                    f"alarm{i}",
                    rtype,
                    {
                        "alarm_name": f"calls-alarm-{i}",
                        "metric_name": "CPUUtilization",
                        "namespace": "AWS/EC2",
                        "statistic": "Average",
                        "period": 60,
                        "evaluation_periods": 1,
                        "threshold": 80,
                        "comparison_operator": "GreaterThanThreshold",
                    },
                )
            )
        else:
            made.append(_spec(f"b{i}", rtype, {"bucket": f"calls-bucket-{i}"}))
    return made


# calls one refresh makes for COUNT objects of a type read in batches of PAGE
BATCHES = math.ceil(COUNT / PAGE)
EXPECTED = {
    "aws_security_group": {"ec2.DescribeSecurityGroups": BATCHES},
    "aws_autoscaling_group": {"autoscaling.DescribeAutoScalingGroups": BATCHES},
    # the default version's data and the tags of an alarm have no batch API: one call per object
    "aws_launch_template": {
        "ec2.DescribeLaunchTemplates": BATCHES,
        "ec2.DescribeTags": BATCHES,
        "ec2.DescribeLaunchTemplateVersions": COUNT,
    },
    "aws_cloudwatch_metric_alarm": {"cloudwatch.DescribeAlarms": BATCHES, "cloudwatch.ListTagsForResource": COUNT},
    # S3 has no batch read: four calls a bucket (versioning also tells whether it exists)
    "aws_s3_bucket": {
        "s3.GetBucketVersioning": COUNT,
        "s3.GetBucketEncryption": COUNT,
        "s3.GetPublicAccessBlock": COUNT,
        "s3.GetBucketTagging": COUNT,
    },
}


@pytest.mark.parametrize("rtype", sorted(EXPECTED))
def test_refresh_reads_each_type_in_batches(moto_endpoint: str, rtype: str) -> None:
    aws = AwsProvider(target="main", region=REGION, endpoint_url=moto_endpoint)
    if rtype == "aws_autoscaling_group":
        aws.create(_spec("base", "aws_launch_template", {"name": "calls-base-lt", "image_id": "ami-12c6146b"}))
    state = StateDocument(environment="calls")
    direct = {}
    for spec in _specs(rtype):
        live = aws.create(spec)
        state.resources[spec.name] = {"type": rtype, "target": "main", "id": live.id, "attributes": {}}
        direct[spec.name] = aws.read(rtype, live.id)
    gone = next(iter(state.resources))
    aws.delete(rtype, state.resources[gone]["id"])  # one is gone: read as None, the batch still works
    aws.page_size_limit = PAGE
    before = dict(aws.api_calls_by_operation)

    seen = refresh({}, state, {"main": aws})

    made = {op: n - before.get(op, 0) for op, n in aws.api_calls_by_operation.items() if n != before.get(op, 0)}
    expected = dict(EXPECTED[rtype])
    # (AWS fails a DescribeLaunchTemplates naming a gone id, and the handler then reads that batch one
    # by one; moto leaves the gone one out, as the other APIs do)
    if rtype == "aws_launch_template":
        expected["ec2.DescribeLaunchTemplateVersions"] = COUNT - 1
    elif rtype == "aws_cloudwatch_metric_alarm":
        expected["cloudwatch.ListTagsForResource"] = COUNT - 1
    elif rtype == "aws_s3_bucket":
        expected = {op: (COUNT if op == "s3.GetBucketVersioning" else COUNT - 1) for op in expected}
    assert made == expected
    assert seen[gone].live is None
    for name, live in direct.items():
        if name != gone:
            assert seen[name].live == live  # the batch read shows what a read of one shows


def _project(tmp_path: Path, endpoint: str, groups: int, buckets: int) -> Workspace:
    resources: dict[str, Any] = {
        f"sg{i}": {"type": "aws_security_group", "properties": {"name": f"base-sg-{i}", "description": "x"}}
        for i in range(groups)
    }
    resources.update(
        {f"b{i}": {"type": "aws_s3_bucket", "properties": {"bucket": f"base-bucket-{i}"}} for i in range(buckets)}
    )
    config = {
        "targets": {"main": {"provider": "aws", "region": REGION, "endpoint_url": endpoint}},
        "resources": resources,
    }
    path = tmp_path / "deployforge.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    environ = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "HOME": str(tmp_path)}
    return Workspace(Options(config=str(path), environ=environ))


def test_the_baseline_after_an_apply_reads_nothing_again(tmp_path: Path, moto_endpoint: str) -> None:
    ws = _project(tmp_path, moto_endpoint, groups=6, buckets=2)
    result = apply(ws)
    assert result.exit_code == 0, result.messages
    calls = ws._providers["main"].api_calls_by_operation  # type: ignore[attr-defined]
    # one read-back per created group, none for the baseline (which used to read each one again)
    assert calls["ec2.DescribeSecurityGroups"] == 6
    assert calls["s3.GetBucketVersioning"] == 2
    assert "s3.HeadBucket" in calls  # create checks the name is free (HeadBucket), reads never do
    baseline = ws.backend.read_baseline("default")
    assert baseline is not None and set(baseline.resources) == {*(f"sg{i}" for i in range(6)), "b0", "b1"}
    fresh = refresh({}, ws.backend.read("default"), ws._providers)  # type: ignore[arg-type]
    for name, resource in baseline.resources.items():
        live = fresh[name].live
        assert live is not None and dict(live.attributes) == resource.attributes

    # a second apply that changes one group reads the 7 others once (in the plan), not twice
    ws2 = _project(tmp_path, moto_endpoint, groups=7, buckets=2)
    assert apply(ws2).exit_code == 0
    calls2 = ws2._providers["main"].api_calls_by_operation  # type: ignore[attr-defined]
    assert calls2["ec2.DescribeSecurityGroups"] == 1 + 1  # one batch in the plan, one read-back
    assert calls2["s3.GetBucketVersioning"] == 2  # the plan's reads; the baseline reuses them
