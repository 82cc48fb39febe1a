"""Remediation plans (pure) and their execution through the providers.

Three strategies, chosen per drift:

* ``revert``: put the live object back to the baseline (an in-place update of the drifted top-level
  attributes). A DELETED resource is recreated by ``deployforge apply``, not here (dependents hold its
  old id); an attribute that forces replacement is refused with the same hint.
* ``adopt``: accept the live values: a new baseline is written with them (a deleted resource leaves the
  baseline). The config may still declare the old value; the plan says so.
* ``ignore``: an entry in the ignore file, with a reason and an optional expiry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from deployforge.drift.diff import diff_attributes, top_level_keys
from deployforge.drift.model import AttributeDrift, DriftRecord, Remediation, RemediationStep, Status
from deployforge.errors import DeployForgeError, ProviderError, UsageError
from deployforge.providers.base import Provider, ResourceSpec, TypeInfo
from deployforge.state.baseline import Baseline, BaselineResource

STRATEGIES = ("revert", "adopt", "ignore")


def revert_lines(changes: tuple[AttributeDrift, ...]) -> tuple[str, ...]:
    """What a revert does, in the drift's own diff language read backwards (live -> baseline)."""
    return tuple(line.inverted().text for c in changes for line in c.lines)


def plan_revert(record: DriftRecord, info: TypeInfo | None, *, include_ignored: bool = False) -> Remediation:
    changes = record.changes + (record.ignored_changes if include_ignored else ())
    if record.status is not Status.MODIFIED or not changes:
        hint = {
            Status.DELETED: "run `deployforge apply` to recreate it (resources that reference it get the new id)",
            Status.UNMANAGED: "declare it in the config (apply adopts it) or delete it by hand; or ignore it",
            Status.NOT_CHECKED: "it could not be read: fix access and detect again",
        }.get(record.status, "nothing to revert")
        step = RemediationStep("refuse", f"cannot revert {record.resource} ({record.status.value}): {hint}")
        return Remediation(record.id, record.resource, "revert", True, (step,), "refused")
    keys = top_level_keys(changes)
    forced = sorted(keys & info.force_new) if info else []
    if forced:
        step = RemediationStep(
            "refuse",
            f"{', '.join(forced)} of {record.resource} cannot change in place: run `deployforge apply` to replace it",
            tuple(forced),
        )
        return Remediation(record.id, record.resource, "revert", True, (step,), "refused")
    step = RemediationStep(
        "revert",
        f"update {record.type} {record.resource_id} in place to the baseline",
        tuple(sorted(keys)),
        lines=revert_lines(changes),
    )
    return Remediation(record.id, record.resource, "revert", True, (step,), "planned")


def plan_adopt(record: DriftRecord, config_declares: Mapping[str, Any] | None) -> Remediation:
    if record.status is Status.MODIFIED:
        keys = sorted(top_level_keys(record.changes))
        notes: tuple[str, ...] = ()
        declared = sorted(k for k in keys if config_declares and k in config_declares)
        if declared:
            notes = (
                f"the config still declares {', '.join(declared)} of {record.resource}: change deployforge.yaml too, "
                "or the next apply reverts the live value",
            )
        step = RemediationStep(
            "adopt",
            f"write a new baseline holding the live {', '.join(keys)} of {record.resource}",
            tuple(keys),
            lines=record.diff,
        )
        return Remediation(record.id, record.resource, "adopt", True, (step,), "planned", notes)
    if record.status is Status.DELETED:
        step = RemediationStep("adopt", f"write a new baseline without {record.resource}")
        notes = (f"remove {record.resource} from the config too, or the next apply recreates it",)
        return Remediation(record.id, record.resource, "adopt", True, (step,), "planned", notes)
    step = RemediationStep(
        "refuse",
        f"cannot adopt {record.resource} ({record.status.value}): declare it in the config instead",
    )
    return Remediation(record.id, record.resource, "adopt", True, (step,), "refused")


def plan_ignore(record: DriftRecord, reason: str | None, expires: dt.date | None, ignore_path: str) -> Remediation:
    if not reason or not reason.strip():
        raise UsageError("ignoring a drift needs a reason", hint='add --reason "why this drift is accepted"')
    until = f" until {expires.isoformat()}" if expires else " (no expiry)"
    step = RemediationStep("ignore", f"add {record.id} to {ignore_path}{until}: {reason}")
    return Remediation(record.id, record.resource, "ignore", True, (step,), "planned")


def spec_from_baseline(resource: BaselineResource) -> ResourceSpec:
    attributes = dict(resource.attributes)
    tags = attributes.pop("tags", None) or {}
    return ResourceSpec(
        name=resource.name,
        type=resource.type,
        target=resource.target,
        properties=attributes,
        tags={str(k): str(v) for k, v in dict(tags).items()},
    )


def revert(provider: Provider, resource: BaselineResource, keys: frozenset[str]) -> list[str]:
    """Update the live object back to the baseline for ``keys``; returns the paths still different."""
    live = provider.read(resource.type, resource.id)
    if live is None:
        raise ProviderError(
            f"{resource.name}: {resource.id} no longer exists",
            hint="run `deployforge apply` to recreate it",
            resource=resource.name,
            code="NotFound",
        )
    provider.update(spec_from_baseline(resource), live, keys)
    after = provider.read(resource.type, resource.id)
    if after is None:
        return sorted(keys)
    left = diff_attributes(resource.attributes, after.attributes)
    return sorted(c.path for c in left if c.path.split(".", 1)[0] in keys)


def run_revert(plan: Remediation, provider: Provider, resource: BaselineResource) -> Remediation:
    step = plan.steps[0]
    try:
        left = revert(provider, resource, frozenset(step.attributes))
    except DeployForgeError as exc:
        return replace(plan, dry_run=False, steps=(replace(step, error=exc.message),), outcome="failed")
    if left:
        failed = replace(step, error=f"still different after the update: {', '.join(left)}")
        return replace(plan, dry_run=False, steps=(failed,), outcome="failed")
    return replace(plan, dry_run=False, steps=(replace(step, done=True),), outcome="applied")


def adopted_baseline(baseline: Baseline, record: DriftRecord, live: Any, new_id: str, taken_at: str) -> Baseline:
    """A new baseline: ``baseline`` with the record's resource taking its live values (or dropped)."""
    resources = dict(baseline.resources)
    current = resources.get(record.resource)
    if current is not None:
        if live is None:
            del resources[record.resource]
        else:
            resources[record.resource] = replace(current, attributes=dict(live.attributes))
    return replace(baseline, id=new_id, taken_at=taken_at, resources=resources)


def run_ignore(plan: Remediation, record: DriftRecord, path: Path, reason: str, expires: dt.date | None) -> Remediation:
    from deployforge.drift.ignore import append_entry

    try:
        append_entry(path, record, reason, expires)
    except OSError as exc:
        step = replace(plan.steps[0], error=f"cannot write {path}: {exc.strerror}")
        return replace(plan, dry_run=False, steps=(step,), outcome="failed")
    return replace(plan, dry_run=False, steps=(replace(plan.steps[0], done=True),), outcome="applied")
