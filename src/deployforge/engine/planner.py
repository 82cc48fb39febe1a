"""Planning: read live state through the providers, then compute the plan (pure).

``refresh`` does the I/O: every managed object of a type the provider reads in batches is read
that way (one call per batch at the API's largest size), the rest one by one, all in parallel;
``make_plan`` is a pure function of the config, the state document and what
``refresh`` saw, so it is unit-tested and benchmarked without a cloud.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from deployforge.config.refs import contains_unknown, resolve_resource_refs
from deployforge.engine.dag import topological_order
from deployforge.engine.diff import creation_changes, diff_attributes, fingerprint
from deployforge.model.config import Resource
from deployforge.model.plan import Action, AttributeChange, Plan, ResourcePlan
from deployforge.providers.base import LiveResource, Provider, ResourceSpec, TypeInfo, read_batch
from deployforge.secrets.properties import (
    SENSITIVE,
    display,
    display_properties,
    redact_live,
    secret_keys,
    without_secrets,
)
from deployforge.state.base import StateDocument

Normalizer = Callable[[ResourceSpec], Mapping[str, Any]]

# resources of one type per refresh job (the provider splits a job into calls of the API's size)
BATCH_JOB = 1000


@dataclass(frozen=True)
class Observed:
    """What refresh saw for one declared or recorded resource."""

    live: LiveResource | None
    adopted: bool = False  # found by natural key after an interrupted create


def spec_for(resource: Resource, outputs: Mapping[str, Mapping[str, Any]]) -> ResourceSpec:
    return ResourceSpec(
        name=resource.name,
        type=resource.type,
        target=resource.target,
        properties=resolve_resource_refs(dict(resource.properties), outputs),
        tags=dict(resource.tags),
    )


def refresh(
    resources: Mapping[str, Resource],
    state: StateDocument,
    providers: Mapping[str, Provider],
    *,
    parallelism: int = 10,
) -> dict[str, Observed]:
    """Read every object the plan needs to know about. Raises ProviderError on API failures."""
    pending_creates = {p["resource"] for p in state.pending if p.get("action") in ("create", "replace")}
    outputs = {n: e.get("outputs", {}) for n, e in state.resources.items()}

    def recorded_secrets(name: str) -> dict[str, str | None]:
        # secret-valued attributes never reach a fingerprint, a plan, a baseline or state
        declared = secret_keys(resources[name].properties) if name in resources else {}
        recorded: dict[str, str | None] = {k: None for k in declared}
        recorded.update(state.resources[name].get("secrets") or {})
        return recorded

    def read_one(name: str) -> list[tuple[str, Observed]]:
        entry = state.resources.get(name)
        if entry is not None:
            live = providers[entry["target"]].read(entry["type"], entry["id"])
            return [(name, Observed(redact_live(live, recorded_secrets(name))))]
        resource = resources[name]
        declared = secret_keys(resource.properties)
        found = providers[resource.target].lookup(spec_for(resource, outputs))
        return [(name, Observed(redact_live(found, declared), adopted=found is not None))]

    def read_group(target: str, rtype: str, names: list[str]) -> list[tuple[str, Observed]]:
        ids = [state.resources[n]["id"] for n in names]
        found = read_batch(providers[target], rtype, ids)
        if found is None:  # no batch read for this type: one by one (in this worker)
            return [pair for n in names for pair in read_one(n)]
        return [(n, Observed(redact_live(found.get(i), recorded_secrets(n)))) for n, i in zip(names, ids, strict=True)]

    names = list(dict.fromkeys([*resources, *state.resources]))
    seen: dict[str, Observed] = {n: Observed(None) for n in names}
    groups: dict[tuple[str, str], list[str]] = {}
    for name in names:
        entry = state.resources.get(name)
        if entry is not None:
            groups.setdefault((entry["target"], entry["type"]), []).append(name)
    jobs: list[tuple[Callable[..., list[tuple[str, Observed]]], tuple[Any, ...]]] = []
    for (target, rtype), members in groups.items():
        # an empty batch costs no call and says whether the provider reads this type in batches
        batched = len(members) > 1 and read_batch(providers[target], rtype, []) is not None
        if batched:
            for start in range(0, len(members), BATCH_JOB):
                jobs.append((read_group, (target, rtype, members[start : start + BATCH_JOB])))
        else:
            jobs.extend((read_one, (n,)) for n in members)
    jobs.extend((read_one, (n,)) for n in names if n not in state.resources and n in pending_creates)
    if not jobs:
        return seen
    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(jobs)))) as pool:
        for pairs in pool.map(lambda job: job[0](*job[1]), jobs):
            for name, observed in pairs:
                seen[name] = observed
    return seen


def normalized(spec: ResourceSpec, normalize: Normalizer | None) -> Mapping[str, Any]:
    """The spec's properties in the provider's canonical shapes (unchanged while some are unknown)."""
    if normalize is None or contains_unknown(dict(spec.properties)):
        return spec.properties
    return normalize(spec)


def diff_declared(
    spec: ResourceSpec,
    live: Mapping[str, Any],
    info: TypeInfo,
    normalize: Normalizer | None,
    recorded: Mapping[str, str],
) -> tuple[AttributeChange, ...]:
    """The changes from ``live`` to ``spec``. A secret-valued property (a ``vault://`` reference) is
    compared by its reference, against the signature ``recorded`` in state when it was last applied;
    its value is never read, and the plan shows ``(sensitive) -> (secret: vault://...)``."""
    secrets = secret_keys(spec.properties)
    if not secrets:
        return diff_attributes(normalized(spec, normalize), spec.tags, live, info)
    plain = replace(spec, properties=without_secrets(spec.properties))
    changes = list(diff_attributes(normalized(plain, normalize), spec.tags, live, info))
    for key, sig in secrets.items():
        if key in info.computed or recorded.get(key) == sig:
            continue
        before = SENSITIVE if live.get(key) is not None else None
        changes.append(AttributeChange(key, before, display(spec.properties[key]), key in info.force_new))
    order = {k: i for i, k in enumerate(spec.properties)}
    return tuple(sorted(changes, key=lambda c: order.get(c.key, len(order))))


def make_plan(
    resources: Mapping[str, Resource],
    state: StateDocument,
    observed: Mapping[str, Observed],
    type_info: Callable[[str], TypeInfo],
    *,
    environment: str,
    config_hash: str,
    run_id: str = "",
    normalize: Normalizer | None = None,
) -> Plan:
    """``normalize(spec)`` (the provider's ``normalize``) puts declared values in the shapes ``read``
    reports, so that, e.g., the order of security group rules never shows as a change."""
    order = topological_order({n: r.depends_on for n, r in resources.items()})
    known_outputs: dict[str, Mapping[str, Any]] = {}
    planned: list[ResourcePlan] = []
    for name in order:
        resource = resources[name]
        info = type_info(resource.type)
        seen = observed.get(name, Observed(None))
        live = seen.live
        entry = state.resources.get(name)
        spec = spec_for(resource, known_outputs)
        note = None
        if live is None:
            action = Action.CREATE
            changes = creation_changes(display_properties(spec.properties), spec.tags)
            interrupted = next((p for p in state.pending if p.get("resource") == name), None)
            if entry is not None and interrupted is not None:
                note = (
                    f"an interrupted {interrupted.get('action', 'operation')} (run {interrupted.get('run_id', '?')}) "
                    "left it deleted; it will be created again"
                )
            elif entry is not None:
                note = "it was deleted outside DeployForge; it will be created again"
        else:
            recorded = (entry or {}).get("secrets") or {}
            changes = diff_declared(spec, live.attributes, info, normalize, recorded)
            if entry is not None and entry.get("type") != resource.type:
                action = Action.REPLACE
                note = f"type changed from {entry.get('type')}"
            elif any(c.forces_replacement for c in changes):
                action = Action.REPLACE
            elif changes:
                action = Action.UPDATE
            else:
                action = Action.NOOP
            if seen.adopted:
                note = "found in the cloud after an interrupted apply; adopted into state"
            if action in (Action.NOOP, Action.UPDATE):
                known_outputs[name] = live.outputs or (entry or {}).get("outputs", {})
        planned.append(
            ResourcePlan(
                name=name,
                type=resource.type,
                target=resource.target,
                action=action,
                changes=changes,
                resource_id=live.id if live is not None else None,
                depends_on=resource.depends_on,
                live_fingerprint=fingerprint(live.attributes if live else None),
                note=note,
            )
        )
    # objects recorded in state but no longer declared: delete, dependents first
    orphans = {n: e for n, e in state.resources.items() if n not in resources}
    if orphans:
        reverse: dict[str, list[str]] = {n: [] for n in orphans}
        for n, e in orphans.items():
            for dep in e.get("depends_on", ()):
                if dep in reverse:
                    reverse[dep].append(n)
        for name in topological_order(reverse):
            entry = orphans[name]
            live = observed.get(name, Observed(None)).live
            planned.append(
                ResourcePlan(
                    name=name,
                    type=entry["type"],
                    target=entry["target"],
                    action=Action.DELETE if live is not None else Action.NOOP,
                    resource_id=entry.get("id"),
                    depends_on=tuple(entry.get("depends_on", ())),
                    live_fingerprint=fingerprint(live.attributes if live else None),
                    note=None if live is not None else "already gone from the cloud; removed from state",
                )
            )
    return Plan(
        environment=environment,
        config_hash=config_hash,
        state_serial=state.serial,
        state_lineage=state.lineage,
        resources=tuple(planned),
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        run_id=run_id,
    )
