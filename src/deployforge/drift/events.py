"""CloudTrail events for ``deployforge drift watch`` (pure: no I/O).

On AWS, CloudTrail records every management API call; an EventBridge rule on the account's default
bus routes the calls of the services DeployForge manages (``detail-type: AWS API Call via
CloudTrail``) to an SQS queue. This module says which calls those are (``event_pattern``), parses a
queue message into an ``Event`` (or says why it is skipped), finds the baseline resources the events
touch (matched by id, name or ARN anywhere in the call's request, response or resources), and holds
the report of one drain (``WatchReport``). The use case that drains the queue is
``usecases/drift_watch.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deployforge.drift.model import DriftReport

DETAIL_TYPE = "AWS API Call via CloudTrail"
# resource type -> the CloudTrail eventSource of its API calls
EVENT_SOURCES = {
    "aws_security_group": "ec2.amazonaws.com",
    "aws_launch_template": "ec2.amazonaws.com",
    "aws_autoscaling_group": "autoscaling.amazonaws.com",
    "aws_s3_bucket": "s3.amazonaws.com",
    "aws_cloudwatch_metric_alarm": "monitoring.amazonaws.com",
}


def resource_name(environment: str) -> str:
    """The queue's and the rule's name (one per environment and target)."""
    return f"deployforge-drift-{environment}"[:64]


def event_pattern() -> dict[str, Any]:
    sources = sorted({"aws." + s.split(".", 1)[0] for s in EVENT_SOURCES.values()})
    return {
        "detail-type": [DETAIL_TYPE],
        "source": sources,
        "detail": {"eventSource": sorted(set(EVENT_SOURCES.values()))},
    }


# -- pure: messages -> events -> touched resources ----------------------------------------------


@dataclass(frozen=True)
class Event:
    id: str
    source: str  # eventSource, e.g. ec2.amazonaws.com
    name: str  # eventName, e.g. AuthorizeSecurityGroupIngress
    strings: frozenset[str]  # every string in the call's request, response and resources


def _strings(value: Any, out: set[str], depth: int = 0) -> None:
    if depth > 20:  # a pathological nesting is not a CloudTrail event
        return
    if isinstance(value, str):
        if len(value) <= 2048:
            out.add(value)
            if value.startswith("arn:"):
                out.add(value.rsplit(":", 1)[-1].rsplit("/", 1)[-1])  # the id part of an ARN
    elif isinstance(value, Mapping):
        for item in value.values():
            _strings(item, out, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _strings(item, out, depth + 1)


def parse_message(body: str) -> Event | str:
    """The CloudTrail call an EventBridge message carries, or why it is not one (a string)."""
    try:
        data = json.loads(body)
    except RecursionError:
        return "nested too deeply"
    except ValueError:
        return "not JSON"
    if not isinstance(data, dict):
        return "not a JSON object"
    if data.get("detail-type") != DETAIL_TYPE:
        return f"foreign event (detail-type {str(data.get('detail-type'))[:60]!r})"
    detail = data.get("detail")
    if not isinstance(detail, dict) or not isinstance(detail.get("eventSource"), str):
        return "a CloudTrail event without detail.eventSource"
    source = detail["eventSource"]
    if source not in EVENT_SOURCES.values():
        return f"foreign event (eventSource {source[:60]})"
    found: set[str] = set()
    for key in ("requestParameters", "responseElements", "resources"):
        _strings(detail.get(key), found)
    _strings(data.get("resources"), found)
    ident = str(detail.get("eventID") or data.get("id") or "")
    return Event(ident, source, str(detail.get("eventName") or ""), frozenset(found))


def touched(events: Iterable[Event], baseline: Any) -> set[str]:
    """Names of the baseline resources the events touch (by id, name or ARN, within the right service)."""
    index: dict[tuple[str, str], set[str]] = {}
    for name, resource in baseline.resources.items():
        source = EVENT_SOURCES.get(resource.type)
        if source is None:
            continue
        keys = {str(resource.id)}
        for attr in ("name", "bucket", "alarm_name"):
            value = resource.attributes.get(attr)
            if isinstance(value, str):
                keys.add(value)
        for key in keys:
            index.setdefault((source, key), set()).add(name)
    out: set[str] = set()
    for event in events:
        for value in event.strings:
            out |= index.get((event.source, value), set())
    return out


# -- the report of one drain ----------------------------------------------------------------------


@dataclass
class WatchReport:
    environment: str
    queue: str
    messages: int = 0
    events: int = 0
    duplicates: int = 0
    skipped: list[str] = field(default_factory=list)  # why each malformed/foreign message was skipped
    touched: list[str] = field(default_factory=list)
    reads: int = 0  # resources re-read
    reconciled: bool = False
    deleted: int = 0
    drift: DriftReport | None = None
    latencies: list[float] = field(default_factory=list)  # seconds from the event's time to recorded

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "queue": self.queue,
            "messages": self.messages,
            "events": self.events,
            "duplicates": self.duplicates,
            "skipped": list(self.skipped),
            "touched": sorted(self.touched),
            "reads": self.reads,
            "reconciled": self.reconciled,
            "deleted": self.deleted,
            "drift": self.drift.to_json() if self.drift else None,
        }

    def render(self) -> str:
        lines = [
            f"drift watch {self.environment}: {self.messages} message(s), {self.events} event(s) "
            f"({self.duplicates} duplicate(s)), {len(self.skipped)} skipped; re-read {self.reads} resource(s)"
            + ("; full reconcile" if self.reconciled else "")
        ]
        lines += [f"  skipped: {why}" for why in self.skipped[:20]]
        if self.drift is not None:
            for record in self.drift.active:
                lines.append(f"  {record.id}  {record.status.value}  {record.severity}  {record.resource}")
                lines += [f"    {line}" for line in record.diff]
        return "\n".join(lines)
