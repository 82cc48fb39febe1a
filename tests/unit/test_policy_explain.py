"""Issue 17 point 8: a false `allow` names the condition that failed (policy/explain.py), through regopy."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from deployforge.policy.evaluate import PolicyOptions, evaluate_paths
from deployforge.policy.explain import rule_bodies
from deployforge.policy.model import Outcome

ROOT = Path(__file__).resolve().parents[2]

TF = """\
resource "aws_s3_bucket" "wrong_region" {
  bucket = "a"
  region = "us-east-1"
  tags = { owner = "team-a" }
}
resource "aws_s3_bucket" "empty_owner" {
  bucket = "b"
  region = "us-west-2"
  tags = { owner = "" }
}
resource "aws_s3_bucket" "no_owner" {
  bucket = "c"
  region = "eu-central-1"
  tags = { team = "x" }
}
resource "aws_s3_bucket" "fine" {
  bucket = "d"
  region = "eu-central-1"
  tags = { owner = "me" }
}
"""


def _failures(tmp_path: Path, policy: str, tf: str = TF, name: str = "production.rego") -> dict[str, str]:
    (tmp_path / name).write_text(textwrap.dedent(policy), encoding="utf-8")
    (tmp_path / "main.tf").write_text(tf, encoding="utf-8")
    report = evaluate_paths([str(tmp_path / "main.tf")], PolicyOptions(policies=(str(tmp_path / name),)))
    assert not [f for f in report.findings if f.outcome is Outcome.ERROR], report.findings
    return {str(f.resource): f.message for f in report.findings if f.outcome is Outcome.FAILURE}


def test_the_product_pages_production_rego_says_whether_region_or_owner_failed(tmp_path: Path) -> None:
    policy = tmp_path / "production.rego"
    shutil.copy(ROOT / "examples" / "policies" / "production.rego", policy)
    lines = policy.read_text().splitlines()
    region_line = next(i for i, ln in enumerate(lines, 1) if "input.resource.region" in ln)
    owner_line = next(i for i, ln in enumerate(lines, 1) if "tags.owner" in ln)
    failures = _failures(tmp_path, policy.read_text())
    assert set(failures) == {"aws_s3_bucket.wrong_region", "aws_s3_bucket.empty_owner", "aws_s3_bucket.no_owner"}
    where = str(policy)
    assert failures["aws_s3_bucket.wrong_region"] == (
        "aws_s3_bucket.wrong_region is not allowed by policy deployforge.policies (allow is false): the condition "
        f"at {where}:{region_line} does not hold: input.resource.region == allowed_regions[_]"
    )
    assert failures["aws_s3_bucket.empty_owner"].endswith(
        f'the condition at {where}:{owner_line} does not hold: input.resource.tags.owner != ""'
    )
    # a missing tag makes the condition undefined: the same condition is named
    assert failures["aws_s3_bucket.no_owner"].endswith(
        f'{where}:{owner_line} does not hold: input.resource.tags.owner != ""'
    )


def test_the_cli_shows_the_failing_condition(tmp_path: Path) -> None:
    shutil.copy(ROOT / "examples" / "policies" / "production.rego", tmp_path / "production.rego")
    (tmp_path / "main.tf").write_text(TF, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "deployforge", "validate", "--policy=production.rego", "main.tf", "--no-color"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src"), "NO_COLOR": "1", "HOME": str(tmp_path)},
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "the condition at production.rego:8 does not hold: input.resource.region == allowed_regions[_]" in out.stdout
    assert 'the condition at production.rego:9 does not hold: input.resource.tags.owner != ""' in out.stdout


def test_rego_v1_bodies_several_definitions_and_bindings(tmp_path: Path) -> None:
    policy = """\
        package deployforge.policies
        import rego.v1

        default allow := false

        allow if {
          some region in ["us-west-2", "eu-central-1"]  # the approved ones
          input.resource.region == region
          owner := input.resource.tags.owner
          count(owner) > 0
        }

        allow if input.resource.tags.exempt == "yes"
        """
    failures = _failures(tmp_path, policy)
    where = str(tmp_path / "production.rego")
    region = failures["aws_s3_bucket.wrong_region"]
    assert "none of its 2 definitions holds: " in region
    assert f"the condition at {where}:8 does not hold: input.resource.region == region;" in region
    assert region.endswith(f'the condition at {where}:13 does not hold: input.resource.tags.exempt == "yes"')
    assert f"{where}:10 does not hold: count(owner) > 0" in failures["aws_s3_bucket.empty_owner"]
    assert f"{where}:9 does not hold: owner := input.resource.tags.owner" in failures["aws_s3_bucket.no_owner"]


def test_a_rule_that_cannot_be_explained_keeps_the_plain_message(tmp_path: Path) -> None:
    policy = """\
        package deployforge.policies
        import rego.v1

        default allow := false

        allow if {
          input.resource.region == "nowhere"
        } else := false if {
          input.resource.bucket == "a"
        }
        """
    failures = _failures(tmp_path, policy)
    assert (
        failures["aws_s3_bucket.fine"]
        == "aws_s3_bucket.fine is not allowed by policy deployforge.policies (allow is false)"
    )


def test_policy_text_is_shown_through_the_one_line_guard(tmp_path: Path) -> None:
    """The condition quoted in the message is policy (pull-request) text: no control characters, no ##[."""
    policy = """\
        package deployforge.policies
        import rego.v1

        default allow := false

        allow if {
          input.resource.tags.owner != "##[group]x"
        }
        """
    tf = 'resource "aws_s3_bucket" "x" {\n  bucket = "x"\n  tags = { owner = "##[group]x" }\n}\n'
    message = _failures(tmp_path, policy, tf)["aws_s3_bucket.x"]
    assert "does not hold: input.resource.tags.owner != " in message
    assert "##[group]" not in message and "\n" not in message


def test_rule_bodies_reads_the_forms_it_explains_and_refuses_the_others() -> None:
    text = textwrap.dedent(
        """\
        package p
        default allow = false
        allow_list = ["a"]
        allow {
          x := {"a": [1,
                      2]}  # a comment with } and ;
          y := "}"; z := `{`
          every v in x.a { v > 0 }
        }
        allow = true if { input.ok }
        allow if input.also
        """
    )
    bodies = rule_bodies("p.rego", text, "allow")
    assert bodies is not None
    assert [(b.line, [(e.text, e.line, e.end_line) for e in b.expressions]) for b in bodies] == [
        (
            4,
            [
                ('x := {"a": [1,\n              2]}', 5, 6),
                ('y := "}"', 7, 7),
                ("z := `{`", 7, 7),
                ("every v in x.a { v > 0 }", 8, 8),
            ],
        ),
        (10, [("input.ok", 10, 10)]),
        (11, [("input.also", 11, 11)]),
    ]
    assert rule_bodies("p.rego", "package p\ndefault allow := false\n", "allow") == []
    assert rule_bodies("p.rego", "package p\nallow := input.x\n", "allow") is None
    assert rule_bodies("p.rego", "package p\nallow if {\n  input.x\n} else := true\n", "allow") is None
