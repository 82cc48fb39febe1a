"""Golden files for what people read from drift: the console table (``drift list``), the Markdown
section (``--markdown``: PR comment, job summary), the environment's GitHub issue (body, title,
closing comment) and the JUnit XML (``--junit``).

Input cases are JSON documents in ``cases/`` (the shape of ``DriftReport.to_json()``, plus
``checked_names`` and ``fail_on``); each renders to ``<case>.console.txt``, ``<case>.md``,
``<case>.issue.md`` and ``<case>.junit.xml`` beside this file. The inputs carry fixed timestamps and
JUnit times are 0, so the outputs are stable without normalising anything.

Regenerate after an intended change:  DEPLOYFORGE_REGEN_GOLDEN=1 pytest tests/golden
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from deployforge.drift.issues import (
    GITHUB_BODY_LIMIT,
    closing_comment,
    decide,
    issue_title,
    labels,
    marker,
    render_issue_body,
)
from deployforge.drift.model import AttributeDrift, DriftRecord, DriftReport, Severity, Status
from deployforge.drift.report import render_markdown, render_table, to_junit_suite
from deployforge.render.junit import check_junit, parse_junit, render_junit

HERE = Path(__file__).parent
CASES = sorted(p.stem for p in (HERE / "cases").glob("*.json"))
RUN_URL = "https://github.com/acme/infra/actions/runs/4242"


def check(name: str, text: str) -> None:
    path = HERE / name
    if os.environ.get("DEPLOYFORGE_REGEN_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with DEPLOYFORGE_REGEN_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; if intended: DEPLOYFORGE_REGEN_GOLDEN=1"


def _record(doc: dict[str, Any]) -> DriftRecord:
    def changes(key: str) -> tuple[AttributeDrift, ...]:
        return tuple(AttributeDrift(c["path"], c["expected"], c["actual"]) for c in doc.get(key, []))

    return DriftRecord(
        id=doc["id"],
        environment=doc["environment"],
        resource=doc["resource"],
        type=doc["type"],
        target=doc["target"],
        resource_id=doc["resource_id"],
        status=Status(doc["status"]),
        changes=changes("changes"),
        severity=Severity(doc["severity"]) if doc.get("severity") else None,
        reason=doc.get("reason", ""),
        first_seen=doc.get("first_seen", ""),
        last_seen=doc.get("last_seen", ""),
        ignored=doc.get("ignored"),
        ignored_changes=changes("ignored_changes"),
        error=doc.get("error"),
    )


def load_case(name: str) -> DriftReport:
    doc = json.loads((HERE / "cases" / f"{name}.json").read_text(encoding="utf-8"))
    return DriftReport(
        environment=doc["environment"],
        baseline_id=doc["baseline_id"],
        baseline_taken_at=doc["baseline_taken_at"],
        checked_at=doc["checked_at"],
        records=tuple(_record(r) for r in doc["records"]),
        resources_checked=doc["resources_checked"],
        checked_names=tuple(doc.get("checked_names", ())),
        warnings=tuple(doc.get("warnings", ())),
        fail_on=Severity(doc.get("fail_on", "informational")),
    )


def tables(markdown: str) -> list[int]:
    """Body rows of each table, as GitHub's Markdown (GFM tables) would parse them."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    out: list[int] = []
    rows = 0
    for token in tokens:
        if token.type == "tbody_open":
            rows = 0
        elif token.type == "tr_open":
            rows += 1
        elif token.type == "tbody_close":
            out.append(rows)
    return out


@pytest.mark.parametrize("case", CASES)
def test_console_table(case):
    check(f"{case}.console.txt", render_table(load_case(case)) + "\n")


@pytest.mark.parametrize("case", CASES)
def test_markdown_section(case):
    text = render_markdown(load_case(case))
    check(f"{case}.md", text)


@pytest.mark.parametrize("case", CASES)
def test_issue_body(case):
    report = load_case(case)
    body = render_issue_body(report, run_url=RUN_URL)
    check(f"{case}.issue.md", body)
    assert body.startswith(marker(report.environment) + "\n")
    shown = len(report.active) + len(report.not_checked)
    # the summary table (3 severities + total), then one table per non-empty group, a row per record
    counts = tables(body)
    assert counts[0] == 4 and sum(counts[1:]) == shown


@pytest.mark.parametrize("case", CASES)
def test_junit(case):
    text = render_junit([to_junit_suite(load_case(case))])
    check(f"{case}.junit.xml", text)
    assert check_junit(text) == []
    (suite,) = parse_junit(text)
    report = load_case(case)  # a case per baseline resource, and per unmanaged object
    assert sorted(c.name for c in suite.cases) == sorted({*report.checked_names, *(r.resource for r in report.records)})


def test_issue_lifecycle_texts():
    lines = []
    for case in CASES:
        report = load_case(case)
        what = decide(report)
        lines += [
            f"[{case}]",
            f"decision: {what}",
            f"labels: {', '.join(labels(report.environment))}",
            f"title: {issue_title(report)}"
            if what != "close"
            else f"closing comment: {closing_comment(report, RUN_URL)}",
            "",
        ]
    check("issue_lifecycle.txt", "\n".join(lines))


def test_issue_body_cut():
    """Details are cut to fit (here a small limit stands for GitHub's 65,536); the summary never is."""
    report = load_case("mixed")
    body = render_issue_body(report, run_url=RUN_URL, limit=2400)
    check("mixed.issue-cut.md", body)
    assert len(body) <= 2400 < GITHUB_BODY_LIMIT
    assert tables(body)[0] == 4 and "Details cut to fit" in body
