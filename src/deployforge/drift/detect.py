"""Detection: read live state through the providers and compare it with the latest baseline.

``read_live`` is the adapter half: one batched listing per (target, resource type) — the provider's
``list``, which follows every page at the largest page size the API allows — run in parallel. When a
listing is refused (access denied, throttled past retries) it falls back to reading each baseline
resource on its own; a resource that still cannot be read is NOT_CHECKED, never in sync.

``build_report`` is the pure half: attribute diff, ids, classification, ignore file, first/last seen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from deployforge.drift.classify import Override, classify
from deployforge.drift.diff import diff_attributes
from deployforge.drift.ids import assign_ids
from deployforge.drift.ignore import IgnoreFile
from deployforge.drift.model import DriftRecord, DriftReport, Scope, Severity, Status
from deployforge.errors import EndpointUnreachableError, ProviderError
from deployforge.providers.base import LiveResource, Provider
from deployforge.state.baseline import Baseline

# Provider error codes that mean "this could not be read", as opposed to a broken setup.
UNREADABLE_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "Forbidden",
        "403",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "SlowDown",
        "TooManyRequestsException",
        "ReadTimeout",
        "UnparsableResponse",
    }
)


@dataclass(frozen=True)
class Unreadable:
    """A baseline resource that could not be read, and why."""

    error: str


Observed = LiveResource | None | Unreadable


@dataclass
class LiveView:
    """What ``read_live`` saw: per baseline resource, and the in-scope objects nobody declared."""

    observed: dict[str, Observed] = field(default_factory=dict)
    unmanaged: list[tuple[str, LiveResource]] = field(default_factory=list)  # (target, object)
    warnings: list[str] = field(default_factory=list)


def read_live(
    baseline: Baseline,
    providers: Mapping[str, Provider],
    *,
    managed_ids: Mapping[tuple[str, str], set[str]] | None = None,
    extra_scope: Iterable[tuple[str, str]] = (),
    scope: Scope | None = None,
    parallelism: int = 10,
) -> LiveView:
    """Read every baseline resource (and, for UNMANAGED, every object of the same types and targets)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name, resource in baseline.resources.items():
        groups.setdefault((resource.target, resource.type), []).append(name)
    for key in extra_scope:
        groups.setdefault(key, [])
    known: dict[tuple[str, str], set[str]] = {k: set(v) for k, v in (managed_ids or {}).items()}
    for resource in baseline.resources.values():
        known.setdefault((resource.target, resource.type), set()).add(resource.id)
    view = LiveView()
    scope = scope or Scope()

    def one(key: tuple[str, str]) -> tuple[dict[str, Observed], list[tuple[str, LiveResource]], list[str]]:
        target, rtype = key
        names = groups[key]
        provider = providers[target]
        observed: dict[str, Observed] = {}
        try:
            listed = {live.id: live for live in provider.list(rtype)}
        except EndpointUnreachableError:
            raise
        except ProviderError as exc:
            if exc.code not in UNREADABLE_CODES:
                raise
            warnings = [f"{target}: listing {rtype} failed ({exc.code}); read each resource instead"]
            for name in names:
                observed[name] = read_one(provider, rtype, baseline.resources[name].id)
            return observed, [], warnings
        for name in names:
            observed[name] = listed.get(baseline.resources[name].id)
        ours = known.get(key, set())
        unmanaged = []
        if scope.unmanaged:
            for ident, live in listed.items():
                if ident in ours:
                    continue
                label = str(live.attributes.get("name") or ident)
                if label in scope.skip_names:
                    continue
                unmanaged.append((target, live))
        return observed, unmanaged, []

    keys = sorted(groups)
    if not keys:
        return view
    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(keys)))) as pool:
        for observed, unmanaged, warnings in pool.map(one, keys):
            view.observed.update(observed)
            view.unmanaged.extend(unmanaged)
            view.warnings.extend(warnings)
    return view


def read_one(provider: Provider, rtype: str, resource_id: str) -> Observed:
    try:
        return provider.read(rtype, resource_id)
    except EndpointUnreachableError:
        raise
    except ProviderError as exc:
        if exc.code not in UNREADABLE_CODES:
            raise
        return Unreadable(exc.message)


def build_report(
    *,
    environment: str,
    baseline: Baseline,
    view: LiveView,
    production: bool,
    ignore: IgnoreFile | None = None,
    override: Override | None = None,
    history: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
    fail_on: Severity = Severity.INFORMATIONAL,
) -> DriftReport:
    """The drift report (pure): every MODIFIED / DELETED / UNMANAGED / NOT_CHECKED record, classified."""
    moment = now or dt.datetime.now(dt.UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    today = moment.date()
    history = history or {}
    raw: list[DriftRecord] = []
    checked: list[str] = []
    for name in sorted(baseline.resources):
        base = baseline.resources[name]
        seen = view.observed.get(name, Unreadable("not read"))
        common: dict[str, Any] = dict(environment=environment, resource=name, type=base.type, target=base.target, id="")
        if isinstance(seen, Unreadable):
            raw.append(DriftRecord(resource_id=base.id, status=Status.NOT_CHECKED, error=seen.error, **common))
            continue
        checked.append(name)
        if seen is None:
            raw.append(DriftRecord(resource_id=base.id, status=Status.DELETED, **common))
            continue
        changes = diff_attributes(base.attributes, seen.attributes)
        if changes:
            raw.append(DriftRecord(resource_id=base.id, status=Status.MODIFIED, changes=changes, **common))
    for target, live in sorted(view.unmanaged, key=lambda item: (item[1].type, item[0], item[1].id)):
        raw.append(
            DriftRecord(
                environment=environment,
                resource=f"{live.type}:{live.id}",
                type=live.type,
                target=target,
                resource_id=live.id,
                status=Status.UNMANAGED,
                id="",
                live=dict(live.attributes),  # what it is decides how serious it is (an open security group)
            )
        )
    keys = [(r.resource, _id_paths(r)) for r in raw]
    ids = assign_ids(environment, keys)
    warnings = list(view.warnings)
    records = []
    for record, ident in zip(raw, ids, strict=True):
        first = history.get(ident, stamp)
        record = replace(record, id=ident, first_seen=first, last_seen=stamp)
        if ignore is not None:
            record, notes = ignore.apply(record, today)
            warnings.extend(notes)
        records.append(classify(record, production=production, override=override))
    records.sort(key=_order)
    return DriftReport(
        environment=environment,
        baseline_id=baseline.id,
        baseline_taken_at=baseline.taken_at,
        checked_at=stamp,
        records=tuple(records),
        resources_checked=len(checked),
        checked_names=tuple(checked),
        warnings=tuple(dict.fromkeys(warnings)),
        fail_on=fail_on,
    )


def _id_paths(record: DriftRecord) -> tuple[str, ...]:
    if record.status is Status.MODIFIED:
        return tuple(sorted(c.path for c in record.changes))
    return (f"({record.status.value.lower()})",)


def _order(record: DriftRecord) -> tuple[int, int, str]:
    rank = record.severity.rank if record.severity else 4
    return (0 if record.active or record.status is Status.NOT_CHECKED else 1, -rank, record.resource)


# -- the register: when each drift was first seen ------------------------------------------------
#
# Stored by the state backend (``read_drift_register`` / ``write_drift_register``): locally beside the
# baselines, on S3 beside the state, so a scheduled job on a new runner each time keeps first-seen
# times. Document: {"environment", "checked_at", "baseline_id",
#                   "records": {DRIFT_ID: {"resource", "status", "first_seen"}}}


def register_history(data: Mapping[str, Any] | None) -> dict[str, str]:
    """First-seen time per drift id, from a register document (anything malformed counts as absent)."""
    records = data.get("records") if isinstance(data, Mapping) else None
    if not isinstance(records, Mapping):
        return {}
    return {str(k): str(v["first_seen"]) for k, v in records.items() if isinstance(v, Mapping) and v.get("first_seen")}


def register_document(report: DriftReport) -> dict[str, Any]:
    """The register document recording ``report``'s drifts (drifts no longer seen are dropped)."""
    return {
        "environment": report.environment,
        "checked_at": report.checked_at,
        "baseline_id": report.baseline_id,
        "records": {
            r.id: {"resource": r.resource, "status": r.status.value, "first_seen": r.first_seen} for r in report.records
        },
    }
