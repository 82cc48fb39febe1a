"""Use case: event-driven, incremental drift, ``deployforge drift watch`` (the pure event parsing is
``deployforge.drift.events``).

On AWS, CloudTrail records every management API call; an EventBridge rule on the account's default
bus routes the calls of the services DeployForge manages (``detail-type: AWS API Call via
CloudTrail``) to an SQS queue. ``drift watch`` drains the queue and re-reads only the baseline
resources the calls touched (matched by id, name or ARN anywhere in the call's request, response or
resources), then records the drift in the environment's drift register.

* ``setup``: the queue (with a dead-letter queue), its least-privilege policy (only this rule may send)
  and the rule with its target, idempotently (running it again changes nothing).
* ``--once``: drain what arrived since the last run (a scheduled CI job); ``--follow``: keep polling.
* At-least-once delivery: a message is deleted only after the drift it caused is recorded (register
  written); when recording fails, the batch is made visible again at once for the next attempt.
  Duplicates (one event delivered twice, many events touching one resource) cost one read.
* A malformed or foreign message (not JSON, not a CloudTrail call, a service we do not manage) is
  logged, counted and deleted: it can never become valid (SQS's redrive sends messages that keep
  failing for other reasons to the dead-letter queue).
* A periodic full reconcile (``--reconcile-every``, default 1 h) is the safety net for what events
  cannot show (a missed event, an object nobody manages).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from deployforge.drift.events import Event, WatchReport, event_pattern, parse_message, resource_name, touched
from deployforge.drift.model import DriftReport
from deployforge.errors import DeployForgeError, ProviderError, StateError, UsageError
from deployforge.usecases.drift import DriftSettings, detect, ignore_path
from deployforge.usecases.workspace import Workspace

logger = logging.getLogger("deployforge.drift.watch")

RECONCILE_EVERY = 3600.0
BATCH = 10  # SQS's maximum per ReceiveMessage


# -- adapters: AWS clients of the environment's target ---------------------------------------------


def _aws_targets(ws: Workspace) -> list[str]:
    names = [n for n, t in ws.config.targets.items() if t.provider == "aws"]
    if not names:
        raise UsageError("drift watch needs an AWS target", hint="it consumes AWS CloudTrail events")
    return names


def _target_for(ws: Workspace, queue_url: str | None) -> str:
    names = _aws_targets(ws)
    if queue_url:
        for name in names:
            region = ws.config.targets[name].region
            if region and (f".{region}." in queue_url or f"/{region}/" in queue_url):
                return name
    return names[0]


def _client_error(exc: Exception) -> tuple[str, str]:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    return str(error.get("Code") or type(exc).__name__), str(error.get("Message") or exc)


def _queue_trouble(exc: Exception, queue: str, env: str) -> DeployForgeError:
    code, message = _client_error(exc)
    setup = f"deployforge drift watch setup -e {env}"
    if "NonExistentQueue" in code or code == "QueueDoesNotExist":
        return UsageError(f"the drift queue {queue} does not exist", hint=f"create it (and its rule): {setup}")
    if code in ("AccessDenied", "AccessDeniedException", "AuthorizationError"):
        return ProviderError(
            f"not allowed to use the drift queue {queue}: {message}",
            hint=f"the role needs sqs:ReceiveMessage, sqs:DeleteMessage and sqs:ChangeMessageVisibility on it; "
            f"the queue comes from: {setup}",
            code=code,
        )
    return ProviderError(f"the drift queue {queue}: {code}: {message}", hint=f"check the queue; {setup}", code=code)


def setup(ws: Workspace) -> dict[str, Any]:
    """Create (or confirm) the queue, its dead-letter queue, its policy and the EventBridge rule."""
    from botocore.exceptions import BotoCoreError, ClientError

    env = ws.config.environment
    name = resource_name(env)
    out = []
    for target in _aws_targets(ws):
        provider: Any = ws.provider(target)  # an AWS provider: its boto3 clients
        sqs, events = provider.client("sqs"), provider.client("events")
        try:
            dlq = sqs.create_queue(QueueName=f"{name}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            queue = sqs.create_queue(QueueName=name)["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            rule_arn = events.put_rule(
                Name=name,
                EventPattern=json.dumps(event_pattern(), sort_keys=True),
                State="ENABLED",
                Description=f"DeployForge drift watch ({env}): management API calls to the queue",
            )["RuleArn"]
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DeployForgeDriftRuleOnly",
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": queue_arn,
                        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                    }
                ],
            }
            sqs.set_queue_attributes(
                QueueUrl=queue,
                Attributes={
                    "Policy": json.dumps(policy, sort_keys=True),
                    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
                    "MessageRetentionPeriod": "1209600",
                    "VisibilityTimeout": "120",
                },
            )
            events.put_targets(Rule=name, Targets=[{"Id": "deployforge-drift-queue", "Arn": queue_arn}])
        except (BotoCoreError, ClientError) as exc:
            code, message = _client_error(exc)
            raise ProviderError(
                f"drift watch setup in target '{target}': {code}: {message}",
                hint="the role needs sqs:CreateQueue/SetQueueAttributes/GetQueueAttributes and "
                "events:PutRule/PutTargets; CloudTrail must record management events (a trail or the default "
                "event history) for EventBridge to see them",
                code=code,
            ) from exc
        out.append({"target": target, "queue_url": queue, "queue_arn": queue_arn, "rule_arn": rule_arn, "dlq": dlq_arn})
    return {"environment": env, "watch": out}


def queue_url(ws: Workspace, given: str | None) -> str:
    if given:
        return given
    from botocore.exceptions import BotoCoreError, ClientError

    target = _target_for(ws, None)
    name = resource_name(ws.config.environment)
    try:
        provider: Any = ws.provider(target)  # an AWS provider: its boto3 clients
        return str(provider.client("sqs").get_queue_url(QueueName=name)["QueueUrl"])
    except (BotoCoreError, ClientError) as exc:
        raise _queue_trouble(exc, name, ws.config.environment) from exc


# -- incremental detection -----------------------------------------------------------------------


def check(ws: Workspace, settings: DriftSettings, names: set[str]) -> tuple[DriftReport, int]:
    """Re-read only ``names`` (baseline resources) and record their drift in the register, keeping the
    register's records of every other resource. Returns the report (those resources only) and reads."""
    from deployforge.drift.classify import is_production
    from deployforge.drift.detect import LiveView, build_report, read_one, register_document, register_history
    from deployforge.drift.ignore import load_ignore_file

    config = ws.config
    env = config.environment
    baseline = ws.backend.read_baseline(env)
    if baseline is None:
        raise UsageError(f"environment '{env}' has no baseline to compare with", hint=f"deployforge apply -e {env}")
    wanted = {n: r for n, r in baseline.resources.items() if n in names}
    subset = replace(baseline, resources=wanted)
    view = LiveView()
    for name, resource in wanted.items():
        view.observed[name] = read_one(ws.provider(resource.target), resource.type, resource.id)
    register = ws.backend.read_drift_register(env)
    report = build_report(
        environment=env,
        baseline=subset,
        view=view,
        production=is_production(env, config.require_confirmation),
        ignore=load_ignore_file(ignore_path(ws, settings), required=bool(settings.ignore_file)),
        history=register_history(register),
        now=settings.now,
        fail_on=settings.fail_on,
    )
    merged = dict(register or {})
    kept = {
        k: v
        for k, v in dict(merged.get("records") or {}).items()
        if not (isinstance(v, Mapping) and v.get("resource") in wanted)
    }
    fresh = register_document(report)
    kept.update(fresh["records"])
    merged.update(
        environment=env,
        baseline_id=baseline.id,
        records=kept,
        incremental_at=report.checked_at,
        checked_at=merged.get("checked_at") or "",  # the last FULL check: when the next reconcile is due
    )
    ws.backend.write_drift_register(env, merged)
    return report, len(wanted)


def _reconcile_due(ws: Workspace, every: float) -> bool:
    try:
        register = ws.backend.read_drift_register(ws.config.environment) or {}
    except StateError:
        return True
    stamp = str(register.get("checked_at") or "")
    try:
        last = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return True
    return (dt.datetime.now(dt.UTC) - last).total_seconds() >= every


def _event_time(body: str) -> float | None:
    try:
        stamp = json.loads(body).get("time")
        return dt.datetime.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()
    except (ValueError, AttributeError, TypeError):
        return None


def drain(
    ws: Workspace,
    settings: DriftSettings,
    queue: str,
    *,
    wait: float = 0.0,
    max_batches: int | None = None,
    reconcile_every: float = RECONCILE_EVERY,
    record: Callable[[], None] | None = None,
) -> WatchReport:
    """Receive what is on the queue (batches of 10, until it is empty), re-read what the events touch,
    record the drift, then delete the messages. ``wait``: long-poll seconds for the first batch."""
    from botocore.exceptions import BotoCoreError, ClientError

    env = ws.config.environment
    report = WatchReport(env, queue)
    provider: Any = ws.provider(_target_for(ws, queue))  # an AWS provider: its boto3 clients
    sqs = provider.client("sqs")
    received: list[dict[str, Any]] = []
    events: dict[str, Event] = {}
    junk: list[dict[str, Any]] = []
    sent_at: list[float] = []
    batches = 0
    while max_batches is None or batches < max_batches:
        try:
            reply = sqs.receive_message(
                QueueUrl=queue,
                MaxNumberOfMessages=BATCH,
                WaitTimeSeconds=int(min(20, wait)) if batches == 0 else 0,
                VisibilityTimeout=120,
            )
        except (BotoCoreError, ClientError) as exc:
            raise _queue_trouble(exc, queue, env) from exc
        batches += 1
        messages = reply.get("Messages") or []
        if not messages:
            break
        for message in messages:
            report.messages += 1
            parsed = parse_message(str(message.get("Body") or ""))
            if isinstance(parsed, str):
                logger.warning("drift watch: skipped message %s: %s", message.get("MessageId"), parsed)
                report.skipped.append(f"{message.get('MessageId')}: {parsed}")
                junk.append(message)
                continue
            received.append(message)
            key = parsed.id or str(message.get("MessageId"))
            if key in events:
                report.duplicates += 1
                continue
            events[key] = parsed
            stamp = _event_time(str(message.get("Body")))
            if stamp is not None:
                sent_at.append(stamp)
    report.events = len(events)
    baseline = ws.backend.read_baseline(env)
    names = touched(events.values(), baseline) if baseline is not None else set()
    report.touched = sorted(names)
    try:
        if reconcile_every >= 0 and _reconcile_due(ws, reconcile_every):
            report.drift, _ = detect(ws, settings)
            report.reconciled = True
            report.reads = len(report.drift.checked_names)
        elif names:
            report.drift, report.reads = check(ws, settings, names)
        if record is not None:
            record()
    except DeployForgeError:
        _release(sqs, queue, received + junk)  # not recorded: visible again at once for the next attempt
        raise
    done = time.time()
    report.latencies = [max(0.0, done - t) for t in sent_at]
    report.deleted = _delete(sqs, queue, received + junk)
    return report


def _release(sqs: Any, queue: str, messages: list[dict[str, Any]]) -> None:
    for start in range(0, len(messages), BATCH):
        entries = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for n, m in enumerate(messages[start : start + BATCH])
        ]
        try:
            sqs.change_message_visibility_batch(QueueUrl=queue, Entries=entries)
        except Exception:  # best effort: they reappear after the visibility timeout anyway
            logger.warning("drift watch: could not release %d message(s)", len(entries))


def _delete(sqs: Any, queue: str, messages: list[dict[str, Any]]) -> int:
    deleted = 0
    for start in range(0, len(messages), BATCH):
        entries = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages[start : start + BATCH])
        ]
        reply = sqs.delete_message_batch(QueueUrl=queue, Entries=entries)
        deleted += len(reply.get("Successful") or [])
    return deleted
