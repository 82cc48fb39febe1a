"""The lifecycle hooks as the use cases run them: the ``DEPLOYFORGE_*`` context every hook gets, their
``vault://`` env values read through the run's resolver, and the hooks of ``plan`` (pre_plan) and
of a plain ``apply``. Parsing and running a phase is ``deployforge.hooks``; ``run``/``deploy``
(``usecases/deploy.py``) run their own phases around the canary.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from deployforge.errors import ConfigError, ConfigIssue
from deployforge.usecases.workspace import Workspace


def hook_context(ws: Workspace, **extra: str) -> dict[str, str]:
    """The ``DEPLOYFORGE_*`` variables every lifecycle hook gets (hooks.py adds ``PHASE`` and ``TARGET``)."""
    from deployforge.audit import ci_context
    from deployforge.audit.trace import PARENT_ENV, TRACE_ENV

    ctx = {
        "DEPLOYFORGE_ENVIRONMENT": ws.config.environment,
        "DEPLOYFORGE_RUN_ID": ws.run_id,
        "DEPLOYFORGE_CONFIG": os.path.abspath(ws.options.config),
        # lineage: a deployforge command the hook runs records this run as its parent
        PARENT_ENV: ws.run_id,
        TRACE_ENV: ws.run_id,
    }
    commit = ci_context(ws.options.environ).get("commit")
    if commit:
        ctx["DEPLOYFORGE_COMMIT"] = str(commit)
    if ws.sandbox_endpoint:
        ctx["DEPLOYFORGE_SANDBOX_ENDPOINT"] = ws.sandbox_endpoint
    ctx.update(extra)
    return ctx


@dataclass(frozen=True)
class HookCallbacks:
    """How a front door shows hooks as they run (the CLI streams them to stderr)."""

    on_start: Callable[[Any, str | None], None] | None = None
    on_output: Callable[[Any, str], None] | None = None


def resolve_hook_env(ws: Workspace, specs: Any) -> list[Any]:
    """The hook specs with every ``vault://`` value of their ``env:`` read through the run's resolver
    (registered for masking, so a hook that prints one shows ***). A bad reference: exit 2."""
    out = []
    for spec in specs:
        if any(v.startswith("vault://") for v in spec.env.values()):
            env = {}
            for key, value in spec.env.items():
                resolved = ws.secrets.resolve_refs(value, f"hooks[{spec.index}].env.{key}")
                env[key] = resolved if isinstance(resolved, str) else json.dumps(resolved)
            spec = replace(spec, env=env)
        out.append(spec)
    return out


class ApplyHooks:
    """The lifecycle hooks of ``plan`` (pre_plan only) and of a plain ``apply`` (``run``/``deploy`` run
    their own, with the canary).

    pre_plan (not with a saved plan) -> [plan, confirm] -> pre_deploy -> apply -> post_deploy ->
    post_success, or on_failure when any step failed. A failing pre_plan or pre_deploy hook stops
    the apply before anything changed.
    """

    def __init__(self, ws: Workspace, callbacks: HookCallbacks, phases: tuple[str, ...] | None = None):
        from deployforge.hooks import HooksReport, parse_hooks

        try:
            specs = [h for h in parse_hooks(ws.config.hooks) if phases is None or h.phase in phases]
        except ValueError as exc:
            raise ConfigError([ConfigIssue(str(exc), ws.config.locate(("hooks",)), None, ("hooks",))]) from None
        self.ws = ws
        self.callbacks = callbacks
        # vault:// values in the hooks' env (of ``phases`` only), read before anything runs (a bad
        # reference: exit 2)
        self.specs = resolve_hook_env(ws, specs)
        self.report = HooksReport()

    def run(self, phase: str, **extra: str) -> str | None:
        """Run ``phase``; the failure reason when a hook of it failed, else None."""
        from deployforge.hooks import run_phase_traced

        if not any(s.phase == phase for s in self.specs):
            return None
        runs = run_phase_traced(
            self.specs,
            phase,
            context=hook_context(self.ws, **extra),
            base_dir=str(self.ws.project_dir),
            on_output=self.callbacks.on_output,
            on_start=self.callbacks.on_start,
        )
        self.report = self.report.plus(runs)
        failed = self.report.failed(phase)
        return f"{phase} hook failed: {failed[0].describe()}" if failed else None

    def failure(self, reason: str) -> None:
        self.run("on_failure", DEPLOYFORGE_FAILURE_REASON=reason)


def pre_plan_hooks(ws: Workspace, callbacks: HookCallbacks = HookCallbacks()) -> Any:
    """Run the config's ``pre_plan`` hooks (None when it has none): a ``hooks.HooksReport``.

    ``plan`` and ``run`` both plan, so both run them first: a hook that generates or fetches what the
    plan reads gives a pull request's plan the same inputs as the deploy.
    """
    hooks = ApplyHooks(ws, callbacks, phases=("pre_plan",))
    if not hooks.specs:
        return None
    hooks.run("pre_plan")
    return hooks.report
