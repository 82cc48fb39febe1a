"""The plan digest a reviewer approves, and its record in the PR comment (issue 14 point 5)."""

from __future__ import annotations

from dataclasses import replace

from tests.unit.test_markdown_golden import CTX, load_case

from deployforge.model.digest import differences, plan_digest, resource_digests
from deployforge.render.markdown import read_plan_record, render_comment


def test_the_digest_covers_the_changes_only() -> None:
    result = load_case("full_run")
    plan = result.plan
    assert plan is not None
    digest = plan_digest(plan)
    assert digest.startswith("sha256:") and len(digest) == 7 + 64
    same = replace(plan, created_at="2030-01-01T00:00:00Z", run_id="DF-TRC-OTHER", state_serial=99)
    assert plan_digest(same) == digest  # when and by whom it was planned does not matter
    reordered = replace(plan, resources=tuple(reversed(plan.resources)))
    assert plan_digest(reordered) == digest
    changed = plan.resources[0]
    other = replace(changed, changes=(replace(changed.changes[0], after=5),))
    moved = replace(plan, resources=(other, *plan.resources[1:]))
    assert plan_digest(moved) != digest
    assert differences(resource_digests(plan), resource_digests(moved)) == [
        "aws_autoscaling_group.web: its changes differ"
    ]
    fewer = replace(plan, resources=plan.resources[1:])
    assert differences(resource_digests(plan), resource_digests(fewer)) == [
        "aws_autoscaling_group.web is no longer in the plan (was update)"
    ]


def test_the_comment_records_the_digest_where_nothing_can_end_the_hidden_record() -> None:
    result = load_case("full_run")
    assert result.plan is not None
    res = result.plan.resources[3]
    tricky = replace(res, name="a--b-->c")
    result = replace(result, plan=replace(result.plan, resources=(*result.plan.resources, tricky)))
    body = render_comment(result, CTX)
    record_line = next(line for line in body.splitlines() if line.startswith("<!-- deployforge:plan "))
    assert "--" not in record_line[len("<!-- ") : -len(" -->")] and ">" not in record_line[:-3]
    record = read_plan_record(body)
    assert record is not None and record["digest"] == plan_digest(result.plan)
    assert "aws_s3_bucket.a--b-->c" in record["resources"]
