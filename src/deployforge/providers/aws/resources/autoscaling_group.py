"""``aws_autoscaling_group``: an EC2 Auto Scaling group launched from a launch template.

``launch_template`` is reported with both its id and name (``{"id", "name", "version"}``), so a
spec naming the template either way compares equal on the keys it declares. Versions are
integers or ``$Latest``/``$Default``. Lists keep the order they were declared in. Deleting
force-deletes (terminating the instances) and waits until AWS no longer shows the group, so a
replacement with the same name can be created right after.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from deployforge.errors import ProviderError
from deployforge.providers.aws.errors import error_code
from deployforge.providers.aws.resources.base import (
    ResourceHandler,
    chunks,
    string_list,
    tag_changes,
    tags_from_aws,
)
from deployforge.providers.aws.types import AUTOSCALING_GROUP, TYPE_INFOS
from deployforge.providers.base import LiveResource, ResourceSpec

_SCALARS = {
    "min_size": "MinSize",
    "max_size": "MaxSize",
    "desired_capacity": "DesiredCapacity",
    "health_check_type": "HealthCheckType",
    "health_check_grace_period": "HealthCheckGracePeriod",
}
_UPDATABLE = {*_SCALARS, "launch_template", "availability_zones", "vpc_zone_identifier"}
_DELETING = "Delete in progress"


def canonical_version(version: Any) -> int | str:
    """A launch template version as declared: an integer, or $Latest / $Default."""
    text = str(version if version is not None else "$Default")
    return int(text) if text.isascii() and text.isdigit() else text


def asg_tags(name: str, tags: Mapping[str, str]) -> list[dict[str, Any]]:
    """Tags as Auto Scaling wants them; every tag propagates to the instances the group launches."""
    return [
        {
            "ResourceId": name,
            "ResourceType": "auto-scaling-group",
            "Key": key,
            "Value": str(value),
            "PropagateAtLaunch": True,
        }
        for key, value in sorted(tags.items())
    ]


def _is_not_found(exc: ClientError) -> bool:
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return error_code(exc) == "ValidationError" and "not found" in message.lower()


class AutoscalingGroupHandler(ResourceHandler):
    info = TYPE_INFOS[AUTOSCALING_GROUP]
    delete_poll_seconds = 5.0
    delete_timeout_seconds = 600.0
    restart_poll_seconds = 5.0
    restart_timeout_seconds = 900.0

    def normalize(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        result = dict(properties)
        template = result.get("launch_template")
        if isinstance(template, Mapping) and "version" in template:
            result["launch_template"] = {**template, "version": canonical_version(template["version"])}
        return result

    # reading --------------------------------------------------------------------------------

    def read(self, resource_id: str) -> LiveResource | None:
        group = self._describe_one(resource_id)
        return None if group is None else self._live(group)

    # names per DescribeAutoScalingGroups call (its MaxRecords is 100)
    batch_size = 100

    def read_many(self, resource_ids: list[str]) -> dict[str, LiveResource | None]:
        found: dict[str, LiveResource | None] = dict.fromkeys(resource_ids)
        paginator = self.aws.client("autoscaling").get_paginator("describe_auto_scaling_groups")
        size = self.aws.page_size(self.batch_size)
        for chunk in chunks(resource_ids, size):
            for page in paginator.paginate(AutoScalingGroupNames=chunk, PaginationConfig={"PageSize": size}):
                for group in page.get("AutoScalingGroups", []):
                    name = group["AutoScalingGroupName"]
                    if name in found and group.get("Status") != _DELETING:
                        found[name] = self._live(group)
        return found

    def _describe_one(self, name: str) -> dict[str, Any] | None:
        groups = self.aws.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        for group in groups["AutoScalingGroups"]:
            if group["AutoScalingGroupName"] == name and group.get("Status") != _DELETING:
                return dict(group)
        return None

    def list(self) -> Iterator[LiveResource]:
        paginator = self.aws.client("autoscaling").get_paginator("describe_auto_scaling_groups")
        for page in paginator.paginate(PaginationConfig={"PageSize": self.aws.page_size(100)}):
            for group in page.get("AutoScalingGroups", []):
                if group.get("Status") != _DELETING:
                    yield self._live(group)

    def _live(self, group: Mapping[str, Any]) -> LiveResource:
        name = group["AutoScalingGroupName"]
        attributes: dict[str, Any] = {
            "name": name,
            "min_size": group["MinSize"],
            "max_size": group["MaxSize"],
            "desired_capacity": group["DesiredCapacity"],
            "availability_zones": string_list(group.get("AvailabilityZones")),
            "vpc_zone_identifier": [s for s in group.get("VPCZoneIdentifier", "").split(",") if s],
            "health_check_type": group.get("HealthCheckType", "EC2"),
            "health_check_grace_period": group.get("HealthCheckGracePeriod", 0),
            "tags": tags_from_aws(group.get("Tags")),
        }
        template = group.get("LaunchTemplate")
        if template:
            attributes["launch_template"] = {
                "id": template["LaunchTemplateId"],
                "name": template["LaunchTemplateName"],
                "version": canonical_version(template.get("Version")),
            }
        return self.live(name, attributes, {"arn": group.get("AutoScalingGroupARN"), "name": name})

    # writing --------------------------------------------------------------------------------

    def _params(self, properties: Mapping[str, Any], keys: set[str]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for key, aws_key in _SCALARS.items():
            if key in keys and key in properties:
                value = properties[key]
                params[aws_key] = str(value) if key == "health_check_type" else int(value)
        if "launch_template" in keys and "launch_template" in properties:
            template = properties["launch_template"]
            spec: dict[str, str] = {"Version": str(canonical_version(template.get("version")))}
            if template.get("name"):
                spec["LaunchTemplateName"] = str(template["name"])
            else:
                spec["LaunchTemplateId"] = str(template["id"])
            params["LaunchTemplate"] = spec
        if "availability_zones" in keys and properties.get("availability_zones"):
            params["AvailabilityZones"] = string_list(properties["availability_zones"])
        if "vpc_zone_identifier" in keys and properties.get("vpc_zone_identifier"):
            params["VPCZoneIdentifier"] = ",".join(string_list(properties["vpc_zone_identifier"]))
        return params

    def create(self, spec: ResourceSpec) -> LiveResource:
        name = self.key(spec)
        params = self._params(spec.properties, _UPDATABLE)
        if spec.tags:
            params["Tags"] = asg_tags(name, spec.tags)
        self.aws.client("autoscaling").create_auto_scaling_group(AutoScalingGroupName=name, **params)
        return self.read_settled(name, spec.address)

    def update(self, spec: ResourceSpec, live: LiveResource, changes: frozenset[str]) -> LiveResource:
        self.check_changes(spec, changes, _UPDATABLE)
        autoscaling = self.aws.client("autoscaling")
        name = live.id
        params = self._params(spec.properties, set(changes))
        if "health_check_type" in changes and "health_check_type" not in spec.properties:
            params["HealthCheckType"] = self.info.defaults["health_check_type"]
        if params:
            autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, **params)
        if "tags" in changes:
            group = self._describe_one(name)
            if group is None:
                raise ProviderError(f"{spec.address}: {name} no longer exists", resource=spec.address, code="NotFound")
            to_set, to_remove = tag_changes(tags_from_aws(group.get("Tags")), spec.tags)
            if to_set:
                autoscaling.create_or_update_tags(Tags=asg_tags(name, to_set))
            if to_remove:
                autoscaling.delete_tags(
                    Tags=[{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": key} for key in to_remove]
                )
        return self.read_settled(name, spec.address)

    def delete(self, resource_id: str) -> None:
        try:
            self.aws.client("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=resource_id, ForceDelete=True)
        except ClientError as exc:
            if not _is_not_found(exc):
                raise
        deadline = time.monotonic() + self.delete_timeout_seconds
        while self._describe_any(resource_id):
            if time.monotonic() >= deadline:
                raise ProviderError(
                    f"{self.type} {resource_id}: still deleting after {self.delete_timeout_seconds:.0f}s",
                    hint="AWS is still terminating its instances; run again later",
                    resource=resource_id,
                    code="DeleteTimeout",
                )
            time.sleep(self.delete_poll_seconds)

    def _describe_any(self, name: str) -> bool:
        """Whether AWS still shows the group at all (deleting or not)."""
        groups = self.aws.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        return any(group["AutoScalingGroupName"] == name for group in groups["AutoScalingGroups"])

    # rolling restart (drift self-healing) ------------------------------------------------------

    def rolling_restart(self, name: str) -> tuple[str, ...]:
        """Replace every instance, one at a time, without lowering capacity.

        StartInstanceRefresh would do this in AWS, but emulators lack it; terminating one instance
        with ``ShouldDecrementDesiredCapacity=False`` makes the group launch a replacement, and the
        next one is only terminated once the group is back to its desired capacity in service.
        """
        autoscaling = self.aws.client("autoscaling")
        group = self._describe_one(name)
        if group is None:
            raise ProviderError(f"{self.type} {name} does not exist", resource=name, code="NotFound")
        desired = int(group["DesiredCapacity"])
        old = sorted(
            i["InstanceId"] for i in group.get("Instances", []) if not str(i.get("LifecycleState")).startswith("Termin")
        )
        replaced: tuple[str, ...] = ()
        for instance_id in old:
            autoscaling.terminate_instance_in_auto_scaling_group(
                InstanceId=instance_id, ShouldDecrementDesiredCapacity=False
            )
            self._wait_in_service(name, desired, instance_id)
            replaced += (instance_id,)
        return replaced

    def _wait_in_service(self, name: str, desired: int, gone: str) -> None:
        deadline = time.monotonic() + self.restart_timeout_seconds
        while True:
            group = self._describe_one(name)
            instances = group.get("Instances", []) if group else []
            serving = [i for i in instances if i.get("LifecycleState") == "InService" and i["InstanceId"] != gone]
            if len(serving) >= desired:
                return
            if time.monotonic() >= deadline:
                raise ProviderError(
                    f"{self.type} {name}: only {len(serving)} of {desired} instances in service "
                    f"{self.restart_timeout_seconds:.0f}s after replacing {gone}",
                    hint="the replacement did not become healthy; check the launch template and the group's activity",
                    resource=name,
                    code="RestartTimeout",
                )
            time.sleep(self.restart_poll_seconds)
