"""Renderings of a ``PolicyReport``: console table, JUnit suite, SARIF, GitHub annotations. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from deployforge.policy.model import Finding, Outcome, PolicyReport
from deployforge.render.annotations import Annotation
from deployforge.render.junit import JUnitCase, JUnitOutcome, JUnitSuite
from deployforge.render.sarif import SarifResult, SarifRule, render_sarif

_MARK = {Outcome.FAILURE: "FAIL", Outcome.WARNING: "WARN", Outcome.EXCEPTION: "EXCP", Outcome.ERROR: "ERR "}
_COLOUR = {Outcome.FAILURE: "red", Outcome.WARNING: "yellow", Outcome.EXCEPTION: "cyan", Outcome.ERROR: "red"}


def _plain(text: str, **_: Any) -> str:
    return text


def render_table(report: PolicyReport, style: Callable[..., str] = _plain) -> str:
    """A readable table: one line per finding (outcome, severity, location, rule, message), then totals."""
    rows = [
        (_MARK[f.outcome], f.severity, f.location, f.rule_id, f.resource or "", f.message, f)
        for f in _ordered(report.findings)
    ]
    lines = []
    if rows:
        headers = ("", "SEVERITY", "LOCATION", "RULE", "RESOURCE", "MESSAGE")
        widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(5)]
        lines.append("  ".join(h.ljust(widths[i]) if i < 5 else h for i, h in enumerate(headers)).rstrip())
        for row in rows:
            f = row[6]
            assert isinstance(f, Finding)
            cells = [str(row[i]).ljust(widths[i]) for i in range(5)]
            cells[0] = style(cells[0], fg=_COLOUR[f.outcome], bold=True)
            line = "  ".join([*cells, str(row[5])])
            lines.append(line.rstrip())
            if f.remediation:
                lines.append(" " * (sum(widths) + 10) + style(f"fix: {f.remediation}", dim=True))
    if report.prints:  # the policies' print() output, as conftest shows it; prefixed, one line each
        lines.append(style("print() output:", dim=True))
        for text in report.prints:
            for part in re.split(r"[\r\n\u2028\u2029\x85\x0b\x0c]+", text):
                if part.strip():
                    lines.append("  | " + re.sub(r"[\x00-\x1f\x7f]", "?", part))
    counts = report.to_json()["counts"]
    summary = (
        f"{counts['checks']} checks, {counts['passed']} passed, {counts['failures']} failures, "
        f"{counts['warnings']} warnings, {counts['exceptions']} exceptions, {counts['errors']} errors"
    )
    verdict = (
        style("policy check failed", fg="red", bold=True) if report.failed else style("policy check passed", fg="green")
    )
    lines.append(("" if not rows else "\n") + f"{verdict}: {summary}")
    return "\n".join(lines)


def _ordered(findings: tuple[Finding, ...]) -> list[Finding]:
    order = {Outcome.ERROR: 0, Outcome.FAILURE: 1, Outcome.WARNING: 2, Outcome.EXCEPTION: 3}
    return sorted(findings, key=lambda f: (order[f.outcome], f.file or "", f.line, f.rule_id, f.message))


def to_junit_suite(report: PolicyReport, name: str = "deployforge.policy") -> JUnitSuite:
    """A test case per (rule, file or resource): failures for denials, skipped for warnings and
    exceptions, errors for engine/input errors, passing cases for every other check."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in report.findings:
        groups.setdefault((f.rule_id, f.target), []).append(f)
    classname_of: dict[str, str] = {}
    for f in report.findings:
        classname_of.setdefault(f.rule_id, f"policy.{f.namespace}" if f.namespace else "policy")
    keys: dict[tuple[str, str], tuple[str | None, int]] = {}
    for check in report.checks:
        keys.setdefault((check.rule_id, check.target), (check.file, 0))
    for (rule_id, target), fs in groups.items():
        keys.setdefault((rule_id, target), (fs[0].file, fs[0].line))
    cases = []
    for (rule_id, target), (file, _line) in sorted(keys.items()):
        fs = groups.get((rule_id, target), [])
        classname = classname_of.get(rule_id) or ("policy." + rule_id.rsplit(".", 1)[0] if "." in rule_id else "policy")
        text = "\n".join(
            f"{x.location}: {x.message}" + (f"\nfix: {x.remediation}" if x.remediation else "") for x in fs
        )
        props: tuple[tuple[str, str], ...] = ()
        if fs:
            props = (("severity", fs[0].severity),) + ((("resource", fs[0].resource),) if fs[0].resource else ())
        failure = error = skipped = None
        errors = [x for x in fs if x.outcome is Outcome.ERROR]
        fails = [x for x in fs if x.outcome is Outcome.FAILURE]
        if errors:
            error = JUnitOutcome(errors[0].message, text, "error")
        elif fails:
            failure = JUnitOutcome(
                fails[0].message if len(fails) == 1 else f"{len(fails)} denials: {fails[0].message}",
                text,
                fails[0].rule or "deny",
            )
        elif fs:
            kind = "warning" if any(x.outcome is Outcome.WARNING for x in fs) else "exception"
            skipped = JUnitOutcome(f"{kind}: {fs[0].message}", text, kind)
        line = next((x.line for x in fs if x.line), None)
        cases.append(
            JUnitCase(
                name=f"{rule_id} :: {target}",
                classname=classname,
                failure=failure,
                error=error,
                skipped=skipped,
                properties=props,
                file=file or None,
                line=line,
            )
        )
    return JUnitSuite(name, tuple(cases), properties=(("policies", ",".join(report.policies)),))


def to_sarif(report: PolicyReport, version: str = "0", base: str | None = None) -> dict[str, Any]:
    rules: dict[str, SarifRule] = {}
    results = []
    for f in _ordered(report.findings):
        if f.rule_id not in rules:
            rules[f.rule_id] = SarifRule(
                f.rule_id,
                f.rule or f.rule_id,
                f"{f.rule_id}: policy rule of package {f.namespace}" if f.namespace else f.rule_id,
                f.severity,
                f.remediation,
                tags=("policy", "iac"),
            )
        results.append(
            SarifResult(
                f.rule_id,
                f.message + (f" (resource {f.resource})" if f.resource and f.resource not in f.message else ""),
                f.severity,
                f.file,
                f.line,
                kind="review" if f.outcome is Outcome.WARNING else "fail",
                suppressed=f.outcome is Outcome.EXCEPTION,
                properties={"resource": f.resource} if f.resource else {},
            )
        )
    return render_sarif(
        list(rules.values()),
        results,
        tool="DeployForge policy",
        version=version,
        base=base,
    )


def to_annotations(report: PolicyReport) -> list[Annotation]:
    level = {Outcome.FAILURE: "error", Outcome.ERROR: "error", Outcome.WARNING: "warning", Outcome.EXCEPTION: "notice"}
    return [
        Annotation(level[f.outcome], f.message, f.file, f.line, title=f"{f.rule_id} ({f.severity})")
        for f in _ordered(report.findings)
    ]
