"""The PR comment and the job summary under GitHub's limits, for large results (issue 14 point 2).

N policy findings with Japanese messages (3 bytes a character in UTF-8) plus a 200-resource plan,
rendered the way the Action renders them; each measurement in a fresh process (``_harness``), min
and median of ``--repeats``, wall and CPU time:

- ``deployforge``: the job summary cut to 1 MiB of UTF-8 bytes and the comment to 65,536
  characters, rows cut inside sections (``render_summary`` + ``render_comment``), plus the full
  report file (``render_summary(limit=None)``), as ``action.py`` writes all three;
- ``naive``: everything rendered, then the bytes cut at 1 MiB and the characters at 65,536 (what a
  plain truncation does: fast, but it can cut inside a table row, a code fence or a ``<details>``).

Printed per size: the times, the output sizes (bytes / characters), and whether each output is
under its limit and keeps its structure (as many ``<details>`` closed as opened). No peer renders
DeployForge's results, so the comparison is with the naive cut in the same run.

    python benchmarks/bench_report_budget.py [--sizes 1000,3500,10000,30000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import fmt, repeat

SUMMARY_LIMIT = 1024 * 1024
COMMENT_LIMIT = 65536


@dataclass(frozen=True)
class Doc:
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return self.data


def build(n: int) -> Any:
    from deployforge.model.plan import Action, AttributeChange, Plan, ResourcePlan
    from deployforge.model.result import RunResult

    resources = tuple(
        ResourcePlan(
            f"bucket{i:04d}",
            "aws_s3_bucket",
            "aws_main",
            Action.UPDATE,
            (AttributeChange("tags", {"Name": "旧"}, {"Name": f"本番バケット{i}", "Owner": "インフラ"}),),
            resource_id=f"b-{i}",
        )
        for i in range(200)
    )
    plan = Plan("production", "cafe", 1, "l", resources)
    findings = [
        {
            "rule_id": f"TAG-{i:05d}",
            "severity": ("critical", "high", "medium", "low")[i % 4],
            "outcome": "failure" if i % 3 == 0 else "warning",
            "message": f"タグ「所有者」がありません、バケット番号{i}は本番環境のデータを保存しています" * 2,
            "file": "deployforge.yaml",
            "line": 10 + i,
            "resource": f"aws_s3_bucket.bucket{i % 200:04d}",
            "remediation": "tags に Owner を追加してください",
        }
        for i in range(n)
    ]
    failures = sum(1 for f in findings if f["outcome"] == "failure")
    counts = {"checks": n, "passed": 0, "failures": failures, "warnings": n - failures, "exceptions": 0, "errors": 0}
    policy = Doc({"passed": False, "exit_code": 1, "counts": counts, "findings": findings})
    return replace(RunResult("plan", "production", "DF-TRC-BENCH00001", 1, plan=plan), policy=policy)


def closed(text: str) -> bool:
    return text.count("<details") == text.count("</details>") and text.count("```") % 2 == 0


def run_deployforge(n: int) -> dict[str, Any]:
    from deployforge.render.markdown import RenderContext, render_comment, sections
    from deployforge.render.summary import render_summary

    result = build(n)
    ctx = RenderContext(workflow="pr", run_url="https://github.com/o/r/actions/runs/1", artifact="report.md")
    wall, cpu = time.perf_counter(), time.process_time()
    secs = sections(result)  # once, as action.py does
    summary = render_summary(result, ctx, secs=secs)
    comment = render_comment(result, ctx, secs=secs)
    full = render_summary(result, ctx, limit=None, secs=secs)
    out = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    return out | sizes(summary, comment, full)


def run_naive(n: int) -> dict[str, Any]:
    from deployforge.render.markdown import RenderContext, render_comment, sections
    from deployforge.render.summary import render_summary

    result = build(n)
    ctx = RenderContext(workflow="pr", run_url="https://github.com/o/r/actions/runs/1", artifact="report.md")
    wall, cpu = time.perf_counter(), time.process_time()
    secs = sections(result)
    full = render_summary(result, ctx, limit=None, secs=secs)
    summary = full.encode()[: SUMMARY_LIMIT - 1].decode("utf-8", errors="ignore")
    comment = render_comment(result, ctx, limit=10**9, secs=secs)[:COMMENT_LIMIT]
    out = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    return out | sizes(summary, comment, full)


def sizes(summary: str, comment: str, full: str) -> dict[str, Any]:
    return {
        "summary_bytes": len(summary.encode()),
        "comment_chars": len(comment),
        "full_bytes": len(full.encode()),
        "summary_ok": len(summary.encode()) < SUMMARY_LIMIT and closed(summary),
        "comment_ok": len(comment) <= COMMENT_LIMIT and closed(comment),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,3500,10000,30000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for n in (int(x) for x in args.sizes.split(",")):
        print(f"{n:,} findings (Japanese) + 200 planned resources")
        for name, fn in (("deployforge", run_deployforge), ("naive", run_naive)):
            runs = repeat(args.repeats, fn, n)
            if "error" in runs[0]:
                print(f"  {name:12s} error: {runs[0]['error']}")
                continue
            r = runs[0]
            print(
                f"  {name:12s} wall {fmt(runs, 'wall_s')}; cpu {fmt(runs, 'cpu_s')}; "
                f"summary {r['summary_bytes']:,} B ({'ok' if r['summary_ok'] else 'BROKEN'}), "
                f"comment {r['comment_chars']:,} chars ({'ok' if r['comment_ok'] else 'BROKEN'}), "
                f"full report {r['full_bytes']:,} B"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
