"""The Action's JUnit and SARIF files: suites from every present section, SARIF from policy findings."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from deployforge.action import outcome_of, read_settings, write_reports
from deployforge.model.result import RunResult
from deployforge.policy.model import Check, Finding, Outcome, PolicyReport
from deployforge.render.junit import parse_junit


def policy_report() -> PolicyReport:
    finding = Finding("S3-001", "high", Outcome.FAILURE, "bucket is public", "deployforge.yaml", 12, "aws_s3_bucket.a")
    return PolicyReport(
        findings=(finding,),
        checks=(Check("S3-001", finding.target, "deployforge.yaml", "aws_s3_bucket.a"), Check("TAG-1", "b")),
        policies=("policies/s3.rego",),
    )


def test_junit_and_sarif_from_the_policy_section(tmp_path: Path) -> None:
    settings = read_settings(
        {
            "INPUT_JUNIT-PATH": str(tmp_path / "r/junit.xml"),
            "INPUT_SARIF-PATH": str(tmp_path / "r/x.sarif"),
            "GITHUB_WORKSPACE": str(tmp_path),
        }
    )
    result = RunResult("plan", "staging", "DF-TRC-1", 1, policy=policy_report())
    written = write_reports(settings, result)
    assert set(written) == {"junit-path", "sarif-path"}
    suites = parse_junit(Path(written["junit-path"]).read_text())
    cases = [c for s in suites for c in s.cases]
    assert [c.status for c in cases].count("failure") == 1 and len(cases) == 2
    sarif = json.loads(Path(written["sarif-path"]).read_text())
    results = sarif["runs"][0]["results"]
    assert results[0]["ruleId"] == "S3-001"
    assert results[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 12


def test_no_sections_no_files_and_fail_on(tmp_path: Path) -> None:
    settings = read_settings({"INPUT_JUNIT-PATH": str(tmp_path / "j.xml"), "INPUT_FAIL-ON": "policy"})
    assert write_reports(settings, RunResult("validate", None, "DF-TRC-1", 0)) == {}
    failing = RunResult("plan", "staging", "DF-TRC-1", 1, policy=policy_report())
    out = outcome_of(settings, failing)
    assert out["policy_failures"] == 1 and out["fail_reasons"] == ["1 policy failure"]
    never = replace(settings, fail_on=frozenset({"never"}))
    assert outcome_of(never, failing)["fail_reasons"] == []


def test_every_junit_suite_names_the_runs_trace_id(monkeypatch):
    from types import SimpleNamespace

    from deployforge.render import suites

    class Section:
        pass

    result = SimpleNamespace(
        trace_id="DF-TRC-2QBB3T9B12", run_id="DF-TRC-2QBB3T9B12", policy=None, canary=None, drift=Section()
    )
    monkeypatch.setattr(suites, "JUNIT_PRODUCERS", {"drift": _one_suite})
    [suite] = suites.junit_suites(result)
    assert ("deployforge.trace_id", "DF-TRC-2QBB3T9B12") in suite.properties


def _one_suite(section, environment):
    from deployforge.render.junit import JUnitSuite

    return JUnitSuite(name="drift")
