"""Render a workflow (and optionally its result) as a Mermaid flowchart or plain text (pure)."""

from __future__ import annotations

import hashlib
import re

from deployforge.workflow.model import FAILED, FAILED_ALLOWED, SKIPPED, SUCCEEDED, Workflow, WorkflowResult

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def node_id(step_id: str) -> str:
    """A Mermaid-safe node id: ASCII letters, digits and ``_`` only, never a keyword (``end``,
    ``graph``, ``subgraph``...), unique per step id (a short hash keeps ``a-b`` and ``a_b`` apart)."""
    safe = _UNSAFE.sub("_", step_id)
    if safe != step_id:
        safe = f"{safe}_{hashlib.sha256(step_id.encode()).hexdigest()[:6]}"
    return f"step_{safe}"


def _label(text: str) -> str:
    # inside "...": escape what Mermaid would read as markup
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;").replace("\n", " ")
    )


_CLASSES = {
    SUCCEEDED: "classDef succeeded fill:#d4edda,stroke:#28a745",
    FAILED: "classDef failed fill:#f8d7da,stroke:#dc3545",
    FAILED_ALLOWED: "classDef failedContinued fill:#fff3cd,stroke:#ffc107",
    SKIPPED: "classDef skipped fill:#e2e3e5,stroke:#6c757d,stroke-dasharray:4",
}
_CLASS_NAMES = {SUCCEEDED: "succeeded", FAILED: "failed", FAILED_ALLOWED: "failedContinued", SKIPPED: "skipped"}


def to_mermaid(workflow: Workflow, result: WorkflowResult | None = None) -> str:
    lines = ["flowchart LR"]
    if workflow.description or workflow.name:
        lines.insert(0, f"%% workflow {_label(workflow.name)}")
    statuses = {r.id: r.status for r in result.steps} if result else {}
    for step in workflow.steps:
        label = _label(step.id) + "<br/>" + _label(f"{step.target}.{step.service}.{step.action}")
        if step.id in statuses:
            label += f"<br/>{_label(statuses[step.id])}"
        lines.append(f'    {node_id(step.id)}["{label}"]')
    for step in workflow.steps:
        for need in step.needs:
            lines.append(f"    {node_id(need)} --> {node_id(step.id)}")
    if statuses:
        used = sorted(set(statuses.values()))
        for status in used:
            lines.append(f"    {_CLASSES[status]}")
        for step_id, status in statuses.items():
            lines.append(f"    class {node_id(step_id)} {_CLASS_NAMES[status]}")
    return "\n".join(lines) + "\n"


def to_text(workflow: Workflow) -> str:
    lines = [f"workflow {workflow.name}" + (f": {workflow.description}" if workflow.description else "")]
    for step in workflow.steps:
        needs = f"  (after {', '.join(step.needs)})" if step.needs else ""
        lines.append(f"  {step.id}: {step.target}.{step.service}.{step.action}{needs}")
    return "\n".join(lines) + "\n"
