"""Apply a plan: walk the dependency DAG in parallel, record every step in state.

* Creates, updates and replacements run in dependency order with at most
  ``parallelism`` operations at once; a failed resource marks everything that
  depends on it SKIPPED while independent branches finish.
* Deletes run afterwards, dependents first, and only if nothing failed.
* State is written after every operation, with the operation journalled in
  ``pending`` before the cloud is called: killed at any moment, the state
  records exactly what was done, and the next plan reconciles the one
  operation that may have been in flight.
* ``cancel`` (set by SIGINT/SIGTERM) stops new operations from starting; the
  ones in flight finish and are recorded, the rest are SKIPPED.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

from deployforge.engine.dag import dependents_closure
from deployforge.engine.planner import diff_declared, spec_for
from deployforge.errors import DeployForgeError, ReferenceResolutionError
from deployforge.model.config import Resource
from deployforge.model.plan import Action, ApplyResult, Outcome, Plan, ResourcePlan, ResourceResult
from deployforge.providers.base import LiveResource, Provider, ResourceSpec
from deployforge.secrets.properties import redact_attributes, secret_keys
from deployforge.state.base import StateBackend, StateDocument

EventSink = Callable[[str, ResourcePlan, "ResourceResult | None"], None]
# gives the spec with its vault:// references replaced by their values (and registered for masking)
SecretResolver = Callable[[ResourceSpec], ResourceSpec]


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Applier:
    def __init__(
        self,
        *,
        plan: Plan,
        resources: Mapping[str, Resource],
        providers: Mapping[str, Provider],
        backend: StateBackend,
        state: StateDocument,
        run_id: str,
        parallelism: int = 10,
        cancel: threading.Event | None = None,
        on_event: EventSink | None = None,
        resolve_secrets: SecretResolver | None = None,
    ):
        self.plan = plan
        self.resources = resources
        self.providers = providers
        self.backend = backend
        self.state = state
        self.run_id = run_id
        self.parallelism = max(1, parallelism)
        self.cancel = cancel or threading.Event()
        self.on_event = on_event or (lambda kind, rp, res: None)
        self.resolve_secrets = resolve_secrets
        self._lock = threading.Lock()

    # -- state bookkeeping (always under self._lock) ---------------------
    def _save(self) -> None:
        self.state.serial += 1
        self.state.updated_at = _utc()
        self.state.run_id = self.run_id
        self.backend.write(self.state)

    def _journal(self, rp: ResourcePlan) -> None:
        with self._lock:
            self.state.pending.append(
                {"resource": rp.name, "action": rp.action.value, "run_id": self.run_id, "started_at": _utc()}
            )
            self._save()

    def _finish(self, rp: ResourcePlan, live: LiveResource | None, secrets: dict[str, str] | None = None) -> None:
        """Record the outcome. ``secrets``: the resource's secret-valued properties (property ->
        reference signature); their live values are stored as markers, never as values."""
        with self._lock:
            self.state.pending = [p for p in self.state.pending if p.get("resource") != rp.name]
            if live is None:
                self.state.resources.pop(rp.name, None)
            else:
                self.state.resources[rp.name] = {
                    "type": live.type,
                    "target": rp.target,
                    "id": live.id,
                    "attributes": redact_attributes(live.attributes, secrets or {}),
                    "outputs": dict(live.outputs),
                    "depends_on": list(rp.depends_on),
                    "run_id": self.run_id,
                }
                if secrets:
                    self.state.resources[rp.name]["secrets"] = dict(secrets)
            self._save()

    def _outputs(self) -> dict[str, Mapping[str, Any]]:
        with self._lock:
            return {n: e.get("outputs", {}) for n, e in self.state.resources.items()}

    # -- one resource -----------------------------------------------------
    def _execute(self, rp: ResourcePlan) -> ResourceResult:
        started = time.monotonic()
        self.on_event("start", rp, None)
        provider = self.providers[rp.target]
        try:
            if rp.action is Action.DELETE:
                self._journal(rp)
                provider.delete(rp.type, rp.resource_id or "")
                self._finish(rp, None)
                result_id = rp.resource_id
            elif rp.action is Action.NOOP and rp.name not in self.resources:  # undeclared and already gone
                self._finish(rp, None)
                result_id = rp.resource_id
            else:
                resource = self.resources[rp.name]
                spec = spec_for(resource, self._outputs())
                action = rp.action
                live: LiveResource | None = None
                if rp.resource_id is not None and action is not Action.CREATE:
                    live = provider.read(rp.type, rp.resource_id)
                elif action is Action.CREATE and rp.resource_id is not None:
                    live = provider.read(rp.type, rp.resource_id)  # adopted after an interrupted create
                changes: frozenset[str] = frozenset()
                secrets = secret_keys(spec.properties)
                if live is not None:
                    with self._lock:
                        recorded = dict((self.state.resources.get(rp.name) or {}).get("secrets") or {})
                    diff = diff_declared(
                        spec,
                        live.attributes,
                        provider.type_info(rp.type),
                        lambda sp: provider.normalize(sp.type, sp.properties),
                        recorded,
                    )
                    changes = frozenset(c.key for c in diff)
                    if any(c.forces_replacement for c in diff):
                        action = Action.REPLACE
                    elif action is Action.CREATE:
                        action = Action.UPDATE if changes else Action.NOOP
                elif action in (Action.UPDATE, Action.REPLACE):
                    action = Action.CREATE  # it vanished since the plan: make it again
                if secrets:
                    # a create needs every secret value; an update only those of the changed properties
                    # (the others are left out: a provider updates only the keys in ``changes``)
                    creating = live is None or action is Action.REPLACE
                    sent = {k: v for k, v in spec.properties.items() if creating or k not in secrets or k in changes}
                    spec = replace(spec, properties=sent)
                    if creating or changes & secrets.keys():
                        spec = self._with_secrets(spec)  # before the journal: nothing changed if this fails
                self._journal(rp)
                if action is Action.REPLACE and live is not None:
                    provider.delete(live.type, live.id)
                    with self._lock:
                        self.state.resources.pop(rp.name, None)
                        self._save()
                    live = None
                if live is None:
                    live = provider.create(spec)
                elif changes:
                    live = provider.update(spec, live, changes)
                self._finish(rp, live, secrets)
                result_id = live.id
        except DeployForgeError as exc:
            with self._lock:
                self.state.pending = [p for p in self.state.pending if p.get("resource") != rp.name]
                self._save()
            res = ResourceResult(
                rp.name,
                rp.type,
                rp.action,
                Outcome.FAILED,
                rp.resource_id,
                error=exc.message,
                hint=exc.hint,
                duration_s=time.monotonic() - started,
            )
            self.on_event("failed", rp, res)
            return res
        res = ResourceResult(
            rp.name, rp.type, rp.action, Outcome.SUCCEEDED, result_id, duration_s=time.monotonic() - started
        )
        self.on_event("done", rp, res)
        return res

    def _with_secrets(self, spec: ResourceSpec) -> ResourceSpec:
        if self.resolve_secrets is None:
            raise ReferenceResolutionError(
                f"{spec.address}: its properties hold vault:// references and this run has no secrets resolver"
            )
        return self.resolve_secrets(spec)

    # -- scheduling -------------------------------------------------------
    def _run_phase(self, items: list[ResourcePlan], deps: Mapping[str, tuple[str, ...]]) -> list[ResourceResult]:
        by_name = {rp.name: rp for rp in items}
        waiting = {n: {d for d in deps.get(n, ()) if d in by_name} for n in by_name}
        results: dict[str, ResourceResult] = {}
        running: dict[Future[ResourceResult], str] = {}
        with ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="apply") as pool:
            while waiting or running:
                if not self.cancel.is_set():
                    ready = [n for n, d in waiting.items() if not d]
                    for name in ready[: max(0, self.parallelism - len(running))]:
                        del waiting[name]
                        running[pool.submit(self._execute, by_name[name])] = name
                else:
                    for name in list(waiting):
                        rp = by_name.pop(name)
                        del waiting[name]
                        results[name] = ResourceResult(
                            rp.name,
                            rp.type,
                            rp.action,
                            Outcome.SKIPPED,
                            rp.resource_id,
                            reason="the run was interrupted",
                        )
                        self.on_event("skipped", rp, results[name])
                if not running:
                    if waiting and not self.cancel.is_set():  # pragma: no cover - cycles are rejected at load
                        raise RuntimeError(f"unschedulable resources: {sorted(waiting)}")
                    continue
                done, _ = wait(list(running), timeout=0.25, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    res = future.result()
                    results[name] = res
                    for other in waiting.values():
                        other.discard(name)
                    if res.outcome is Outcome.FAILED:
                        blocked = dependents_closure({n: tuple(deps.get(n, ())) for n in by_name}, {name})
                        for dep_name in blocked:
                            if dep_name in waiting:
                                del waiting[dep_name]
                                rp = by_name[dep_name]
                                results[dep_name] = ResourceResult(
                                    rp.name,
                                    rp.type,
                                    rp.action,
                                    Outcome.SKIPPED,
                                    rp.resource_id,
                                    reason=f"depends on {res.address}, which failed",
                                )
                                self.on_event("skipped", rp, results[dep_name])
        return [results[rp.name] for rp in items if rp.name in results]

    def run(self) -> ApplyResult:
        started = time.monotonic()
        if self.state.pending:
            # journal entries of an interrupted run: refresh reconciled them when this plan was made
            with self._lock:
                self.state.pending = []
                self._save()
        adopt = {n for n in self.resources if n not in self.state.resources}
        phase1 = [
            rp
            for rp in self.plan.resources
            if rp.name in self.resources and (rp.action is not Action.NOOP or rp.name in adopt)
        ]
        phase2 = [rp for rp in self.plan.resources if rp.name not in self.resources]
        unchanged = [
            ResourceResult(rp.name, rp.type, rp.action, Outcome.UNCHANGED, rp.resource_id)
            for rp in self.plan.resources
            if rp.name in self.resources and rp.action is Action.NOOP and rp.name not in adopt
        ]
        results = self._run_phase(phase1, {rp.name: rp.depends_on for rp in phase1})
        if phase2:
            if any(r.outcome is Outcome.FAILED for r in results) or self.cancel.is_set():
                why = "the run was interrupted" if self.cancel.is_set() else "earlier changes failed"
                for rp in phase2:
                    res = ResourceResult(
                        rp.name,
                        rp.type,
                        rp.action,
                        Outcome.SKIPPED,
                        rp.resource_id,
                        reason=f"deletes run only when everything else succeeded ({why})",
                    )
                    results.append(res)
                    self.on_event("skipped", rp, res)
            else:
                names = {rp.name for rp in phase2}
                # a resource is deleted after everything (being deleted) that depends on it
                deleted_after: dict[str, tuple[str, ...]] = {n: () for n in names}
                for rp in phase2:
                    for dep in rp.depends_on:
                        if dep in names:
                            deleted_after[dep] = (*deleted_after[dep], rp.name)
                results += self._run_phase(phase2, deleted_after)
        return ApplyResult(
            environment=self.plan.environment,
            results=tuple(unchanged + results),
            interrupted=self.cancel.is_set(),
            duration_s=time.monotonic() - started,
        )
