"""Use case: ``deployforge adopt ADDRESS ID``, an object that already exists taken under management.

Terraform calls this ``import``. The resource must be declared in the config (its address says which);
the object is read back through the provider, recorded in the environment's state under that name and
added to a new baseline, all under the environment's lock. Nothing in the cloud changes: the next
``plan`` shows what the config would still change on it.

Refused with a hint: an address the config does not declare, an object that does not exist (or is of
another type), a resource the state already records with another id, and an object that another
resource (of this or another environment in the same backend) already manages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from deployforge.errors import StateError, UsageError
from deployforge.model.result import RunResult
from deployforge.state.base import LockInfo
from deployforge.text import did_you_mean
from deployforge.usecases.audit import ensure_audit_writable
from deployforge.usecases.drift import add_other_environments
from deployforge.usecases.workspace import Workspace


@dataclass(frozen=True)
class Adopted:
    address: str
    name: str
    type: str
    target: str
    id: str
    baseline_id: str
    state_serial: int
    already: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "name": self.name,
            "type": self.type,
            "target": self.target,
            "id": self.id,
            "baseline_id": self.baseline_id,
            "state_serial": self.state_serial,
            "already_managed": self.already,
        }

    def render(self, environment: str, hint: str) -> str:
        if self.already:
            return f"{self.address} already manages {self.id} in {environment}: nothing to do."
        return (
            f"Adopted {self.address} = {self.id} into {environment}: recorded in state (serial {self.state_serial}) "
            f"and baseline {self.baseline_id}. Nothing in the cloud was changed.\n"
            f"  next: {hint} shows what the config would still change on it."
        )


def resolve_address(config: Any, address: str) -> str:
    """The config's resource name for ``address`` (``NAME`` or ``TYPE.NAME``)."""
    from deployforge.providers.registry import canonical_type

    text = address.strip()
    if text in config.resources:
        return text
    rtype, _, name = text.rpartition(".")
    declared = config.resources.get(name)
    if rtype and declared is not None and canonical_type(declared.type) == canonical_type(rtype):
        return name
    choices = [r.address for r in config.resources.values()]
    hint = did_you_mean(text, choices) or (
        f"declare it in the config first; declared: {', '.join(sorted(choices)[:10]) or 'nothing'}"
    )
    raise UsageError(f"'{address}' is not a resource of this config", hint=hint)


def adopt(ws: Workspace, address: str, resource_id: str, *, command: str = "adopt") -> RunResult:
    from deployforge.providers.registry import canonical_type
    from deployforge.state.baseline import Baseline, BaselineResource

    config = ws.config
    env = config.environment
    name = resolve_address(config, address)
    declared = config.resources[name]
    rtype = canonical_type(declared.type)
    wanted = resource_id.strip()
    if not wanted:
        raise UsageError("which object? the ID is empty", hint=f"deployforge adopt {declared.address} ID")
    ensure_audit_writable(ws)
    backend = ws.backend
    lock = backend.acquire_lock(LockInfo.new(env, ws.run_id, command))
    try:
        state = ws.read_state()
        current = state.resources.get(name)
        if current is not None and str(current.get("id")) == wanted:
            baseline = backend.read_baseline(env)
            done = Adopted(declared.address, name, rtype, declared.target, wanted, baseline.id if baseline else "-",
                           state.serial, already=True)  # fmt: skip
            return _result(ws, command, done)
        if current is not None:
            raise UsageError(
                f"{declared.address} already manages {current.get('id')} in {env}; it cannot adopt {wanted} too",
                hint="remove the resource from the config and apply (or delete the object) first, "
                "or adopt the other object under a new resource name",
            )
        managed: dict[tuple[str, str], set[str]] = {}
        for other_name, entry in state.resources.items():
            if entry.get("type") == rtype and str(entry.get("id")) == wanted:
                raise UsageError(
                    f"{wanted} is already managed by {rtype}.{other_name} in {env}",
                    hint="one object, one resource: adopt another object, or rename the resource in the config",
                )
        add_other_environments(backend, env, managed)
        if wanted in managed.get((declared.target, rtype), set()):
            raise UsageError(
                f"{wanted} is already managed by another environment of this project",
                hint="two environments must not manage one object: give each environment its own names",
            )
        live = ws.provider(declared.target).read(rtype, wanted)
        if live is None:
            raise UsageError(
                f"no {rtype} with id {wanted} in target '{declared.target}'",
                hint=f"list what exists and nobody manages: deployforge drift list --unmanaged -e {env}",
            )
        state.resources[name] = {
            "type": live.type,
            "target": declared.target,
            "id": live.id,
            "attributes": dict(live.attributes),
            "outputs": dict(live.outputs),
            "depends_on": list(declared.depends_on),
            "run_id": ws.run_id,
        }
        state.serial += 1
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        state.updated_at = stamp
        state.run_id = ws.run_id
        backend.write(state)
        baseline = backend.read_baseline(env)
        if baseline is None:  # e.g. after a failed first apply: what the state records is the baseline
            recorded = {
                n: BaselineResource(n, e["type"], e["target"], str(e["id"]), dict(e.get("attributes") or {}))
                for n, e in state.resources.items()
            }
            baseline = Baseline(env, ws.run_id, stamp, config.config_hash, resources=recorded)
        resources = dict(baseline.resources)
        resources[name] = BaselineResource(name, live.type, declared.target, live.id, dict(live.attributes))
        try:
            backend.write_baseline(
                replace(baseline, id=ws.run_id, taken_at=stamp, state_serial=state.serial, resources=resources)
            )
        except StateError as exc:
            raise StateError(
                f"{declared.address} is in state now, but the new baseline was not written: {exc.message}",
                hint=f"deployforge apply -e {env} takes a new baseline",
            ) from exc
        done = Adopted(declared.address, name, rtype, declared.target, live.id, ws.run_id, state.serial)
        return _result(ws, command, done)
    finally:
        backend.release_lock(lock)


def _result(ws: Workspace, command: str, done: Adopted) -> RunResult:
    return ws.result(command, 0, extra={"adopted": done.to_json()})
