"""Golden files for the PR comment and the job summary, and the comment's structure (markdown-it-py).

Input cases: tests/golden/comment/cases/*.json (a RunResult's JSON shape: plan, and the policy,
canary and drift sections as their ``to_json()`` documents). Expected output beside them:
tests/golden/comment/<case>.md and tests/golden/summary/<case>.md.
Regenerate after an intended change: scripts/regen_golden.sh (DEPLOYFORGE_REGEN_GOLDEN=1).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from deployforge.errors import ConfigIssue, Location
from deployforge.model.plan import Plan
from deployforge.model.result import RunResult
from deployforge.render.markdown import GITHUB_COMMENT_LIMIT, RenderContext, marker, render_comment
from deployforge.render.summary import SUMMARY_LIMIT, render_summary, utf8_size

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CASES = sorted(p.stem for p in (GOLDEN / "comment" / "cases").glob("*.json"))
REGEN = os.environ.get("DEPLOYFORGE_REGEN_GOLDEN") == "1"
CTX = RenderContext(
    workflow="pr",
    run_url="https://github.com/octo/infra/actions/runs/777",
    commit="9f2c1e0b7a6d5c4b3a29",
    summary_url="https://github.com/octo/infra/actions/runs/777",
    artifact=".deployforge/reports/report.md",
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
    assert "left out to fit GitHub's comment size limit" in text and "[job summary](" in text
    assert "<sub>[workflow run]" in text  # the footer survives
    s = structure(text)
    assert s["details_open"] == s["details_close"] and text.count("```") % 2 == 0
    assert len(render_comment(big, CTX, limit=20000)) <= 20000


# -- byte budgets (issue 14 point 2) -----------------------------------------------------------------


def japanese_findings(n: int) -> RunResult:
    """The japanese case with ``n`` findings (as many as a big monorepo's tag policy reports)."""
    from dataclasses import replace

    base = load_case("japanese")
    data = base.policy.to_json()
    template = data["findings"]
    findings = [dict(template[i % len(template)], rule_id=f"TAG-{i:05d}") for i in range(n)]
    for i, f in enumerate(findings):
        f["message"] = f"タグ「所有者」がありません、バケット番号{i}は本番環境のデータを保存しています" * 2
    failures = sum(1 for f in findings if f["outcome"] == "failure")
    counts = dict(data["counts"], checks=n + 5, failures=failures, warnings=n - failures)
    return replace(base, policy=SectionDoc(dict(data, findings=findings, counts=counts)))


def details_of(text: str, title: str) -> str:
    start = text.index(f"<summary>{title}")
    return text[start : text.index("</details>", start)]


def test_summary_budget_is_bytes_and_cuts_rows_inside_sections_never_a_section() -> None:
    result = japanese_findings(3500)
    full = render_summary(result, CTX, limit=None)
    assert utf8_size(full) > SUMMARY_LIMIT > len(full)  # over the runner's limit in bytes, not in characters
    text = render_summary(result, CTX)
    assert utf8_size(text) < SUMMARY_LIMIT  # the runner keeps it (it drops a summary over 1 MiB whole)
    plan = details_of(text, "Plan:")  # the small section is untouched: the largest one is cut
    assert plan.count("```diff") == 6 and "left out" not in plan
    policy = details_of(text, "Policy:")
    kept = policy.count("| failure |") + policy.count("| warning |")
    assert 1000 < kept < 3500
    assert f"{3500 - kept:,} of 3,500 findings left out here" in policy
    assert "every one is in the full report `.deployforge/reports/report.md`" in policy
    assert "| failure | high | `TAG-00000` |" in policy  # the most important rows stay
    assert "本番環境" in policy and "\\u" not in text  # non-ASCII as is


def test_comment_budget_cuts_the_largest_section_first_and_says_where_the_rest_is() -> None:
    result = japanese_findings(3500)
    text = render_comment(result, CTX)
    assert len(text) <= GITHUB_COMMENT_LIMIT
    assert details_of(text, "Plan:").count("```diff") == 6  # the plan (small) keeps every row
    policy = details_of(text, "Policy:")
    cut = r"[\d,]+ of 3,500 findings left out here to fit the size limit; every one is in the \[job summary\]"
    assert re.search(cut, policy)
    assert "Some rows were left out to fit GitHub's comment size limit" in text


def test_a_cut_comment_never_ends_with_an_empty_diff_block() -> None:
    from dataclasses import replace

    base = load_case("full_run")
    assert base.plan is not None
    res = base.plan.resources[3]
    many = tuple(type(res)(f"b{i:04d}", res.type, res.target, res.action, res.changes) for i in range(400))
    big = replace(base, plan=replace(base.plan, resources=base.plan.resources + many))
    for limit in range(6000, 66000, 1999):
        text = render_comment(big, CTX, limit=limit)
        assert len(text) <= limit
        blocks = re.findall(r"```diff\n(.*?)```", text, flags=re.S)
        assert all(b.strip() for b in blocks), limit  # every diff block has its lines
        assert limit < 40000 or len(blocks) > 10
        assert text.count("```") % 2 == 0
        s = structure(text)
        assert s["details_open"] == s["details_close"]


def test_summaries_of_details_show_values_in_code_tags_never_backticks() -> None:
    from dataclasses import replace

    base = load_case("full_run")
    canary = dict(base.canary.to_json(), strategy="blue`green")
    text = render_comment(replace(base, canary=SectionDoc(canary)), CTX)
    summaries = re.findall(r"<summary>(.*?)</summary>", text)
    assert "Canary (<code>blue&#96;green</code>)" in summaries
    assert not any("`" in x for x in summaries)


@pytest.mark.parametrize("kind", ["comment", "summary"])
def test_cut_golden(kind: str) -> None:
    """What a reader sees when rows were cut: the notes, the kept rows, the footer."""
    result = japanese_findings(60)
    text = render_comment(result, CTX, limit=9000) if kind == "comment" else render_summary(result, CTX, limit=12000)
    check_golden(GOLDEN / kind / "japanese_cut.md", text)
