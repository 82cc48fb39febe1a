"""Classify drift as security-critical, performance-impacting or informational, with the reason (pure).

Built-in rules, by attribute path (first match wins):

* ``tags.*``, ``description``                                   -> informational
* IAM, policies, roles, security group rules, CIDRs, ACLs, public access, encryption, KMS, TLS
                                                                -> security-critical
* capacity and sizes, instance type, memory, CPU, IOPS, launch template, health checks, thresholds
                                                                -> performance-impacting
* anything else                                                 -> informational

A record takes the highest level of its attributes. Deletion raises the level by one (a deleted
security group or IAM object is security-critical); a production environment (one with
``require_confirmation``/``protected``, or named prod/production) raises informational drift to
performance-impacting (never into security-critical: that level stays reserved for access and
protection settings, which self-healing never reverts without an explicit rule). Users extend or override the result
with Rego (``deployforge.drift.rego``): a rule that answers replaces the built-in classification.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from deployforge.drift.model import AttributeDrift, Classification, DriftRecord, Severity, Status

_INFORMATIONAL = re.compile(r"^(tags|labels|description|name_prefix)(\.|$)")
_SECURITY = re.compile(
    r"(^|[._])(iam|policy|policies|role|roles|ingress|egress|security_group|security_groups|"
    r"security_group_ids|cidr|cidr_blocks|acl|acls|public|public_access_block|block_public_acls|"
    r"block_public_policy|ignore_public_acls|restrict_public_buckets|encryption|encrypted|kms|kms_key_id|"
    r"sse|sse_algorithm|ssl|tls|principal|principals|permissions|assume_role_policy)([._]|$)"
)
_PERFORMANCE = re.compile(
    r"(^|[._])(desired_capacity|min_size|max_size|capacity|instance_type|instance_types|memory|memory_size|"
    r"cpu|vcpus|size|allocated_storage|iops|throughput|concurrency|reserved_concurrency|launch_template|"
    r"health_check_type|health_check_grace_period|threshold|period|evaluation_periods|timeout|version)([._]|$)"
)
_SECURITY_TYPES = ("aws_security_group", "aws_iam_", "aws_kms_")
_PRODUCTION_NAMES = frozenset({"prod", "production", "prd", "live"})

Override = Callable[[DriftRecord, Classification, bool], Classification | None]


def classify_path(path: str) -> tuple[Severity, str]:
    if _INFORMATIONAL.search(path):
        return Severity.INFORMATIONAL, f"{path}: metadata only"
    if _SECURITY.search(path):
        return Severity.SECURITY, f"{path}: access or protection setting"
    if _PERFORMANCE.search(path):
        return Severity.PERFORMANCE, f"{path}: capacity or sizing"
    return Severity.INFORMATIONAL, f"{path}: no built-in rule marks it as security or performance"


def is_production(environment: str, require_confirmation: bool) -> bool:
    return require_confirmation or environment.lower() in _PRODUCTION_NAMES


_OPEN = ("0.0.0.0/0", "::/0")


def unmanaged(rtype: str, live: Mapping[str, Any] | None) -> tuple[Severity, str]:
    """An object nobody declared: security-critical when it opens access (a security group that admits
    the internet, a bucket without a full public access block), else informational."""
    from deployforge.drift.structural import change_lines

    attributes = live or {}
    if rtype == "aws_security_group":
        opened = [
            line.text[2:]
            for line in change_lines("ingress", None, attributes.get("ingress") or [])
            if line.item and line.item.split(" from ", 1)[-1] in _OPEN
        ]
        if opened:
            return Severity.SECURITY, f"unmanaged security group open to the internet: {', '.join(opened)}"
    if rtype == "aws_s3_bucket" and live is not None:
        block = attributes.get("public_access_block")
        if not isinstance(block, Mapping) or not block or not all(block.values()):
            return Severity.SECURITY, "unmanaged bucket without a full public access block"
    return Severity.INFORMATIONAL, f"{rtype} exists but nobody declared it"


def builtin(
    status: Status,
    rtype: str,
    changes: tuple[AttributeDrift, ...],
    *,
    production: bool,
    live: Mapping[str, Any] | None = None,
) -> Classification | None:
    """The built-in classification (None for NOT_CHECKED: nobody knows what changed)."""
    if status is Status.NOT_CHECKED:
        return None
    if status is Status.MODIFIED and changes:
        ranked = [classify_path(c.path) for c in changes]
        severity = max((s for s, _ in ranked), key=lambda s: s.rank)
        reason = next(r for s, r in ranked if s is severity)
        others = sum(1 for s, _ in ranked if s is severity) - 1
        if others:
            reason += f" (and {others} more)"
    elif status is Status.DELETED:
        if rtype.startswith(_SECURITY_TYPES):
            severity, reason = Severity.SECURITY, f"{rtype} deleted: access rules are gone"
        else:
            severity, reason = Severity.PERFORMANCE, f"{rtype} deleted outside the pipeline"
    else:  # UNMANAGED
        severity, reason = unmanaged(rtype, live)
    if production and severity is Severity.INFORMATIONAL:
        severity, reason = severity.raised(), reason + "; raised: production environment"
    return Classification(severity, reason)


def classify(record: DriftRecord, *, production: bool, override: Override | None = None) -> DriftRecord:
    """``record`` with its severity and reason set (built-in, then the user's Rego rules)."""
    from dataclasses import replace

    result = builtin(record.status, record.type, record.changes, production=production, live=record.live)
    if result is not None and override is not None:
        custom = override(record, result, production)
        if custom is not None:
            result = custom
    if result is None:
        return replace(record, severity=None, reason=record.error or "could not be read")
    return replace(record, severity=result.severity, reason=result.reason)


def rego_input(record: DriftRecord, builtin_result: Classification, production: bool) -> dict[str, Any]:
    """What a Rego classification rule sees as ``input``."""
    return {
        "drift": record.to_json(),
        "builtin": {"severity": builtin_result.severity.value, "reason": builtin_result.reason},
        "production": production,
    }
