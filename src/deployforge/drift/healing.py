"""Self-healing rules (``self_healing_rules:`` in the config): impact analysis (pure) and actions.

The flow for one drift: detection -> impact analysis -> safe repair (rolling_restart / reapply /
rollback) -> notify -> audit record for each step. Impact analysis decides, purely:

* ``no-rule``: no rule covers the resource type (and environment, and severity);
* ``within-tolerance``: the deviation is at most ``max_deviation`` (nothing is repaired);
* ``blocked``: security-critical drift without ``allow_security_critical: true``, or a production
  environment without confirmation (``--yes``) or ``auto_approve: true``;
* ``heal``: the rule's repair actions run.

Deviation: for numeric attributes ``|actual - expected| / |expected|`` in percent (an ASG's desired
capacity 4 -> 5 is 25%); any other changed attribute, a deletion or an unmanaged object is 100%.

Actions: ``reapply`` reverts the drifted attributes in place; ``rollback`` restores the resource to the
baseline snapshot, including attributes the ignore file hides; ``rolling_restart`` (Auto Scaling
groups) restores capacity, then replaces the instances one at a time keeping capacity;
``notify_slack`` posts the summary to the ``channel`` (always last, so it carries the outcome; a
failed post is reported, never fatal).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from deployforge.drift.model import DriftRecord, Severity, Status

ACTIONS = ("rolling_restart", "reapply", "rollback", "notify_slack")
REPAIRS = ("rolling_restart", "reapply", "rollback")


@dataclass(frozen=True)
class HealingAction:
    type: str
    channel: str | None = None
    webhook_url: Any = None  # a string, or a vault:// SecretRef resolved when used
    message: str | None = None


@dataclass(frozen=True)
class HealingRule:
    resource_type: str
    actions: tuple[HealingAction, ...]
    max_deviation: float | None = None  # percent
    severity: Severity | None = None
    environments: tuple[str, ...] = ()
    auto_approve: bool = False
    allow_security_critical: bool = False
    index: int = 0

    def matches(self, record: DriftRecord) -> bool:
        from deployforge.providers.registry import canonical_type

        if canonical_type(self.resource_type) != canonical_type(record.type) and self.resource_type != "*":
            return False
        if self.environments and record.environment not in self.environments:
            return False
        return self.severity is None or self.severity is record.severity


@dataclass(frozen=True)
class Decision:
    outcome: str  # no-rule | within-tolerance | blocked | heal
    reason: str
    rule: HealingRule | None = None
    deviation: float | None = None


def parse_percent(value: Any) -> float | None:
    if value is None:
        return None
    text = str(value).strip().rstrip("%")
    return float(text)


def rules_from_config(raw: Iterable[Mapping[str, Any]]) -> tuple[HealingRule, ...]:
    """Typed rules from the validated config section (the schema already refused bad values)."""
    rules = []
    for index, item in enumerate(raw):
        actions = tuple(
            HealingAction(
                type=str(a["type"]),
                channel=a.get("channel"),
                webhook_url=a.get("webhook_url"),
                message=a.get("message"),
            )
            for a in item.get("actions", ())
        )
        rules.append(
            HealingRule(
                resource_type=str(item["resource_type"]),
                actions=actions,
                max_deviation=parse_percent(item.get("max_deviation")),
                severity=Severity.parse(item["severity"]) if item.get("severity") else None,
                environments=tuple(item.get("environments") or ()),
                auto_approve=bool(item.get("auto_approve", False)),
                allow_security_critical=bool(item.get("allow_security_critical", False)),
                index=index,
            )
        )
    return tuple(rules)


def deviation(record: DriftRecord) -> float:
    """How far live is from the baseline, in percent (see the module docstring)."""
    if record.status is not Status.MODIFIED or not record.changes:
        return 100.0
    worst = 0.0
    for change in record.changes:
        expected, actual = change.expected, change.actual
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (expected, actual))
        if not numeric:
            worst = max(worst, 100.0)
        elif expected == 0:
            worst = max(worst, 0.0 if actual == 0 else 100.0)
        else:
            worst = max(worst, abs(float(actual) - float(expected)) / abs(float(expected)) * 100.0)
    return worst


def analyze(record: DriftRecord, rules: Iterable[HealingRule], *, production: bool, confirmed: bool) -> Decision:
    """Impact analysis for one drift (pure)."""
    rule = next((r for r in rules if r.matches(record)), None)
    if rule is None:
        return Decision("no-rule", f"no self_healing_rules entry covers {record.type} in {record.environment}")
    if not record.active:
        why = "it is ignored" if record.ignored else "it could not be read"
        return Decision("blocked", f"{record.id} is not repaired: {why}", rule)
    dev = deviation(record)
    if rule.max_deviation is not None and dev <= rule.max_deviation:
        return Decision(
            "within-tolerance",
            f"deviation {dev:.1f}% is within max_deviation {rule.max_deviation:g}%: nothing to repair",
            rule,
            dev,
        )
    limit = f" (max_deviation {rule.max_deviation:g}%)" if rule.max_deviation is not None else ""
    if record.severity is Severity.SECURITY and not rule.allow_security_critical:
        return Decision(
            "blocked",
            "security-critical drift is never reverted automatically: review it and run "
            f"`deployforge drift remediate --drift-id={record.id}` (or set allow_security_critical: true)",
            rule,
            dev,
        )
    if production and not (rule.auto_approve or confirmed):
        return Decision(
            "blocked",
            f"{record.environment} is a production environment: confirm with --yes, or set auto_approve: true "
            "on the rule",
            rule,
            dev,
        )
    return Decision("heal", f"deviation {dev:.1f}%{limit}: repairing", rule, dev)


def summary_lines(record: DriftRecord, outcome: str, detail: str) -> list[str]:
    lines = [
        f"*{record.id}* `{record.resource}` ({record.type}) — {record.status.value}, "
        f"{record.severity.value if record.severity else 'unknown'}",
        f"Reason: {record.reason}",
    ]
    diff = record.diff
    if diff:  # the same diff lines as drift show, in full; Slack's size limit folds whole lines only
        lines.append("```")
        lines += [line.replace("```", "`\u200b``") for line in diff]
        lines.append("```")
    lines.append(f"Outcome: *{outcome}* — {detail}")
    return lines
