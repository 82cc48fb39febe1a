"""Golden files for the PR comment and the job summary, and the comment's structure (markdown-it-py).

Input cases: tests/golden/comment/cases/*.json (a RunResult's JSON shape: plan, and the policy,
canary and drift sections as their ``to_json()`` documents). Expected output beside them:
tests/golden/comment/<case>.md and tests/golden/summary/<case>.md.
Regenerate after an intended change: scripts/regen_golden.sh (DEPLOYFORGE_REGEN_GOLDEN=1).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from deployforge.errors import ConfigIssue, Location
from deployforge.model.plan import Plan
from deployforge.model.result import RunResult
from deployforge.render.markdown import GITHUB_COMMENT_LIMIT, RenderContext, marker, render_comment
from deployforge.render.summary import render_summary

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CASES = sorted(p.stem for p in (GOLDEN / "comment" / "cases").glob("*.json"))
REGEN = os.environ.get("DEPLOYFORGE_REGEN_GOLDEN") == "1"
CTX = RenderContext(
    workflow="pr",
    run_url="https://github.com/octo/infra/actions/runs/777",
    commit="9f2c1e0b7a6d5c4b3a29",
    summary_url="https://github.com/octo/infra/actions/runs/777",
    artifact=".deployforge/reports/summary.md",
)


@dataclass(frozen=True)
class SectionDoc:
    """A stage section as the renderers see it: only its to_json() document."""

    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self.data


def load_case(name: str) -> RunResult:
    data = json.loads((GOLDEN / "comment" / "cases" / f"{name}.json").read_text())
    issues = tuple(
        ConfigIssue(i["message"], Location(i["file"], i["line"], i["column"]), i.get("hint"))
        for i in data.get("issues", [])
    )
    return RunResult(
        data["command"],
        data["environment"],
        "DF-TRC-GOLDEN0001",
        data["exit_code"],
        issues=issues,
        plan=Plan.from_json(data["plan"]) if "plan" in data else None,
        **{k: SectionDoc(data[k]) for k in ("policy", "canary", "drift") if k in data},
    )


def check_golden(path: Path, text: str) -> None:
    if REGEN:
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} missing: run scripts/regen_golden.sh"
    assert text == path.read_text(encoding="utf-8"), f"{path} differs: run scripts/regen_golden.sh if intended"


@pytest.mark.parametrize("case", CASES)
def test_comment_golden(case: str) -> None:
    check_golden(GOLDEN / "comment" / f"{case}.md", render_comment(load_case(case), CTX))


@pytest.mark.parametrize("case", CASES)
def test_summary_golden(case: str) -> None:
    check_golden(GOLDEN / "summary" / f"{case}.md", render_summary(load_case(case), CTX))


def structure(text: str) -> dict[str, Any]:
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    html = [t.content for t in tokens if t.type == "html_block"]
    return {
        "first_html": html[0] if html else "",
        "headings": [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"],
        "tables": sum(1 for t in tokens if t.type == "table_open"),
        "details_open": sum(h.count("<details") for h in html),
        "details_close": sum(h.count("</details>") for h in html),
        "fences_closed": all(t.type != "fence" or t.markup == "```" for t in tokens),
        "bold": [tokens[i].children for i, t in enumerate(tokens) if t.type == "inline"],
    }


@pytest.mark.parametrize("case", CASES)
def test_every_comment_has_the_expected_structure(case: str) -> None:
    result = load_case(case)
    text = render_comment(result, CTX)
    s = structure(text)
    assert s["first_html"].strip() == marker("pr", result.environment)  # found again by its marker
    assert len(s["headings"]) == 1 and "DeployForge" in s["headings"][0]  # one status line
    assert s["tables"] >= 1  # the summary table
    assert s["details_open"] == s["details_close"]  # every <details> closed
    assert text.count("```") % 2 == 0


def test_destructive_changes_and_policy_failures_come_before_any_details() -> None:
    text = render_comment(load_case("full_run"), CTX)
    first_details = text.index("<details")
    for needle in ("**Destructive changes**", "**Policy failures**", "**Security-critical drift**", "`error_rate`"):
        assert text.index(needle) < first_details, needle
    destructive = text[text.index("**Destructive changes**") : first_details]
    assert destructive.index("aws_s3_bucket.logs") < destructive.index("aws_security_group.sg")  # deletes first
    assert "❌ DeployForge run" in text.splitlines()[1]


def test_a_huge_plan_is_cut_to_the_limit_keeping_the_summary() -> None:
    base = load_case("full_run")
    assert base.plan is not None
    many = tuple(
        type(base.plan.resources[3])(
            f"bucket{i:05d}", "aws_s3_bucket", "aws_main", base.plan.resources[3].action, base.plan.resources[3].changes
        )
        for i in range(3000)
    )
    from dataclasses import replace

    big = replace(base, plan=replace(base.plan, resources=base.plan.resources + many))
    text = render_comment(big, CTX)
    assert len(text) <= GITHUB_COMMENT_LIMIT
    assert "| Plan |" in text and "**Destructive changes**" in text and "**Policy failures**" in text
    assert "cut to fit GitHub's comment size limit" in text and "[job summary](" in text
    assert "<sub>[workflow run]" in text  # the footer survives
    s = structure(text)
    assert s["details_open"] == s["details_close"] and text.count("```") % 2 == 0
    assert len(render_comment(big, CTX, limit=20000)) <= 20000
