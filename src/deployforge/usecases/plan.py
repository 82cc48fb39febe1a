"""Use case: ``deployforge plan`` (refresh through the providers, the plan, the policy gate, the saved
plan file), and the planning step ``apply`` and ``run`` share (``compute_plan``, a saved plan read
back and checked against what moved since).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deployforge.errors import EXIT_CHANGES, EXIT_FAILURE, EXIT_OK, StalePlanError, UsageError
from deployforge.model.config import Config
from deployforge.model.plan import PLAN_FORMAT, Plan
from deployforge.model.result import RunResult
from deployforge.state.base import StateDocument
from deployforge.usecases.hooks import HookCallbacks, pre_plan_hooks
from deployforge.usecases.workspace import Workspace


def _type_info(ws: Workspace) -> Callable[[str], Any]:
    from deployforge.providers.registry import resource_type_infos

    infos = resource_type_infos()
    return lambda rtype: infos[rtype][1]


def compute_plan(ws: Workspace, state: StateDocument) -> Plan:
    from deployforge.engine.planner import make_plan, refresh

    config = ws.config
    providers = ws.providers_for(state)
    for provider in providers.values():
        provider.preflight()  # a wrong endpoint or profile fails here, before any planning
    observed = refresh(config.resources, state, providers, parallelism=ws.options.parallelism)
    ws.refreshed = observed  # what the cloud showed: the baseline after an apply reuses it

    def normalize(spec: Any) -> Any:
        return providers[spec.target].normalize(spec.type, spec.properties)

    return make_plan(
        config.resources,
        state,
        observed,
        _type_info(ws),
        environment=config.environment,
        config_hash=config.config_hash,
        run_id=ws.run_id,
        normalize=normalize,
    )


NO_HOOK_CALLBACKS = HookCallbacks()  # hooks run without being shown as they run


def plan(ws: Workspace, out: str | None = None, hook_callbacks: HookCallbacks = NO_HOOK_CALLBACKS) -> RunResult:
    config = ws.config
    hooks = pre_plan_hooks(ws, hook_callbacks)
    if hooks is not None and hooks.failed("pre_plan"):
        reason = f"pre_plan hook failed: {hooks.failed('pre_plan')[0].describe()}"
        return ws.result(
            "plan",
            EXIT_FAILURE,
            hooks=hooks,
            messages=(reason, "Nothing was planned."),
        )
    state = ws.read_state()
    the_plan = compute_plan(ws, state)
    from deployforge.policy.gate import gate_exit_code, plan_gate

    policy = plan_gate(config, the_plan)  # the config's policies: a denied plan is not saved
    if out and not (policy is not None and policy.failed):
        write_plan_file(out, the_plan)
    code = gate_exit_code(policy, EXIT_CHANGES if the_plan.has_changes else EXIT_OK)
    return ws.result(
        "plan",
        code,
        plan=the_plan,
        policy=policy,
        hooks=hooks,
        extra={"plan_file": out} if out and code != EXIT_FAILURE else {},
    )


def write_plan_file(path: str, the_plan: Plan) -> None:
    from deployforge.state.local import atomic_write_json

    try:
        atomic_write_json(Path(path), the_plan.to_json())
    except OSError as exc:
        raise UsageError(f"cannot write the plan to {path}: {exc.strerror}") from None


def read_plan_file(path: str) -> Plan:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"plan file '{path}' not found", hint="create one with: deployforge plan --out FILE") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"'{path}' is not a readable DeployForge plan: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise UsageError(
            f"'{path}' is not a DeployForge plan (format {PLAN_FORMAT})",
            hint="plans are written by: deployforge plan --out FILE",
        )
    try:
        return Plan.from_json(data)
    except (KeyError, ValueError, TypeError) as exc:
        raise UsageError(f"plan file '{path}' is damaged: missing or bad field {exc}") from None


def check_saved_plan(saved: Plan, config: Config, state: StateDocument, fresh: Plan) -> None:
    """Refuse a saved plan when the config, the state or the live objects moved since it was made."""
    hint = "make a new plan: deployforge plan --out FILE"
    if saved.environment != config.environment:
        raise StalePlanError(
            f"the plan is for environment '{saved.environment}', not '{config.environment}'",
            hint="pass --environment " + saved.environment,
        )
    if saved.config_hash != config.config_hash:
        raise StalePlanError("the configuration changed since the plan was made", hint=hint)
    lineage_moved = saved.state_serial > 0 and saved.state_lineage != state.lineage  # serial 0: no state yet
    if saved.state_serial != state.serial or lineage_moved:
        raise StalePlanError(
            f"the state changed since the plan was made (serial {saved.state_serial} -> {state.serial})",
            hint=hint,
        )
    now = {r.name: r for r in fresh.resources}
    for rp in saved.resources:
        current = now.get(rp.name)
        if current is None or current.live_fingerprint != rp.live_fingerprint:
            raise StalePlanError(f"{rp.address} changed in the cloud since the plan was made", hint=hint)
