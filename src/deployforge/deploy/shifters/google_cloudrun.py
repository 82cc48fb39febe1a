"""Cloud Run traffic shifter (Admin API v2): split a service's traffic between two revisions.

Settings (``deploy.shifter``): ``service`` (required), ``region`` / ``project`` (default: the
target's), ``canary_revision`` (default: the service's ``latestReadyRevision``),
``stable_revision`` (default: the revision that serves the most traffic now, other than the
canary), ``timeout`` seconds to wait for a change to reconcile (default 300).

A change PATCHes the service's ``traffic`` (with its ``etag``, so a concurrent change is refused
rather than overwritten), polls the long-running operation until ``done``, then polls the service
until it is no longer ``reconciling`` and ``observedGeneration`` caught up, and reads the split
back from ``trafficStatuses``. ``promote()`` sends 100% to the canary revision, which the next
deploy sees as stable.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from deployforge.deploy.shifters.base import (
    ShifterContext,
    ShifterNotFoundError,
    ShiftVerificationError,
    Weights,
    check_readback,
)
from deployforge.errors import ProviderError
from deployforge.providers.google.errors import GoogleApiError

REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"


def validate_settings(settings: Mapping[str, Any]) -> list[str]:
    problems = []
    if not settings.get("service"):
        problems.append("cloud_run_service needs service: (the Cloud Run service name)")
    for key in ("canary_revision", "stable_revision", "region", "project"):
        if key in settings and not isinstance(settings[key], str):
            problems.append(f"cloud_run_service: {key} must be a string")
    if settings.get("canary_revision") and settings.get("canary_revision") == settings.get("stable_revision"):
        problems.append("cloud_run_service: canary_revision and stable_revision must differ")
    return problems


class CloudRunShifter:
    kind = "cloud_run_service"

    def __init__(self, settings: Mapping[str, Any], context: ShifterContext):
        self.provider = context.provider
        self.service = str(settings["service"])
        self.project = str(settings.get("project") or self.provider.project or "")
        self.region = str(settings.get("region") or self.provider.region)
        self.canary_revision = settings.get("canary_revision") or None
        self.stable_revision = settings.get("stable_revision") or None
        self.timeout = float(settings.get("timeout") or 300)
        self.poll_interval = float(settings.get("poll_interval") or 0.5)
        self.description = f"Cloud Run service {self.service} ({self.project}/{self.region})"
        self._path = f"/v2/projects/{quote(self.project)}/locations/{quote(self.region)}/services/{quote(self.service)}"

    # -- reading --------------------------------------------------------------------------------

    def _get(self) -> dict[str, Any]:
        got = self.provider.request("run", "GET", self._path, what=self.description, not_found_ok=True)
        if got is None:
            raise ShifterNotFoundError(
                f"{self.description} does not exist",
                hint="deploy the service first, or fix deploy.shifter.service / region / project",
            )
        return dict(got)

    def _revisions(self, service: Mapping[str, Any]) -> tuple[str, str]:
        canary = self.canary_revision or service.get("latestReadyRevision", "").rsplit("/", 1)[-1]
        stable = self.stable_revision
        if not stable:
            split = _split(service.get("trafficStatuses") or service.get("traffic") or [], service)
            others = sorted(((p, r) for r, p in split.items() if r != canary), reverse=True)
            stable = others[0][1] if others else None
        if not canary or not stable:
            raise ShifterNotFoundError(
                f"{self.description}: cannot tell the stable and the canary revisions apart "
                f"(canary {canary or '?'}, stable {stable or '?'})",
                hint="deploy the new revision with --no-traffic, or set canary_revision / stable_revision",
            )
        return stable, canary

    def _weights(self, service: Mapping[str, Any]) -> Weights:
        stable, canary = self._revisions(service)
        split = _split(service.get("trafficStatuses") or [], service)
        return Weights(
            stable=round(split.get(stable, 0)),
            canary=round(split.get(canary, 0)),
            detail=dict(split),
            revision=service.get("etag"),
        )

    # -- the contract ---------------------------------------------------------------------------

    def preflight(self) -> None:
        service = self._get()
        stable, canary = self._revisions(service)
        known = {r.rsplit("/", 1)[-1] for r in _known_revisions(service)}
        for rev in (stable, canary):
            if known and rev not in known:
                raise ShifterNotFoundError(
                    f"{self.description}: revision {rev} not found (known: {', '.join(sorted(known))})"
                )
        self.stable_revision, self.canary_revision = stable, canary

    def current(self) -> Weights:
        return self._weights(self._get())

    def set_canary_weight(self, percent: int) -> Weights:
        if not 0 <= percent <= 100:
            raise ProviderError(f"canary weight must be 0..100, not {percent}")
        service = self._get()
        stable, canary = self._revisions(service)
        traffic = []
        if 100 - percent:
            traffic.append({"type": REVISION, "revision": stable, "percent": 100 - percent})
        if percent:
            traffic.append({"type": REVISION, "revision": canary, "percent": percent})
        body = {"traffic": traffic, "etag": service.get("etag")}
        try:
            operation = self.provider.request(
                "run",
                "PATCH",
                self._path,
                what=f"{self.description}: setting traffic",
                json_body=body,
                params={"updateMask": "traffic"},
            )
        except GoogleApiError as exc:
            if exc.status in (409, 412):
                raise ShiftVerificationError(
                    f"{self.description}: the service changed while setting traffic ({exc.message})",
                    hint="something else is deploying this service; retry when it is done",
                    code="Conflict",
                ) from None
            raise
        self._wait_operation(operation)
        got = self._wait_reconciled()
        return check_readback(self, percent, got)

    def promote(self) -> Weights:
        got = self.set_canary_weight(100)
        return got

    def rollback(self) -> Weights:
        return self.set_canary_weight(0)

    # -- waiting --------------------------------------------------------------------------------

    def _wait_operation(self, operation: Mapping[str, Any]) -> None:
        deadline = time.monotonic() + self.timeout
        name = operation.get("name")
        while not operation.get("done"):
            if not name:
                return
            if time.monotonic() > deadline:
                raise ProviderError(f"{self.description}: operation {name} not done after {self.timeout:g}s")
            time.sleep(self.poll_interval)
            operation = self.provider.request("run", "GET", f"/v2/{name}", what=f"{self.description}: operation")
        if operation.get("error"):
            error = operation["error"]
            raise ProviderError(f"{self.description}: the traffic change failed: {error.get('message', error)}")

    def _wait_reconciled(self) -> Weights:
        deadline = time.monotonic() + self.timeout
        while True:
            service = self._get()
            done = not service.get("reconciling") and int(service.get("observedGeneration") or 0) >= int(
                service.get("generation") or 0
            )
            if done:
                return self._weights(service)
            if time.monotonic() > deadline:
                raise ProviderError(f"{self.description}: still reconciling after {self.timeout:g}s")
            time.sleep(self.poll_interval)


def _known_revisions(service: Mapping[str, Any]) -> set[str]:
    names = {str(t.get("revision")) for t in service.get("traffic") or () if t.get("revision")}
    names |= {str(t.get("revision")) for t in service.get("trafficStatuses") or () if t.get("revision")}
    for key in ("latestReadyRevision", "latestCreatedRevision"):
        if service.get(key):
            names.add(str(service[key]))
    return names


def _split(entries: Any, service: Mapping[str, Any]) -> dict[str, float]:
    latest = str(service.get("latestReadyRevision") or "").rsplit("/", 1)[-1]
    split: dict[str, float] = {}
    for entry in entries:
        rev = entry.get("revision") or (latest if entry.get("type") == LATEST else None)
        if rev:
            rev = str(rev).rsplit("/", 1)[-1]
            split[rev] = split.get(rev, 0) + float(entry.get("percent") or 0)
    return split


def cloud_run_shifter(settings: Mapping[str, Any], context: ShifterContext) -> CloudRunShifter:
    return CloudRunShifter(settings, context)
