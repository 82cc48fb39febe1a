"""Pure renderings of a ``DriftReport``: the console table, Markdown (PR comment, job summary, GitHub
issue body) and JUnit (a test case per resource)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from deployforge.drift.model import DriftRecord, DriftReport, Remediation, Severity, Status
from deployforge.text import plural

Style = Callable[..., str]

_COLOURS = {
    Severity.SECURITY: "red",
    Severity.PERFORMANCE: "yellow",
    Severity.INFORMATIONAL: "cyan",
}


def _plain(text: str, **_: Any) -> str:
    return text


def _short(value: Any, width: int = 48) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _label(record: DriftRecord) -> str:
    if record.ignored is not None:
        return "ignored"
    return record.severity.value if record.severity else "unknown"


def render_table(report: DriftReport, style: Style = _plain) -> str:
    """``drift list``: one line per drift, then the counts."""
    lines = [
        f"Drift in {report.environment} against baseline {report.baseline_id} ({report.baseline_taken_at}), "
        f"checked {report.checked_at}"
    ]
    if not report.records and report.hidden:
        lines.append(f"No drift matches the filter ({report.hidden} record(s) left out by --severity/--status).")
    elif not report.records:
        lines.append(style("No drift: live state matches the baseline.", fg="green"))
    else:
        rows = [("ID", "STATUS", "SEVERITY", "RESOURCE", "WHAT", "FIRST SEEN")]
        for r in report.records:
            what = ", ".join(r.paths) or r.error or str((r.live or {}).get("name") or r.type)
            rows.append((r.id, r.status.value, _label(r), r.resource, _short(what, 40), r.first_seen))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for n, row in enumerate(rows):
            text = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
            if n == 0:
                text = style(text, bold=True)
            else:
                record = report.records[n - 1]
                colour = _COLOURS.get(record.severity) if record.active and record.severity else None
                text = style(text, fg=colour) if colour else style(text, dim=not record.active)
            lines.append(text)
    detailed = [r for r in report.records if r.active and r.changes]
    if detailed:
        lines.append("")
        lines.append(style("Changes (baseline -> live):", bold=True))
        for record in detailed:
            lines.append(f"{record.id}  {record.resource}")
            lines += [f"  {line}" for line in record.diff]
    lines.append("")
    lines.append(summary_line(report))
    for warning in report.warnings:
        lines.append(style(f"warning: {warning}", fg="yellow"))
    return "\n".join(lines)


def summary_line(report: DriftReport) -> str:
    c = report.counts()
    parts = [
        f"{c['security-critical']} security-critical",
        f"{c['performance-impacting']} performance-impacting",
        f"{c['informational']} informational",
    ]
    extra = [f"{c['in_sync']} in sync"]
    if c["ignored"]:
        extra.append(f"{c['ignored']} ignored")
    if c["not_checked"]:
        extra.append(f"{c['not_checked']} NOT CHECKED (could not be read)")
    if report.hidden:
        extra.append(f"{report.hidden} left out by the filter")
    return f"{plural(len(report.active), 'drift')}: {', '.join(parts)}; {', '.join(extra)}."


def render_record(record: DriftRecord) -> str:
    """``drift show``: everything about one drift."""
    lines = [
        f"{record.id}  {record.status.value}  {_label(record)}",
        f"  resource:   {record.resource} ({record.type}, target {record.target}, id {record.resource_id})",
        f"  reason:     {record.reason}",
        f"  first seen: {record.first_seen}   last seen: {record.last_seen}",
    ]
    if record.ignored:
        lines.append(f"  ignored:    {record.ignored}")
    if record.error:
        lines.append(f"  error:      {record.error}")
    if record.live is not None and not record.changes:
        lines.append("  live (nobody declared it; adopt it with `deployforge adopt TYPE.NAME ID`):")
        lines += [f"    {line}" for line in record.live_lines]
    if record.changes:
        lines.append("  changes (baseline -> live):")
        lines += [f"    {line}" for line in record.diff]
    ignored = [line.text for c in record.ignored_changes for line in c.lines]
    if ignored:
        lines.append("  ignored (the ignore file covers these):")
        lines += [f"    {line}" for line in ignored]
    return "\n".join(lines)


def render_remediation(rem: Remediation) -> str:
    head = "Remediation plan" if rem.dry_run else "Remediation"
    lines = [f"{head} for {rem.drift_id} ({rem.resource}), strategy {rem.strategy}: {rem.outcome}"]
    if rem.deviation is not None:
        limit = f" (max_deviation {rem.max_deviation:g}%)" if rem.max_deviation is not None else ""
        lines.append(f"  deviation: {rem.deviation:.1f}%{limit}")
    for step in rem.steps:
        mark = "✓" if step.done else ("✗" if step.error else "-")
        lines.append(f"  {mark} {step.action}: {step.description}")
        lines += [f"      {line}" for line in step.lines]
        if step.error:
            lines.append(f"      error: {step.error}")
    for note in rem.notes:
        lines.append(f"  note: {note}")
    if rem.dry_run and rem.outcome == "planned":
        lines.append("  (dry run: nothing was changed)")
    return "\n".join(lines)


def render_markdown(report: DriftReport, *, limit: int = 50) -> str:
    """Markdown for the PR comment, the job summary and the environment's GitHub issue."""
    c = report.counts()
    lines = [
        f"### Drift in `{report.environment}`",
        "",
        f"Baseline `{report.baseline_id}` ({report.baseline_taken_at}), checked {report.checked_at}.",
        "",
        "| security-critical | performance-impacting | informational | not checked | ignored | in sync |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {c['security-critical']} | {c['performance-impacting']} | {c['informational']} | "
        f"{c['not_checked']} | {c['ignored']} | {c['in_sync']} |",
        "",
    ]
    shown = [r for r in report.records if r.active or r.status is Status.NOT_CHECKED]
    if shown:
        lines += ["| id | status | severity | resource | attributes | first seen |", "|---|---|---|---|---|---|"]
        for r in shown[:limit]:
            what = ", ".join(f"`{p}`" for p in r.paths) or (r.error or "")
            what = what.replace("|", "\\|")
            lines.append(
                f"| `{r.id}` | {r.status.value} | {_label(r)} | `{r.resource}` | {_short(what, 80)} | {r.first_seen} |"
            )
        if len(shown) > limit:
            lines.append(f"\n… and {len(shown) - limit} more (`deployforge drift list --format json`).")
        detailed = [r for r in shown[:limit] if r.changes]
        if detailed:
            lines += ["", "Changes (baseline → live):"]
        for r in detailed:
            lines += ["", f"`{r.id}` `{r.resource}`", *diff_block(r.diff)]
    elif report.hidden:
        lines.append(f"No drift matches the filter ({report.hidden} record(s) left out by --severity/--status).")
    else:
        lines.append("No drift: live state matches the baseline.")
    for rem in report.remediations:
        lines += ["", f"**{rem.drift_id}** ({rem.resource}): {rem.strategy} → {rem.outcome}"]
        for step in rem.steps:
            lines.append(f"- {'✅' if step.done else ('❌' if step.error else '•')} {step.action}: {step.description}")
            if step.lines:
                lines += ["", *diff_block(step.lines)]
    return "\n".join(lines) + "\n"


def diff_block(diff: tuple[str, ...] | list[str]) -> list[str]:
    """A fenced ``diff`` block that no backtick run in the content can close early."""
    longest = max((len(run) for line in diff for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}diff", *diff, fence]


def to_junit_suite(report: DriftReport, fail_on: Severity | None = None) -> Any:
    """A JUnit suite with a test case per baseline resource (and per unmanaged object).

    failure: drift at or above ``fail_on``; skipped: ignored, or below ``fail_on`` (within tolerance);
    error: NOT_CHECKED; passed: in sync. Names are stable: ``<resource>`` in class ``drift.<env>``.
    """
    from deployforge.render.junit import JUnitCase, JUnitOutcome, JUnitSuite

    threshold = fail_on or report.fail_on
    classname = f"drift.{report.environment}"
    by_resource: dict[str, list[DriftRecord]] = {}
    for record in report.records:
        by_resource.setdefault(record.resource, []).append(record)
    cases = []
    for resource in sorted(by_resource):
        records = by_resource[resource]
        props = tuple(("drift_id", r.id) for r in records)
        text = "\n".join(render_record(r) for r in records)
        unreadable = [r for r in records if r.status is Status.NOT_CHECKED]
        failing = [r for r in records if r.active and r.severity and r.severity.rank >= threshold.rank]
        if unreadable:
            case = JUnitCase(
                resource,
                classname,
                error=JUnitOutcome(f"NOT_CHECKED: {unreadable[0].error}", text, "NOT_CHECKED"),
                properties=props,
            )
        elif failing:
            worst = max(failing, key=lambda r: r.severity.rank if r.severity else 0)
            message = f"{worst.id} {worst.status.value} ({_label(worst)}): {worst.reason}"
            case = JUnitCase(resource, classname, failure=JUnitOutcome(message, text, _label(worst)), properties=props)
        else:
            first = records[0]
            why = (
                f"ignored: {first.ignored}" if first.ignored else f"{_label(first)} drift is below fail-on {threshold}"
            )
            case = JUnitCase(resource, classname, skipped=JUnitOutcome(f"{first.id} {why}", text), properties=props)
        cases.append(case)
    for resource in sorted(set(report.checked_names) - set(by_resource)):
        cases.append(JUnitCase(resource, classname))
    cases.sort(key=lambda case: case.name)
    props = (
        ("environment", report.environment),
        ("baseline", str(report.baseline_id)),
        ("fail_on", threshold.value),
    )
    return JUnitSuite(f"drift {report.environment}", tuple(cases), props)
