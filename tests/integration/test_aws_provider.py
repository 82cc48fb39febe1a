"""AwsProvider against a real moto server: what each resource type does beyond the shared contract.

Calls are observed through botocore's own event hooks on the provider's clients (never mocks):
``api_calls_by_operation`` counts them, ``capture`` records the parameters of one operation.
"""

from __future__ import annotations

import base64
import copy
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

import deployforge
from deployforge.errors import EXIT_INPUT, EndpointUnreachableError, ProviderError
from deployforge.providers.aws import AwsProvider, aws_provider_for_target
from deployforge.providers.aws.errors import translate
from deployforge.providers.aws.resources.base import undo_on_failure
from deployforge.providers.base import LiveResource, ResourceSpec

pytestmark = [
    pytest.mark.integration,
    # moto warns (from its server thread) when an error code it sends is missing from botocore's models
    pytest.mark.filterwarnings("ignore:Exception.*does not match an error shape:UserWarning"),
]

REGION = "us-east-1"


@pytest.fixture
def aws(moto_endpoint: str) -> AwsProvider:
    return AwsProvider(target="it", region=REGION, endpoint_url=moto_endpoint)


def spec(name: str, rtype: str, properties: dict[str, Any], tags: dict[str, str] | None = None) -> ResourceSpec:
    return ResourceSpec(name=name, type=rtype, target="it", properties=properties, tags=tags or {})


def capture(provider: AwsProvider, service: str, operation: str) -> list[dict[str, Any]]:
    """Record the parameters of every ``operation`` call the provider makes from now on."""
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(copy.deepcopy(params))

    provider.client(service).meta.events.register(f"provide-client-params.{service}.{operation}", record)
    return seen


def calls(provider: AwsProvider, operation: str) -> int:
    return provider.api_calls_by_operation.get(operation, 0)


def rule(protocol: str, port: int, *cidrs: str, description: str | None = None) -> dict[str, Any]:
    made: dict[str, Any] = {
        "protocol": protocol,
        "from_port": port,
        "to_port": port,
        "cidr_blocks": list(cidrs),
    }
    if description:
        made["description"] = description
    return made


def update(provider: AwsProvider, wanted: ResourceSpec, live: LiveResource, *changes: str) -> LiveResource:
    return provider.update(wanted, live, frozenset(changes))


def with_properties(base: ResourceSpec, **properties: Any) -> ResourceSpec:
    return ResourceSpec(base.name, base.type, base.target, {**base.properties, **properties}, base.tags)


# --- aws_security_group ----------------------------------------------------------------------


def test_security_group_rule_order_does_not_matter(aws: AwsProvider) -> None:
    declared = spec(
        "web",
        "aws_security_group",
        {
            "name": "web",
            "ingress": [
                rule("TCP", 443, "10.0.0.0/8", "0.0.0.0/0", description="https"),
                rule("6", 22, "10.1.0.0/16"),
                {"protocol": "all", "from_port": 0, "to_port": 0, "cidr_blocks": ["192.168.0.0/16"]},
            ],
        },
    )
    live = aws.create(declared)

    canonical = aws.normalize("aws_security_group", declared.properties)["ingress"]
    assert (
        live.attributes["ingress"]
        == canonical
        == [
            {"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["192.168.0.0/16"]},
            {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["10.1.0.0/16"]},
            {
                "protocol": "tcp",
                "from_port": 443,
                "to_port": 443,
                "cidr_blocks": ["0.0.0.0/0", "10.0.0.0/8"],
                "description": "https",
            },
        ]
    )

    shuffled = with_properties(
        declared,
        ingress=[
            {"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["192.168.0.0/16"]},
            rule("tcp", 443, "0.0.0.0/0", description="https"),
            rule("tcp", 22, "10.1.0.0/16"),
            rule("tcp", 443, "10.0.0.0/8", description="https"),
        ],
    )
    assert aws.normalize("aws_security_group", shuffled.properties)["ingress"] == canonical
    before = dict(aws.api_calls_by_operation)
    update(aws, shuffled, live, "ingress")
    changed = {op for op, n in aws.api_calls_by_operation.items() if n != before.get(op, 0)}
    assert not {op for op in changed if "Authorize" in op or "Revoke" in op or "RuleDescriptions" in op}


def test_security_group_update_authorizes_and_revokes_only_the_difference(aws: AwsProvider) -> None:
    declared = spec(
        "web",
        "aws_security_group",
        {
            "name": "web",
            "ingress": [rule("tcp", 443, "10.0.0.0/8", "172.16.0.0/12"), rule("tcp", 22, "10.1.0.0/16")],
        },
    )
    live = aws.create(declared)
    authorized = capture(aws, "ec2", "AuthorizeSecurityGroupIngress")
    revoked = capture(aws, "ec2", "RevokeSecurityGroupIngress")

    wanted = with_properties(
        declared, ingress=[rule("tcp", 22, "10.1.0.0/16"), rule("tcp", 443, "192.168.0.0/16", "10.0.0.0/8")]
    )
    after = update(aws, wanted, live, "ingress")

    assert [p["IpPermissions"] for p in authorized] == [
        [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "192.168.0.0/16"}]}]
    ]
    assert [p["IpPermissions"] for p in revoked] == [
        [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "172.16.0.0/12"}]}]
    ]
    assert after.attributes["ingress"] == aws.normalize("aws_security_group", wanted.properties)["ingress"]
    assert after.id == live.id


def test_security_group_description_change_is_made_in_place(aws: AwsProvider) -> None:
    declared = spec("web", "aws_security_group", {"name": "web", "ingress": [rule("tcp", 80, "10.0.0.0/8")]})
    live = aws.create(declared)
    wanted = with_properties(declared, ingress=[rule("tcp", 80, "10.0.0.0/8", description="plain http")])

    authorized = calls(aws, "ec2.AuthorizeSecurityGroupIngress")

    update(aws, wanted, live, "ingress")

    assert calls(aws, "ec2.UpdateSecurityGroupRuleDescriptionsIngress") == 1
    assert calls(aws, "ec2.AuthorizeSecurityGroupIngress") == authorized
    assert calls(aws, "ec2.RevokeSecurityGroupIngress") == 0
    read = aws.read("aws_security_group", live.id)
    assert read is not None and read.attributes["ingress"] == wanted.properties["ingress"]


def test_security_group_declared_egress_replaces_the_default_rule(aws: AwsProvider) -> None:
    default_only = aws.create(spec("a", "aws_security_group", {"name": "a"}))
    assert default_only.attributes["egress"] == [
        {"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}
    ]
    assert default_only.attributes["description"] == "Managed by DeployForge"

    declared = spec("b", "aws_security_group", {"name": "b", "egress": [rule("tcp", 443, "10.0.0.0/8")]})
    live = aws.create(declared)
    assert live.attributes["egress"] == [rule("tcp", 443, "10.0.0.0/8")]


def test_security_group_in_the_default_vpc_is_found_by_name(aws: AwsProvider) -> None:
    declared = spec("web", "aws_security_group", {"name": "web"}, {"team": "core"})
    live = aws.create(declared)
    vpcs = aws.client("ec2").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert live.attributes["vpc_id"] == vpcs[0]["VpcId"]
    assert live.outputs["arn"].endswith(f":security-group/{live.id}")
    found = aws.lookup(declared)
    assert found is not None and found.id == live.id

    elsewhere = aws.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    assert aws.lookup(with_properties(declared, vpc_id=elsewhere)) is None


def test_security_group_conflicting_rule_descriptions_are_refused_before_creating(aws: AwsProvider) -> None:
    declared = spec(
        "web",
        "aws_security_group",
        {
            "name": "web",
            "ingress": [rule("tcp", 80, "10.0.0.0/8", description="a"), rule("tcp", 80, "10.0.0.0/8")],
        },
    )
    with pytest.raises(ProviderError) as failure:
        aws.create(declared)
    assert failure.value.code == "ConflictingRules"
    assert calls(aws, "ec2.CreateSecurityGroup") == 0


def test_security_group_refuses_in_place_change_of_a_force_new_attribute(aws: AwsProvider) -> None:
    declared = spec("web", "aws_security_group", {"name": "web", "description": "one"})
    live = aws.create(declared)
    with pytest.raises(ProviderError) as failure:
        update(aws, with_properties(declared, description="two"), live, "description")
    assert failure.value.code == "ForceNew"
    assert "aws_security_group.web" in failure.value.message


# --- aws_launch_template ---------------------------------------------------------------------


def _launch_template(aws: AwsProvider) -> tuple[ResourceSpec, LiveResource]:
    declared = spec(
        "lt",
        "aws_launch_template",
        {
            "name": "web-lt",
            "image_id": "ami-12c6146b",
            "instance_type": "t3.micro",
            "key_name": "deploy",
            "user_data": "#!/bin/sh\necho 'héllo' > /tmp/greeting\n",
        },
        {"team": "core"},
    )
    return declared, aws.create(declared)


def test_launch_template_update_makes_a_new_default_version(aws: AwsProvider) -> None:
    declared, live = _launch_template(aws)
    assert (live.outputs["latest_version"], live.outputs["default_version"]) == (1, 1)

    wanted = with_properties(declared, instance_type="t3.small")
    after = update(aws, wanted, live, "instance_type")

    assert after.id == live.id
    assert (after.outputs["latest_version"], after.outputs["default_version"]) == (2, 2)
    assert after.attributes["instance_type"] == "t3.small"
    for key in ("image_id", "key_name", "user_data"):
        assert after.attributes[key] == declared.properties[key]
    versions = aws.client("ec2").describe_launch_template_versions(LaunchTemplateId=live.id)["LaunchTemplateVersions"]
    assert sorted(v["VersionNumber"] for v in versions) == [1, 2]

    retagged = update(
        aws, ResourceSpec(wanted.name, wanted.type, "it", wanted.properties, {"team": "edge"}), after, "tags"
    )
    assert retagged.outputs["latest_version"] == 2  # tags are not part of a version
    assert retagged.attributes["tags"] == {"team": "edge"}


def test_launch_template_user_data_is_base64_in_aws_and_text_in_attributes(aws: AwsProvider) -> None:
    declared, live = _launch_template(aws)
    raw = aws.client("ec2").describe_launch_template_versions(LaunchTemplateId=live.id, Versions=["$Default"])
    encoded = raw["LaunchTemplateVersions"][0]["LaunchTemplateData"]["UserData"]
    assert base64.b64decode(encoded).decode() == declared.properties["user_data"]
    assert live.attributes["user_data"] == declared.properties["user_data"]


def test_launch_template_property_removed_from_the_spec_is_gone_from_the_new_version(
    aws: AwsProvider,
) -> None:
    declared, live = _launch_template(aws)
    wanted = spec("lt", "aws_launch_template", {k: v for k, v in declared.properties.items() if k != "key_name"})
    after = update(aws, wanted, live, "key_name")
    assert "key_name" not in after.attributes
    assert after.attributes["image_id"] == "ami-12c6146b"


# --- aws_autoscaling_group -------------------------------------------------------------------


def _group(aws: AwsProvider, **overrides: Any) -> tuple[ResourceSpec, LiveResource]:
    aws.create(spec("lt", "aws_launch_template", {"name": "asg-lt", "image_id": "ami-12c6146b"}))
    properties = {
        "name": "web",
        "min_size": 1,
        "max_size": 3,
        "desired_capacity": 1,
        "launch_template": {"name": "asg-lt", "version": "$Latest"},
        "availability_zones": ["us-east-1b", "us-east-1a"],
        **overrides,
    }
    declared = spec("asg", "aws_autoscaling_group", properties, {"team": "core"})
    return declared, aws.create(declared)


def test_autoscaling_group_capacity_update(aws: AwsProvider) -> None:
    declared, live = _group(aws)
    assert live.attributes["availability_zones"] == ["us-east-1b", "us-east-1a"]  # declared order
    assert live.outputs["arn"].startswith("arn:aws:autoscaling:")

    updated = update(
        aws, with_properties(declared, desired_capacity=3, max_size=4), live, "desired_capacity", "max_size"
    )

    assert (updated.attributes["desired_capacity"], updated.attributes["max_size"]) == (3, 4)
    assert updated.attributes["min_size"] == 1
    group = aws.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"]
    assert group[0]["DesiredCapacity"] == 3


def test_autoscaling_group_launch_template_by_id_compares_clean(aws: AwsProvider) -> None:
    template = aws.create(spec("lt", "aws_launch_template", {"name": "by-id", "image_id": "ami-12c6146b"}))
    declared = spec(
        "asg",
        "aws_autoscaling_group",
        {
            "name": "by-id",
            "min_size": 0,
            "max_size": 1,
            "launch_template": {"id": template.id, "version": 1},
            "availability_zones": ["us-east-1a"],
        },
    )
    live = aws.create(declared)
    assert live.attributes["launch_template"] == {"id": template.id, "name": "by-id", "version": 1}


def test_autoscaling_group_delete_force_deletes_running_instances(aws: AwsProvider) -> None:
    _declared, live = _group(aws, desired_capacity=2)
    instances = aws.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["web"])
    assert len(instances["AutoScalingGroups"][0]["Instances"]) == 2

    aws.delete("aws_autoscaling_group", live.id)
    assert aws.read("aws_autoscaling_group", live.id) is None
    aws.delete("aws_autoscaling_group", live.id)


# --- aws_cloudwatch_metric_alarm -------------------------------------------------------------

_ALARM = {
    "alarm_name": "cpu-high",
    "metric_name": "CPUUtilization",
    "namespace": "AWS/EC2",
    "statistic": "Average",
    "period": 60,
    "evaluation_periods": 2,
    "threshold": 80,
    "comparison_operator": "GreaterThanThreshold",
    "dimensions": {"AutoScalingGroupName": "web"},
    "alarm_actions": ["arn:aws:sns:us-east-1:123456789012:oncall"],
}


def test_alarm_update_changes_the_asked_settings_and_keeps_the_others(aws: AwsProvider) -> None:
    declared = spec("cpu", "aws_cloudwatch_metric_alarm", dict(_ALARM), {"team": "core", "old": "x"})
    live = aws.create(declared)
    assert live.attributes["treat_missing_data"] == "missing"  # AWS's default, reported as such
    # settings this type does not model, made outside DeployForge
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="cpu-high",
        MetricName="CPUUtilization",
        Namespace="AWS/EC2",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=2,
        Threshold=80.0,
        ComparisonOperator="GreaterThanThreshold",
        Dimensions=[{"Name": "AutoScalingGroupName", "Value": "web"}],
        AlarmActions=_ALARM["alarm_actions"],
        OKActions=["arn:aws:sns:us-east-1:123456789012:recovered"],
        DatapointsToAlarm=1,
    )

    wanted = ResourceSpec(
        "cpu",
        "aws_cloudwatch_metric_alarm",
        "it",
        {**_ALARM, "threshold": 92.5, "alarm_description": "hot", "treat_missing_data": "breaching"},
        {"team": "sre"},
    )
    after = update(aws, wanted, live, "threshold", "alarm_description", "treat_missing_data", "tags")

    assert after.attributes["threshold"] == 92.5
    assert after.attributes["alarm_description"] == "hot"
    assert after.attributes["treat_missing_data"] == "breaching"
    assert after.attributes["tags"] == {"team": "sre"}
    assert after.attributes["dimensions"] == {"AutoScalingGroupName": "web"}
    alarm = cloudwatch.describe_alarms(AlarmNames=["cpu-high"])["MetricAlarms"][0]
    assert alarm["OKActions"] == ["arn:aws:sns:us-east-1:123456789012:recovered"]
    assert alarm["DatapointsToAlarm"] == 1


def test_alarm_create_refuses_to_overwrite_an_existing_alarm(aws: AwsProvider) -> None:
    declared = spec("cpu", "aws_cloudwatch_metric_alarm", dict(_ALARM))
    aws.create(declared)
    with pytest.raises(ProviderError) as failure:
        aws.create(with_properties(declared, threshold=1))
    assert failure.value.code == "AlreadyExists"
    still = aws.read("aws_cloudwatch_metric_alarm", "cpu-high")
    assert still is not None and still.attributes["threshold"] == 80


# --- aws_s3_bucket ---------------------------------------------------------------------------


def test_bucket_encryption_versioning_and_public_access_block_round_trip(aws: AwsProvider) -> None:
    declared = spec(
        "logs",
        "aws_s3_bucket",
        {
            "bucket": "df-logs",
            "versioning": True,
            "encryption": {"sse_algorithm": "aws:kms", "kms_key_id": "alias/logs"},
            "public_access_block": {
                "block_public_acls": True,
                "ignore_public_acls": False,
                "block_public_policy": True,
                "restrict_public_buckets": False,
            },
        },
        {"team": "core"},
    )
    live = aws.create(declared)
    assert {k: live.attributes[k] for k in declared.properties} == declared.properties
    assert live.outputs == {"id": "df-logs", "arn": "arn:aws:s3:::df-logs", "bucket": "df-logs"}

    wanted = with_properties(
        declared,
        versioning=False,
        encryption={"sse_algorithm": "AES256"},
        public_access_block={"ignore_public_acls": True},
    )
    after = update(aws, wanted, live, "versioning", "encryption", "public_access_block")
    assert after.attributes["versioning"] is False  # suspended reads as false
    assert after.attributes["encryption"] == {"sse_algorithm": "AES256"}
    assert after.attributes["public_access_block"] == {
        "block_public_acls": True,  # undeclared flags keep their value
        "ignore_public_acls": True,
        "block_public_policy": True,
        "restrict_public_buckets": False,
    }

    unencrypted = spec("logs", "aws_s3_bucket", {"bucket": "df-logs"}, {"team": "core"})
    after = update(aws, unencrypted, after, "encryption", "tags")
    assert after.attributes["encryption"] == {"sse_algorithm": "AES256"}  # S3's default encryption
    assert aws.client("s3").get_bucket_versioning(Bucket="df-logs")["Status"] == "Suspended"


def test_bucket_in_another_region_is_listed_by_that_region_only(moto_endpoint: str) -> None:
    west = AwsProvider(target="west", region="eu-west-1", endpoint_url=moto_endpoint)
    east = AwsProvider(target="east", region="us-east-1", endpoint_url=moto_endpoint)
    west.create(spec("w", "aws_s3_bucket", {"bucket": "df-west"}))
    east.create(spec("e", "aws_s3_bucket", {"bucket": "df-east"}))

    location = west.client("s3").get_bucket_location(Bucket="df-west")
    assert location["LocationConstraint"] == "eu-west-1"
    assert [live.id for live in west.list("aws_s3_bucket")] == ["df-west"]
    assert [live.id for live in east.list("aws_s3_bucket")] == ["df-east"]


# --- errors ----------------------------------------------------------------------------------


def test_unreachable_endpoint_fails_fast(moto_server: str, dead_port: int) -> None:
    endpoint = f"http://127.0.0.1:{dead_port}"
    provider = AwsProvider(target="dead", region=REGION, endpoint_url=endpoint)
    started = time.monotonic()
    with pytest.raises(EndpointUnreachableError) as failure:
        provider.read("aws_s3_bucket", "anything")
    assert time.monotonic() - started < 5
    assert endpoint in failure.value.message
    assert failure.value.exit_code == EXIT_INPUT
    assert failure.value.hint and "endpoint_url" in failure.value.hint


def test_bucket_already_owned_is_refused_and_left_alone(aws: AwsProvider) -> None:
    declared = spec("logs", "aws_s3_bucket", {"bucket": "df-owned"}, {"keep": "me"})
    aws.create(declared)
    with pytest.raises(ProviderError) as failure:
        aws.create(spec("again", "aws_s3_bucket", {"bucket": "df-owned"}))
    assert failure.value.code == "BucketAlreadyOwnedByYou"
    assert "aws_s3_bucket.again" in failure.value.message
    assert failure.value.hint and "adopt" in failure.value.hint
    still = aws.read("aws_s3_bucket", "df-owned")  # the failed create did not remove someone's bucket
    assert still is not None and still.attributes["tags"] == {"keep": "me"}


@pytest.fixture
def other_account(aws: AwsProvider, moto_endpoint: str) -> AwsProvider:
    """A provider whose credentials belong to another account (moto maps STS credentials to it)."""
    credentials = aws.client("sts").assume_role(
        RoleArn="arn:aws:iam::111111111111:role/deployer", RoleSessionName="integration"
    )["Credentials"]
    return AwsProvider(
        target="other",
        region=REGION,
        endpoint_url=moto_endpoint,
        access_key_id=credentials["AccessKeyId"],
        secret_access_key=credentials["SecretAccessKey"],
        session_token=credentials["SessionToken"],
    )


def test_bucket_owned_by_another_account(aws: AwsProvider, other_account: AwsProvider) -> None:
    aws.create(spec("logs", "aws_s3_bucket", {"bucket": "df-taken"}))
    with pytest.raises(ProviderError) as failure:
        other_account.create(spec("logs", "aws_s3_bucket", {"bucket": "df-taken"}))
    assert failure.value.code == "BucketAlreadyExists"
    assert failure.value.hint and "global" in failure.value.hint

    # the same condition reported by CreateBucket itself (a race past the check)
    try:
        other_account.client("s3").create_bucket(Bucket="df-taken")
    except Exception as exc:
        error = translate(exc, resource="aws_s3_bucket.logs", action="create", target="other", endpoint=None)
    else:
        pytest.fail("moto accepted a bucket name another account owns")
    assert error.code == "BucketAlreadyExists"
    assert "CreateBucket" in error.message and "aws_s3_bucket.logs" in error.message
    assert error.hint and "global" in error.hint


def test_invalid_property_names_the_resource_and_the_aws_error(aws: AwsProvider) -> None:
    bad_cidr = spec("web", "aws_security_group", {"name": "web", "ingress": [rule("tcp", 80, "10.0.0.0/99")]})
    with pytest.raises(ProviderError) as failure:
        aws.create(bad_cidr)
    assert failure.value.code == "InvalidParameterValue"
    assert failure.value.resource == "aws_security_group.web"
    assert "AuthorizeSecurityGroupIngress" in failure.value.message
    assert failure.value.hint and "properties" in failure.value.hint

    bad_type = spec("cpu", "aws_cloudwatch_metric_alarm", {**_ALARM, "evaluation_periods": 0})
    with pytest.raises(ProviderError) as failure:
        aws.create(bad_type)
    assert failure.value.code == "ParamValidation"
    assert "EvaluationPeriods" in failure.value.message


def test_unimplemented_action_is_a_provider_error(aws: AwsProvider) -> None:
    try:  # moto answers HTTP 500 for actions it does not implement
        aws.client("autoscaling").start_instance_refresh(AutoScalingGroupName="web")
    except Exception as exc:
        error = translate(exc, resource="aws_autoscaling_group.web", action="refresh", target="it", endpoint="x")
    else:
        pytest.fail("moto implements start_instance_refresh now: pick another unimplemented action")
    assert type(error) is ProviderError
    assert error.code == "UnparsableResponse"
    assert error.hint and "moto" in error.hint


def test_connection_lost_mid_run_is_endpoint_unreachable(aws: AwsProvider, dead_port: int) -> None:
    import boto3
    from botocore.config import Config

    endpoint = f"http://127.0.0.1:{dead_port}"
    client = boto3.session.Session().client(
        "s3", region_name=REGION, endpoint_url=endpoint, config=Config(retries={"max_attempts": 1})
    )
    try:
        client.list_buckets()
    except Exception as exc:
        error = translate(exc, resource="aws_s3_bucket.logs", action="read", target="it", endpoint=endpoint)
    else:
        pytest.fail("a closed port accepted a connection")
    assert isinstance(error, EndpointUnreachableError)
    assert endpoint in error.message and "aws_s3_bucket.logs" in error.message


def test_a_failed_cleanup_is_reported_with_what_was_left_behind(aws: AwsProvider) -> None:
    s3 = aws.client("s3")
    # neither the step nor its undo can succeed: there is no such bucket
    undo = undo_on_failure(lambda: s3.delete_bucket(Bucket="df-half-made"), "bucket df-half-made")
    with pytest.raises(ClientError) as raised, undo:
        s3.put_bucket_versioning(Bucket="df-half-made", VersioningConfiguration={"Status": "Enabled"})
    error = translate(raised.value, resource="aws_s3_bucket.half", action="create", target="it", endpoint=None)
    assert error.code == "NoSuchBucket"
    assert "PutBucketVersioning" in error.message
    assert "bucket df-half-made also failed" in error.message and "delete it by hand" in error.message


def test_missing_profile_points_at_auth(moto_endpoint: str) -> None:
    provider = aws_provider_for_target("prod", {"region": REGION, "profile": "nope", "endpoint_url": moto_endpoint})
    with pytest.raises(ProviderError) as failure:
        provider.read("aws_s3_bucket", "anything")
    assert failure.value.code == "ProfileNotFound"
    assert failure.value.exit_code == 2  # how the target is set up: bad input
    assert "prod" in failure.value.message
    assert failure.value.hint and "auth:" in failure.value.hint


def test_missing_credentials_point_at_auth(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata probing
    provider = AwsProvider(target="ci", region=REGION, endpoint_url=moto_endpoint)
    with pytest.raises(ProviderError) as failure:
        provider.read("aws_security_group", "sg-0123456789abcdef0")
    assert failure.value.code == "NoCredentialsError" and failure.value.exit_code == 2
    assert failure.value.hint and "auth:" in failure.value.hint


def test_missing_region_is_a_provider_error(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    provider = AwsProvider(target="noregion", region=None, endpoint_url=moto_endpoint)
    with pytest.raises(ProviderError) as failure:
        provider.read("aws_s3_bucket", "anything")
    assert failure.value.code == "NoRegion" and failure.value.exit_code == 2
    assert failure.value.hint and "region:" in failure.value.hint


# --- pagination, clients, metrics ------------------------------------------------------------


def test_list_follows_every_page(aws: AwsProvider) -> None:
    aws.create(spec("lt", "aws_launch_template", {"name": "paged-lt", "image_id": "ami-12c6146b"}))
    for i in range(5):
        aws.create(
            spec(
                f"asg{i}",
                "aws_autoscaling_group",
                {
                    "name": f"paged-{i}",
                    "min_size": 0,
                    "max_size": 1,
                    "launch_template": {"name": "paged-lt", "version": 1},
                    "availability_zones": ["us-east-1a"],
                },
            )
        )
    aws.page_size_limit = 2
    sent = capture(aws, "autoscaling", "DescribeAutoScalingGroups")

    names = sorted(live.id for live in aws.list("aws_autoscaling_group"))

    assert names == [f"paged-{i}" for i in range(5)]
    assert len(sent) == 3  # pages of 2, 2 and 1
    assert all(params["MaxRecords"] == 2 for params in sent)
    assert [bool(params.get("NextToken")) for params in sent] == [False, True, True]


def test_list_asks_for_the_largest_pages(aws: AwsProvider) -> None:
    for i in range(12):
        aws.create(spec(f"sg{i}", "aws_security_group", {"name": f"group-{i}"}))
    sent = capture(aws, "ec2", "DescribeSecurityGroups")

    names = {live.attributes["name"] for live in aws.list("aws_security_group")}

    assert names == {f"group-{i}" for i in range(12)} | {"default"}
    assert [params["MaxResults"] for params in sent] == [1000]


def test_clients_are_shared_across_threads_and_every_call_is_counted(aws: AwsProvider) -> None:
    aws.create(spec("logs", "aws_s3_bucket", {"bucket": "df-threads"}))
    before = aws.api_calls["s3"]
    clients: list[Any] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            clients.append(aws.client("s3"))
            for _ in range(5):
                assert aws.read("aws_s3_bucket", "df-threads") is not None
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len({id(client) for client in clients}) == 1
    # a bucket read is 4 calls: versioning (which also says whether it exists), encryption, public
    # access block, tagging; no HeadBucket
    assert aws.api_calls["s3"] - before == 10 * 5 * 4
    assert aws.api_calls_by_operation["s3.GetBucketVersioning"] >= 50


def test_fresh_provider_made_lazily_from_target_settings(moto_endpoint: str) -> None:
    provider = aws_provider_for_target(
        "prod", {"region": "eu-central-1", "profile": None, "auth": None, "endpoint_url": moto_endpoint}
    )
    assert (provider.target, provider.profile, provider.endpoint_url) == ("prod", None, moto_endpoint)
    assert provider.api_calls == {}
    assert provider.region == "eu-central-1"
    assert provider.partition == "aws"
    assert provider.api_calls == {}  # configuring makes no API call


def test_importing_the_provider_package_loads_no_sdk() -> None:
    code = (
        "import sys, deployforge.providers.aws, deployforge.providers.aws.types as t;"
        "assert t.TYPE_INFOS;"
        "loaded = sorted(m for m in ('boto3', 'botocore') if m in sys.modules);"
        "print(','.join(loaded))"
    )
    source_root = str(Path(deployforge.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.strip() == ""
