"""Apply a plan: walk the dependency DAG in parallel, record every step in state.

* Creates, updates and replacements run in dependency order with at most
  ``parallelism`` operations at once; a failed resource marks everything that
  depends on it SKIPPED while independent branches finish.
* Deletes run afterwards, dependents first, and only if nothing failed.
* State is written after every operation, with the operation journalled in
  ``pending`` before the cloud is called: killed at any moment, the state
  records exactly what was done, and the next plan reconciles the one
  operation that may have been in flight.
* Each write is a small record (``StateDocument.record``), made durable before
  the caller goes on. Records of operations finishing at the same time are
  written together (group commit: one append and one fsync per batch) by a
  backend that journals (local); others get the whole document per batch.
  What an apply writes grows with what it changes, not with state size x changes.
* ``cancel`` (set by SIGINT/SIGTERM) stops new operations from starting; the
  ones in flight finish and are recorded, the rest are SKIPPED.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
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


class _Outputs(Mapping[str, Mapping[str, Any]]):
    """The outputs recorded in state, read one resource at a time under the applier's lock (a copy of
    every output per resource would make an apply quadratic in the number of resources)."""

    def __init__(self, state: StateDocument, lock: threading.Lock):
        self._state = state
        self._lock = lock

    def __getitem__(self, name: str) -> Mapping[str, Any]:
        with self._lock:
            entry = self._state.resources[name]
        return entry.get("outputs", {})

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            names = list(self._state.resources)
        return iter(names)

    def __len__(self) -> int:
        with self._lock:
            return len(self._state.resources)


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
        self._lock = threading.Lock()  # guards self.state and the unflushed records
        self._flush_lock = threading.Lock()  # one writer to the backend at a time
        self._unflushed: list[dict[str, Any]] = []
        self._written = self._synced = state.serial  # the last serial handed to the backend / fsynced
        self._append = getattr(backend, "append_records", None)
        self._outputs = _Outputs(state, self._lock)

    # -- state bookkeeping ------------------------------------------------
    def _commit(self, *ops: Sequence[Any], durable: bool = False) -> None:
        """Apply ``ops`` to the state as its next serial and return once that is written: handed to the
        OS (a kill -9 loses nothing), and with ``durable`` also fsynced (a power loss loses nothing).

        Only the intent recorded before a cloud call must be durable before the call. An outcome that
        is written but lost to a power cut leaves that intent pending, which the next plan reconciles
        by looking the object up; and the next intent's fsync makes every earlier record durable."""
        with self._lock:
            record = self.state.record(ops, self.run_id, _utc())
            self._unflushed.append(record)
        self._flush(record["serial"], durable)

    def _flush(self, serial: int, durable: bool = True) -> None:
        """Write every record up to ``serial`` (and fsync it if ``durable``). Whoever gets here first
        writes every record waiting at that moment, with one write and at most one fsync (group
        commit); the others find theirs written and return."""
        with self._flush_lock:
            if self._synced >= serial or (not durable and self._written >= serial):
                return
            with self._lock:
                batch, self._unflushed = self._unflushed, []
            try:
                if not batch:  # written already, not yet fsynced
                    self._sync()
                    return
                appended = self._append is not None and self._append(self.state.environment, batch, sync=durable)
                if appended:
                    self._written = batch[-1]["serial"]
                    if durable:
                        self._synced = self._written
                    return
                with self._lock:  # the whole document, which holds every record made so far
                    snapshot = self.state.snapshot()
                    self._unflushed = []
                self.backend.write(snapshot)  # written whole and fsynced
                self._written = self._synced = snapshot.serial
            except BaseException:
                if batch:
                    with self._lock:  # not known to be written: the next flush tries them again
                        self._unflushed = [r for r in batch if r["serial"] > self._written] + [
                            r for r in self._unflushed if r["serial"] > batch[-1]["serial"]
                        ]
                raise

    def _sync(self) -> None:
        """fsync what was written (callers hold ``_flush_lock``)."""
        if self._synced < self._written:
            sync = getattr(self.backend, "sync_records", None)
            if sync is not None:
                sync(self.state.environment)
            self._synced = self._written

    def _journal(self, rp: ResourcePlan) -> None:
        begin = {"resource": rp.name, "action": rp.action.value, "run_id": self.run_id, "started_at": _utc()}
        self._commit(["begin", begin], durable=True)  # before the cloud is called

    def _finish(self, rp: ResourcePlan, live: LiveResource | None, secrets: dict[str, str] | None = None) -> None:
        """Record the outcome. ``secrets``: the resource's secret-valued properties (property ->
        reference signature); their live values are stored as markers, never as values."""
        if live is None:
            self._commit(["end", rp.name], ["del", rp.name])
            return
        entry: dict[str, Any] = {
            "type": live.type,
            "target": rp.target,
            "id": live.id,
            "attributes": redact_attributes(live.attributes, secrets or {}),
            "outputs": dict(live.outputs),
            "depends_on": list(rp.depends_on),
            "run_id": self.run_id,
        }
        if secrets:
            entry["secrets"] = dict(secrets)
        self._commit(["end", rp.name], ["set", rp.name, entry])

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
                spec = spec_for(resource, self._outputs)
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
                    self._commit(["del", rp.name])
                    live = None
                if live is None:
                    live = provider.create(spec)
                elif changes:
                    live = provider.update(spec, live, changes)
                self._finish(rp, live, secrets)  # as read back: the baseline after the apply reuses it
                result_id = live.id
        except DeployForgeError as exc:
            self._commit(["end", rp.name])
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
        dependents: dict[str, list[str]] = {}
        for name, requires in waiting.items():
            for dep in requires:
                dependents.setdefault(dep, []).append(name)
        ready = deque(n for n, d in waiting.items() if not d)  # in plan order
        results: dict[str, ResourceResult] = {}
        running: dict[Future[ResourceResult], str] = {}

        def skip(name: str, reason: str) -> None:
            rp = by_name[name]
            del waiting[name]
            results[name] = ResourceResult(rp.name, rp.type, rp.action, Outcome.SKIPPED, rp.resource_id, reason=reason)
            self.on_event("skipped", rp, results[name])

        with ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="apply") as pool:
            while waiting or running:
                if not self.cancel.is_set():
                    while ready and len(running) < self.parallelism:
                        name = ready.popleft()
                        if name in waiting:  # not skipped meanwhile
                            del waiting[name]
                            running[pool.submit(self._execute, by_name[name])] = name
                else:
                    for name in list(waiting):
                        skip(name, "the run was interrupted")
                    ready.clear()
                if not running:
                    if waiting and not self.cancel.is_set() and not ready:  # pragma: no cover - cycles are rejected
                        raise RuntimeError(f"unschedulable resources: {sorted(waiting)}")
                    continue
                done, _ = wait(list(running), timeout=0.25, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    res = future.result()
                    results[name] = res
                    if res.outcome is Outcome.FAILED:
                        blocked = dependents_closure({n: tuple(deps.get(n, ())) for n in by_name}, {name})
                        for dep_name in blocked:
                            if dep_name in waiting:
                                skip(dep_name, f"depends on {res.address}, which failed")
                        continue
                    for other in dependents.get(name, ()):
                        pending_deps = waiting.get(other)
                        if pending_deps is not None:
                            pending_deps.discard(name)
                            if not pending_deps:
                                ready.append(other)
        return [results[rp.name] for rp in items if rp.name in results]

    def run(self) -> ApplyResult:
        started = time.monotonic()
        if self.state.pending:
            # journal entries of an interrupted run: refresh reconciled them when this plan was made
            self._commit(["clear"])
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
        with self._lock:
            last = self.state.serial
        self._flush(last, durable=True)  # the outcomes of the last operations, fsynced
        finish = getattr(self.backend, "finish_records", None)
        if finish is not None and self._append is not None:
            with self._lock:
                snapshot = self.state.snapshot()
            with self._flush_lock:
                finish(snapshot)
        return ApplyResult(
            environment=self.plan.environment,
            results=tuple(unchanged + results),
            interrupted=self.cancel.is_set(),
            duration_s=time.monotonic() - started,
        )
