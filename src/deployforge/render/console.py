"""Console renderings of the result model (pure: data in, text out).

Colour is passed in by the caller (the CLI decides from the terminal,
``--no-color`` and ``NO_COLOR``), so these functions are golden-testable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from deployforge.config.refs import UNKNOWN
from deployforge.model.plan import Action, ApplyResult, Outcome, Plan, ResourcePlan

Style = Callable[..., str]

_ACTION_COLOUR = {
    Action.CREATE: "green",
    Action.UPDATE: "yellow",
    Action.REPLACE: "magenta",
    Action.DELETE: "red",
    Action.NOOP: None,
}
_OUTCOME_WORD = {
    (Action.CREATE, Outcome.SUCCEEDED): "created",
    (Action.UPDATE, Outcome.SUCCEEDED): "updated",
    (Action.REPLACE, Outcome.SUCCEEDED): "replaced",
    (Action.DELETE, Outcome.SUCCEEDED): "deleted",
    (Action.NOOP, Outcome.SUCCEEDED): "recorded",
}


def plain(text: str, **_: Any) -> str:
    return text


def fmt_value(value: Any, limit: int = 80) -> str:
    if value is UNKNOWN:
        return "(known after apply)"
    if value is None:
        return "(none)"
    if isinstance(value, str) and value.startswith(("(secret: vault://", "(sensitive)")) and value.endswith(")"):
        return value  # a vault:// reference (never its value), shown as is
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summary_line(plan: Plan) -> str:
    c = plan.counts()
    return (
        f"{c['create']} to create, {c['update']} to update, {c['replace']} to replace, "
        f"{c['delete']} to delete, {c['no-op']} unchanged"
    )


def render_resource_plan(rp: ResourcePlan, style: Style = plain) -> list[str]:
    colour = _ACTION_COLOUR[rp.action]
    head = f"  {rp.action.symbol:>3} {rp.address}"
    if rp.action is Action.REPLACE:
        head += "  (must be replaced)"
    lines = [style(head, fg=colour, bold=True) if colour else head]
    if rp.note:
        lines.append(style(f"        # {rp.note}", dim=True))
    width = max((len(c.key) for c in rp.changes), default=0)
    for change in rp.changes:
        key = change.key.ljust(width)
        tail = style("  # forces replacement", fg="magenta") if change.forces_replacement else ""
        if rp.action is Action.CREATE:
            lines.append(f"        {key} = {fmt_value(change.after)}")
        else:
            lines.append(f"        {key} : {fmt_value(change.before)} -> {fmt_value(change.after)}{tail}")
    return lines


def render_plan(plan: Plan, style: Style = plain) -> str:
    lines = [f"Plan for environment '{plan.environment}': {summary_line(plan)}"]
    changed = plan.changed()
    if not changed:
        lines.append("")
        lines.append(style("No changes. The infrastructure matches the configuration.", fg="green"))
        return "\n".join(lines)
    # destructive changes first, so nobody scrolls past them
    ordered = [r for r in changed if r.action.destructive] + [r for r in changed if not r.action.destructive]
    lines.append("")
    for rp in ordered:
        lines.extend(render_resource_plan(rp, style))
    lines.append("")
    lines.append("Legend: + create, ~ update in place, -/+ replace, - delete")
    return "\n".join(lines)


def render_event(kind: str, rp: ResourcePlan, result: Any, style: Style = plain) -> str | None:
    if kind == "start":
        verb = {
            "create": "creating",
            "update": "updating",
            "replace": "replacing",
            "delete": "deleting",
            "no-op": "recording",
        }[rp.action.value]
        return style(f"  {rp.address}: {verb}...", dim=True)
    if kind == "done":
        word = _OUTCOME_WORD.get((rp.action, Outcome.SUCCEEDED), "done")
        ident = f" [id={result.resource_id}]" if result.resource_id else ""
        return style(f"  {rp.address}: {word}{ident} ({result.duration_s:.1f}s)", fg="green")
    if kind == "failed":
        text = style(f"  {rp.address}: FAILED: {_without_address(result.error, rp.address)}", fg="red", bold=True)
        if result.hint:
            text += f"\n      hint: {result.hint}"
        return text
    if kind == "skipped":
        return style(f"  {rp.address}: skipped ({result.reason})", fg="yellow")
    return None


def _without_address(error: object, address: str) -> str:
    """A provider error names the resource already ("aws_x.web: ..."): after the address, once is enough."""
    text = str(error)
    for prefix in (f"{address}: ", f"{address.split('.', 1)[-1]}: "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def render_apply(result: ApplyResult, style: Style = plain) -> str:
    c = result.counts()
    status = "Apply complete" if result.ok else ("Apply interrupted" if result.interrupted else "Apply failed")
    colour = "green" if result.ok else "red"
    line = (
        f"{status}: {c['succeeded']} succeeded, {c['failed']} failed, {c['skipped']} skipped, "
        f"{c['unchanged']} unchanged ({result.duration_s:.1f}s)"
    )
    lines = [style(line, fg=colour, bold=True)]
    for r in result.results:
        if r.outcome is Outcome.FAILED:
            lines.append(style(f"  failed:  {r.address}: {_without_address(r.error, r.address)}", fg="red"))
            if r.hint:
                lines.append(f"           hint: {r.hint}")
        elif r.outcome is Outcome.SKIPPED:
            lines.append(style(f"  skipped: {r.address} ({r.reason})", fg="yellow"))
    if result.interrupted:
        lines.append("State records every finished operation; run `deployforge apply` again to finish.")
    return "\n".join(lines)
