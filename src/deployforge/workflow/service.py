"""The workflow use cases every front door calls: list, graph, run. Nothing here prints."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from deployforge.errors import EXIT_FAILURE, EXIT_OK, ReferenceResolutionError
from deployforge.model.result import RunResult
from deployforge.workflow.catalog import lookup
from deployforge.workflow.engine import ActionContext, run_workflow
from deployforge.workflow.model import Step, StepResult, Workflow
from deployforge.workflow.parse import compile_workflow, get_workflow


def list_workflows(ws: Any) -> list[Workflow]:
    config = ws.config
    return [compile_workflow(name, doc, config.targets) for name, doc in config.workflows.items()]


def load_workflow(ws: Any, name: str) -> Workflow:
    return get_workflow(ws.config.workflows, name, ws.config.targets)


def _resolver(ws: Any) -> Any:
    resolver = getattr(ws, "secrets", None)
    if resolver is None:
        from deployforge.secrets import SecretResolver

        resolver = SecretResolver(ws.options.environ)
    return resolver


def prepare(ws: Any, workflow: Workflow) -> Workflow:
    """Interpolate ``$ENV`` / ``${var.X}`` and resolve ``vault://`` in every step's ``with:``.

    Runs before any step does, so a missing variable, an unreachable Vault or a missing secret key
    stops the run (exit 2) with nothing done. ``${steps...}`` stays for the engine.
    """
    from deployforge.config.refs import RefProblem, interpolate, walk_strings

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


def execute_action(step: Step, params: dict[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
    info = lookup(step.provider, step.action_name)
    assert info is not None  # compile_workflow checked it
    module, _, attr = info.handler.partition(":")
    handler = getattr(importlib.import_module(module), attr)
    result: Mapping[str, Any] = handler(ctx, params)
    return result


def run(
    ws: Any,
    name: str,
    *,
    parallelism: int = 4,
    on_event: Callable[[str, Step, StepResult | None], None] | None = None,
) -> RunResult:
    config = ws.config
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
    return RunResult(
        "workflow run",
        config.environment,
        ws.run_id,
        EXIT_OK if result.ok else EXIT_FAILURE,
        config.path,
        config.config_hash,
        workflow=result,
    )
