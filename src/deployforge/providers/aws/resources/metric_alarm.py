"""``aws_cloudwatch_metric_alarm``: a CloudWatch alarm on one metric.

PutMetricAlarm replaces an alarm's whole definition, so an update sends the live definition with
only the changed properties replaced, carrying over the settings this type does not model (OK
and insufficient-data actions, datapoints to alarm, unit...). Tags go through TagResource /
UntagResource because PutMetricAlarm only tags new alarms.
"""

from __future__ import annotations

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
    tags_to_aws,
)
from deployforge.providers.aws.types import METRIC_ALARM, TYPE_INFOS
from deployforge.providers.base import LiveResource, ResourceSpec

_PARAMS = {
    "metric_name": "MetricName",
    "namespace": "Namespace",
    "statistic": "Statistic",
    "period": "Period",
    "evaluation_periods": "EvaluationPeriods",
    "threshold": "Threshold",
    "comparison_operator": "ComparisonOperator",
    "dimensions": "Dimensions",
    "alarm_description": "AlarmDescription",
    "alarm_actions": "AlarmActions",
    "treat_missing_data": "TreatMissingData",
}
# Settings this type does not model; an update keeps whatever the alarm has.
_CARRIED = (
    "ActionsEnabled",
    "OKActions",
    "InsufficientDataActions",
    "DatapointsToAlarm",
    "Unit",
    "EvaluateLowSampleCountPercentile",
)
_GONE = frozenset({"ResourceNotFound", "ResourceNotFoundException"})


def canonical_threshold(value: Any) -> int | float:
    number = float(value)
    return int(number) if number.is_integer() else number


def alarm_params(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Declared properties -> PutMetricAlarm parameters (without the name and tags)."""
    params: dict[str, Any] = {}
    for key, aws_key in _PARAMS.items():
        if key not in properties or properties[key] is None:
            continue
        value = properties[key]
        if key == "dimensions":
            value = [{"Name": str(k), "Value": str(v)} for k, v in sorted(value.items())]
        elif key == "alarm_actions":
            value = string_list(value)
        elif key == "threshold":
            value = float(value)
        elif key in ("period", "evaluation_periods"):
            value = int(value)
        params[aws_key] = value
    return params


class MetricAlarmHandler(ResourceHandler):
    info = TYPE_INFOS[METRIC_ALARM]

    def normalize(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        result = dict(properties)
        if "dimensions" in result:
            result["dimensions"] = {str(k): str(v) for k, v in (result["dimensions"] or {}).items()}
        if isinstance(result.get("threshold"), (int, float)):
            result["threshold"] = canonical_threshold(result["threshold"])
        return result

    # reading --------------------------------------------------------------------------------

    def read(self, resource_id: str) -> LiveResource | None:
        alarm = self._describe(resource_id)
        return None if alarm is None else self._live(alarm)

    # names per DescribeAlarms call (its MaxRecords is 100); tags still take one call per alarm
    batch_size = 100

    def read_many(self, resource_ids: list[str]) -> dict[str, LiveResource | None]:
        found: dict[str, LiveResource | None] = dict.fromkeys(resource_ids)
        paginator = self.aws.client("cloudwatch").get_paginator("describe_alarms")
        size = self.aws.page_size(self.batch_size)
        for chunk in chunks(resource_ids, size):
            pages = paginator.paginate(
                AlarmNames=chunk, AlarmTypes=["MetricAlarm"], PaginationConfig={"PageSize": size}
            )
            for page in pages:
                for alarm in page.get("MetricAlarms", []):
                    if alarm["AlarmName"] in found:
                        found[alarm["AlarmName"]] = self._live(alarm)
        return found

    def _describe(self, name: str) -> dict[str, Any] | None:
        found = self.aws.client("cloudwatch").describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm"])
        for alarm in found.get("MetricAlarms", []):
            if alarm["AlarmName"] == name:
                return dict(alarm)
        return None

    def list(self) -> Iterator[LiveResource]:
        paginator = self.aws.client("cloudwatch").get_paginator("describe_alarms")
        pages = paginator.paginate(AlarmTypes=["MetricAlarm"], PaginationConfig={"PageSize": self.aws.page_size(100)})
        for page in pages:
            for alarm in page.get("MetricAlarms", []):
                live = self._live(alarm)
                if live is not None:
                    yield live

    def _tags(self, arn: str) -> dict[str, str] | None:
        try:
            response = self.aws.client("cloudwatch").list_tags_for_resource(ResourceARN=arn)
        except ClientError as exc:
            if error_code(exc) in _GONE:
                return None
            raise
        return tags_from_aws(response.get("Tags"))

    def _live(self, alarm: Mapping[str, Any]) -> LiveResource | None:
        name = alarm["AlarmName"]
        tags = self._tags(alarm["AlarmArn"])
        if tags is None:  # deleted between the two calls
            return None
        attributes: dict[str, Any] = {"alarm_name": name}
        for key, aws_key in _PARAMS.items():
            if aws_key in alarm:
                attributes[key] = alarm[aws_key]
        attributes["dimensions"] = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
        attributes["alarm_actions"] = string_list(alarm.get("AlarmActions"))
        attributes["treat_missing_data"] = alarm.get("TreatMissingData") or "missing"
        if "threshold" in attributes:
            attributes["threshold"] = canonical_threshold(attributes["threshold"])
        if not attributes.get("alarm_description"):
            attributes.pop("alarm_description", None)
        attributes["tags"] = tags
        return self.live(name, attributes, {"arn": alarm["AlarmArn"], "alarm_name": name})

    # writing --------------------------------------------------------------------------------

    def create(self, spec: ResourceSpec) -> LiveResource:
        name = self.key(spec)
        if self._describe(name) is not None:  # PutMetricAlarm would silently overwrite it
            raise ProviderError(
                f"{spec.address}: alarm {name} already exists",
                hint="it may come from an interrupted apply: adopt it, delete it, or choose another alarm_name",
                resource=spec.address,
                code="AlreadyExists",
            )
        params = alarm_params(spec.properties)
        if spec.tags:
            params["Tags"] = tags_to_aws(spec.tags)
        self.aws.client("cloudwatch").put_metric_alarm(AlarmName=name, **params)
        return self.read_settled(name, spec.address)

    def update(self, spec: ResourceSpec, live: LiveResource, changes: frozenset[str]) -> LiveResource:
        self.check_changes(spec, changes, _PARAMS)
        cloudwatch = self.aws.client("cloudwatch")
        name = live.id
        alarm = self._describe(name)
        current = None if alarm is None else self._live(alarm)
        if alarm is None or current is None:
            raise ProviderError(
                f"{spec.address}: alarm {name} no longer exists", resource=spec.address, code="NotFound"
            )
        if changes & _PARAMS.keys():
            wanted = {k: v for k, v in current.attributes.items() if k in _PARAMS}
            for key in changes & _PARAMS.keys():
                if key in spec.properties:
                    wanted[key] = spec.properties[key]
                else:
                    wanted.pop(key, None)
            params = alarm_params(wanted)
            params.update({key: alarm[key] for key in _CARRIED if key in alarm})
            cloudwatch.put_metric_alarm(AlarmName=name, **params)
        if "tags" in changes:
            to_set, to_remove = tag_changes(current.attributes["tags"], spec.tags)
            if to_set:
                cloudwatch.tag_resource(ResourceARN=alarm["AlarmArn"], Tags=tags_to_aws(to_set))
            if to_remove:
                cloudwatch.untag_resource(ResourceARN=alarm["AlarmArn"], TagKeys=to_remove)
        return self.read_settled(name, spec.address)

    def delete(self, resource_id: str) -> None:
        try:
            self.aws.client("cloudwatch").delete_alarms(AlarmNames=[resource_id])
        except ClientError as exc:
            if error_code(exc) not in _GONE:
                raise
