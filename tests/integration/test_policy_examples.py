"""The shipped example policies: their own tests pass, and they find what they promise on
Terraform files and on a DeployForge config through the plan gate (check_plan)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from deployforge.config.load import load_config
from deployforge.policy.evaluate import PolicyOptions, evaluate_paths
from deployforge.policy.gate import check_plan
from deployforge.policy.testing import run_tests

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"

STACK = """\
provider "aws" {
  region = "us-east-1"
}

resource "aws_s3_bucket" "site" {
  bucket = "site"
  acl    = "public-read"
}

resource "aws_security_group" "db" {
  tags = {
    owner = "data"
  }
  ingress {
    from_port   = 5432
    to_port     = 5432
    cidr_blocks = ["0.0.0.0/0"]
  }
}
"""


def test_example_policy_tests_all_pass():
    report = run_tests([str(EXAMPLES)])
    assert report.problems == ()
    assert report.counts() == {"pass": len(report.results), "fail": 0, "error": 0}
    assert len(report.results) >= 20


def test_examples_on_terraform(tmp_path):
    tf = tmp_path / "stack.tf"
    tf.write_text(STACK)
    report = evaluate_paths([str(tf)], PolicyOptions(policies=(str(EXAMPLES),)))
    got = sorted((f.rule_id, f.resource, f.line) for f in report.failures)
    assert got == [
        ("DF-ENC-001", "aws_s3_bucket.site", 5),
        ("DF-NET-001", "aws_security_group.db", 10),
        ("DF-REG-001", "aws_s3_bucket.site", 5),
        ("DF-REG-001", "aws_security_group.db", 10),
        ("DF-S3-001", "aws_s3_bucket.site", 5),
        ("DF-TAG-001", "aws_s3_bucket.site", 5),
        ("deployforge.policies.allow", "aws_s3_bucket.site", 5),
        ("deployforge.policies.allow", "aws_security_group.db", 10),
    ]
    assert not report.errors


def test_allowed_regions_from_data_file(tmp_path):
    tf = tmp_path / "stack.tf"
    tf.write_text(STACK)
    data = tmp_path / "regions.json"
    data.write_text(json.dumps({"allowed_regions": ["us-east-1"]}))
    report = evaluate_paths(
        [str(tf)], PolicyOptions(policies=(str(EXAMPLES / "allowed_regions.rego"),), data=(str(data),))
    )
    assert report.findings == ()


def test_gate_on_config_and_plan(tmp_path):
    (tmp_path / "deployforge.yaml").write_text(
        textwrap.dedent(f"""\
        targets:
          main: {{provider: aws, region: us-east-1}}
        policies:
          - {EXAMPLES / "required_tags.rego"}
          - path: {EXAMPLES / "encryption.rego"}
            namespace: deployforge.encryption
        resources:
          artifacts:
            type: aws_s3_bucket
            properties:
              bucket: artifacts
              encryption: {{sse_algorithm: AES256}}
            tags: {{owner: platform}}
          scratch:
            type: aws_s3_bucket
            properties:
              bucket: scratch
        """)
    )
    config = load_config(str(tmp_path / "deployforge.yaml"), environ={})
    report = check_plan(config, None)
    got = sorted((f.rule_id, f.resource, f.line) for f in report.failures)
    assert got == [("DF-ENC-001", "aws_s3_bucket.scratch", 14), ("DF-TAG-001", "aws_s3_bucket.scratch", 14)]
    assert report.failed and report.to_json()["counts"]["failures"] == 2


def test_gate_without_policies_passes(tmp_path):
    (tmp_path / "deployforge.yaml").write_text("targets:\n  main: {provider: aws, region: us-east-1}\n")
    config = load_config(str(tmp_path / "deployforge.yaml"), environ={})
    report = check_plan(config, None)
    assert not report.failed and report.findings == ()
