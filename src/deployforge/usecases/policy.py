"""Policy use cases behind the CLI: ``validate --policy ... PATHS`` and the ``plan`` gate.

The commands stay thin: they call these functions and render what comes back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from deployforge.errors import UsageError
from deployforge.model.result import RunResult
from deployforge.policy.evaluate import PolicyOptions, engine_settings, evaluate, evaluate_paths
from deployforge.policy.gate import gate_exit_code, plan_gate
from deployforge.policy.model import PolicyReport
from deployforge.usecases.validate import validate as validate_config
from deployforge.usecases.workspace import Workspace

__all__ = ["annotations_text", "gate_exit_code", "plan_gate", "validate", "wants_policy"]


def wants_policy(paths: Sequence[str], policies: Sequence[str]) -> bool:
    return bool(paths or policies)


def validate(
    ws: Workspace, paths: Sequence[str], options: PolicyOptions, engine: Mapping[str, Any] | None = None
) -> RunResult:
    """``deployforge validate [--policy ...] [PATHS...]``.

    With PATHS: evaluate the policies on those files; the config is validated too when it exists
    (when it does not, none is required). Without PATHS but with --policy: evaluate on the config
    and its resources. Without --policy, the config's ``policies:`` are used.
    """
    config_exists = Path(ws.options.config).is_file()
    base: RunResult | None = None
    if config_exists or not paths:
        base = validate_config(ws)
    policies = tuple(options.policies)
    if not policies and base is not None:
        from deployforge.policy.gate import policy_entries

        policies = tuple(e["path"] for e in policy_entries(ws.config))
        if not policies:
            raise UsageError(
                "no policy to evaluate",
                hint="pass --policy FILE_OR_FOLDER, or list policies: in the config",
            )
    entries: list[dict[str, Any]] = []
    if base is not None:
        from deployforge.policy.gate import policy_entries

        entries = policy_entries(ws.config)
    options = replace(options, policies=policies, **engine_settings(engine or {}, entries))
    if paths:
        report = evaluate_paths(paths, options)
    else:
        from deployforge.policy.inputs import config_docs

        report = evaluate(config_docs(ws.config), options, inputs=[ws.config.path])
    if base is None:
        return RunResult("validate", None, ws.run_id, report.exit_code, policy=report)
    code = max(base.exit_code, report.exit_code)
    return replace(base, exit_code=code, policy=report)


def annotations_text(report: PolicyReport, environ: Mapping[str, str] | None = None) -> str:
    """``::error file=..,line=..::`` lines when running under GitHub Actions, else ''."""
    from deployforge.ci.platform import reads_workflow_commands
    from deployforge.policy.report import to_annotations
    from deployforge.render.annotations import render_annotations

    if not reads_workflow_commands(os.environ if environ is None else environ):
        return ""
    return render_annotations(to_annotations(report))
