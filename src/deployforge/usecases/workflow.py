"""The workflow use cases every front door calls: list, graph, run. Nothing here prints."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from deployforge.config.refs import RefProblem, interpolate, walk_strings
from deployforge.errors import EXIT_FAILURE, EXIT_OK, DeployForgeError, ReferenceResolutionError
from deployforge.model.result import RunResult
from deployforge.usecases.workspace import Workspace
from deployforge.workflow.catalog import lookup
from deployforge.workflow.model import Step, StepResult, Workflow
from deployforge.workflow.parse import compile_workflow, get_workflow
from deployforge.workflow.runner import ActionContext, run_workflow


def list_workflows(ws: Workspace) -> list[Workflow]:
    config = ws.config
    return [compile_workflow(name, doc, config.targets) for name, doc in config.workflows.items()]


def load_workflow(ws: Workspace, name: str) -> Workflow:
    return get_workflow(ws.config.workflows, name, ws.config.targets)


def _resolver(ws: Workspace) -> Any:
    resolver = getattr(ws, "secrets", None)
    if resolver is None:
        from deployforge.secrets import SecretResolver

        resolver = SecretResolver(ws.options.environ)
    return resolver


def prepare(ws: Workspace, workflow: Workflow) -> Workflow:
    """Interpolate ``$ENV`` / ``${var.X}`` and resolve ``vault://`` in every step's ``with:``.

    Runs before any step does, so a missing variable, an unreachable Vault or a missing secret key
    stops the run (exit 2) with nothing done. ``${steps...}`` stays for the engine.
    """

    environ = ws.options.environ
    variables = ws.config.variables
    resolver = _resolver(ws)
    steps = []
    for step in workflow.steps:
        where = f"workflow '{workflow.name}' step '{step.id}'"

        def one(text: str, path: tuple[Any, ...], where: str = where) -> Any:
            label = f"{where} with.{'.'.join(str(p) for p in path)}"
            if text.startswith("vault://"):
                return resolver.resolve_refs(text, label)
            try:
                return interpolate(text, environ, variables)
            except RefProblem as exc:
                raise ReferenceResolutionError(f"{label}: {exc.message}", hint=exc.hint) from None

        steps.append(replace(step, params=walk_strings(dict(step.params), (), one)))
    return replace(workflow, steps=tuple(steps))


def _credentials_source(target: Any) -> str:
    """Where a target's credentials come from, in words (no secret value)."""
    if target is None:
        return "unknown target"
    if isinstance(target.credentials, str) and target.credentials:
        return f"key file {target.credentials}"
    if target.credentials is not None:
        return f"secret {target.credentials}"  # the vault:// reference, never its value
    if target.auth:
        return f"profile {target.auth}"
    if target.provider == "aws":
        return "boto3's default chain (environment, web identity, instance role)"
    if target.provider == "google":
        return "Application Default Credentials"
    return "the provider's defaults"


def dry_run(ws: Workspace, name: str) -> tuple[Workflow, list[dict[str, Any]], bool]:
    """What ``workflow run NAME`` would do, checked without running a step: each step with the
    credentials its target needs and whether they work (references resolve, the cloud accepts them).

    Returns the workflow, one row per step and whether everything resolved. Nothing is created.
    """

    workflow = load_workflow(ws, name)
    problems: dict[str, str] = {}
    try:
        prepare(ws, workflow)  # every $ENV, ${var.X} and vault:// of the steps' with:
        params_ok = "ok"
    except DeployForgeError as exc:
        params_ok = f"FAILED: {exc.message}"
    checked: dict[str, str] = {}
    for target_name in sorted({s.target for s in workflow.steps}):
        try:
            ws.provider(target_name).preflight()
            checked[target_name] = "ok"
        except DeployForgeError as exc:
            checked[target_name] = f"FAILED: {exc.message}"
            problems[target_name] = exc.hint or ""
    rows = []
    for step in workflow.steps:
        target = ws.config.targets.get(step.target)
        rows.append(
            {
                "step": step.id,
                "uses": f"{step.target}.{step.action_name}",
                "needs": list(step.needs),
                "target": step.target,
                "provider": target.provider if target is not None else None,
                "credentials": _credentials_source(target),
                "credentials_check": checked.get(step.target, "unchecked"),
                "hint": problems.get(step.target) or None,
            }
        )
    ok = params_ok == "ok" and all(v == "ok" for v in checked.values())
    if params_ok != "ok":
        rows.append({"step": "(parameters)", "credentials_check": params_ok})
    return workflow, rows, ok


def execute_action(step: Step, params: dict[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
    info = lookup(step.provider, step.action_name)
    assert info is not None  # compile_workflow checked it
    module, _, attr = info.handler.partition(":")
    handler = getattr(importlib.import_module(module), attr)
    result: Mapping[str, Any] = handler(ctx, params)
    return result


def run(
    ws: Workspace,
    name: str,
    *,
    parallelism: int = 4,
    on_event: Callable[[str, Step, StepResult | None], None] | None = None,
) -> RunResult:
    workflow = prepare(ws, load_workflow(ws, name))
    providers = {}
    for target in sorted({s.target for s in workflow.steps}):  # credentials and endpoints, before any step
        providers[target] = ws.provider(target)
        providers[target].preflight()

    def make_context(step: Step, outputs: Mapping[str, Mapping[str, Any]]) -> ActionContext:
        return ActionContext(
            workflow=workflow.name,
            step=step,
            run_id=ws.run_id,
            provider=providers[step.target],
            outputs=outputs,
        )

    result = run_workflow(workflow, execute_action, make_context, parallelism=parallelism, on_event=on_event)
    return ws.result(
        "workflow run",
        EXIT_OK if result.ok else EXIT_FAILURE,
        workflow=result,
    )
