"""The policy gate of ``plan`` and ``run``: the config's ``policies:`` against the config and the plan.

``check_plan`` is the public entry other stages call (``deployforge run`` uses it before anything
is deployed). Each ``policies:`` entry is a .rego file or folder (relative to the config), or an
object ``{path, namespace, data, fail_on_warn}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deployforge.model.config import Config
from deployforge.model.plan import Plan
from deployforge.policy.model import PolicyReport


def policy_entries(config: Config) -> list[dict[str, Any]]:
    """The config's ``policies:`` as objects with paths resolved against the config's folder."""
    base = Path(config.base_dir)
    out = []
    for entry in config.policies:
        item = {"path": entry} if isinstance(entry, str) else dict(entry)
        item["path"] = str(base / item["path"])
        data = item.get("data") or []
        item["data"] = [str(base / d) for d in ([data] if isinstance(data, str) else data)]
        out.append(item)
    return out


def check_plan(config: Config, plan: Plan | None) -> PolicyReport:
    """Evaluate the config's ``policies:`` against the config document (and its resources) and the plan.

    Returns an empty passing report when the config lists no policies. ``report.failed`` is the
    gate: denials, engine/input errors, or warnings where an entry sets ``fail_on_warn``.
    """
    from deployforge.policy.evaluate import PolicyOptions, engine_settings, evaluate
    from deployforge.policy.inputs import config_docs

    entries = policy_entries(config)
    if not entries:
        return PolicyReport()
    docs = config_docs(config, plan)
    report: PolicyReport | None = None
    for item in entries:
        namespace = item.get("namespace")
        options = PolicyOptions(
            policies=(item["path"],),
            namespaces=(namespace,) if namespace else (),
            data=tuple(item["data"]),
            fail_on_warn=bool(item.get("fail_on_warn")),
            **engine_settings({}, [item]),
        )
        one = evaluate(docs, options, inputs=[config.path])
        report = one if report is None else report.merged(one)
    assert report is not None
    return report


def plan_gate(config: Any, plan: Any) -> PolicyReport | None:
    """The config's ``policies:`` on the config and the plan; None when the config lists none."""
    if not config.policies:
        return None
    return check_plan(config, plan)


def gate_exit_code(report: PolicyReport | None, default: int) -> int:
    """``plan`` fails with 1 when the policy gate fails (denials, errors, or warnings with fail_on_warn)."""
    from deployforge.errors import EXIT_FAILURE

    return EXIT_FAILURE if report is not None and report.failed else default
