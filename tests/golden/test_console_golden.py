"""Golden files for what people read on the console: plan and apply renderings.

Regenerate after an intended change:  DEPLOYFORGE_REGEN_GOLDEN=1 pytest tests/golden
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deployforge.config.refs import UNKNOWN
from deployforge.model.plan import (
    Action,
    ApplyResult,
    AttributeChange,
    Outcome,
    Plan,
    ResourcePlan,
    ResourceResult,
)
from deployforge.render.console import render_apply, render_plan

HERE = Path(__file__).parent / "console"


def check(name: str, text: str) -> None:
    path = HERE / name
    if os.environ.get("DEPLOYFORGE_REGEN_GOLDEN"):
        path.write_text(text + "\n", encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with DEPLOYFORGE_REGEN_GOLDEN=1"
    assert text + "\n" == path.read_text(encoding="utf-8")


MIXED = Plan(
    environment="prod",
    config_hash="h",
    state_serial=4,
    state_lineage="l",
    resources=(
        ResourcePlan(
            "artifacts",
            "aws_s3_bucket",
            "aws_main",
            Action.CREATE,
            (
                AttributeChange("bucket", None, "acme-artifacts"),
                AttributeChange("versioning", None, True),
                AttributeChange("tags", None, {"owner": "platform"}),
            ),
        ),
        ResourcePlan(
            "web_lt",
            "aws_launch_template",
            "aws_main",
            Action.UPDATE,
            (
                AttributeChange("instance_type", "t3.micro", "t3.small"),
                AttributeChange("security_group_ids", ["sg-1"], UNKNOWN),
            ),
            resource_id="lt-1",
        ),
        ResourcePlan(
            "web_sg",
            "aws_security_group",
            "aws_main",
            Action.REPLACE,
            (AttributeChange("description", "Web", "Web tier", forces_replacement=True),),
            resource_id="sg-1",
        ),
        ResourcePlan("web_asg", "aws_autoscaling_group", "aws_main", Action.NOOP, resource_id="asg"),
        ResourcePlan("old_alarm", "aws_cloudwatch_metric_alarm", "aws_main", Action.DELETE, resource_id="old-alarm"),
        ResourcePlan(
            "gone",
            "aws_s3_bucket",
            "aws_main",
            Action.CREATE,
            (AttributeChange("bucket", None, "gone"),),
            note="it was deleted outside DeployForge; it will be created again",
        ),
    ),
)


@pytest.mark.parametrize(
    "name,plan",
    [("plan_mixed.txt", MIXED), ("plan_nochange.txt", Plan("dev", "h", 1, "l", (MIXED.resources[3],)))],
)
def test_plan_rendering(name, plan):
    check(name, render_plan(plan))


def test_apply_rendering_with_failures():
    result = ApplyResult(
        environment="prod",
        results=(
            ResourceResult(
                "artifacts",
                "aws_s3_bucket",
                Action.CREATE,
                Outcome.SUCCEEDED,
                "acme-artifacts",
                duration_s=1.2,
            ),
            ResourceResult(
                "web_sg",
                "aws_security_group",
                Action.REPLACE,
                Outcome.FAILED,
                "sg-1",
                error="aws_security_group.web_sg: DependencyViolation: resource sg-1 has a dependent object",
                hint="something else still uses it; detach it first",
                duration_s=0.4,
            ),
            ResourceResult(
                "web_lt",
                "aws_launch_template",
                Action.UPDATE,
                Outcome.SKIPPED,
                "lt-1",
                reason="depends on aws_security_group.web_sg, which failed",
            ),
            ResourceResult("web_asg", "aws_autoscaling_group", Action.NOOP, Outcome.UNCHANGED, "asg"),
        ),
        duration_s=2.5,
    )
    check("apply_failed.txt", render_apply(result))
