"""One handler per AWS resource type (imports botocore: load only with the live provider)."""

from __future__ import annotations

from deployforge.providers.aws.resources.autoscaling_group import AutoscalingGroupHandler
from deployforge.providers.aws.resources.base import AwsContext, ResourceHandler
from deployforge.providers.aws.resources.launch_template import LaunchTemplateHandler
from deployforge.providers.aws.resources.metric_alarm import MetricAlarmHandler
from deployforge.providers.aws.resources.s3_bucket import S3BucketHandler
from deployforge.providers.aws.resources.security_group import SecurityGroupHandler

HANDLERS: dict[str, type[ResourceHandler]] = {
    handler.info.type: handler
    for handler in (
        S3BucketHandler,
        SecurityGroupHandler,
        LaunchTemplateHandler,
        AutoscalingGroupHandler,
        MetricAlarmHandler,
    )
}

__all__ = ["HANDLERS", "AwsContext", "ResourceHandler"]
