"""Issue 18 point 1: conftest's conventions and OPA's semantics, case by case (tests/conformance/cases.py).

Each case writes its own policies and inputs, runs DeployForge's policy evaluation (``validate
--policy`` / ``policy test``, in-process), and compares the outcome with what conftest/OPA gives.
The terminal summary prints "conformance with OPA/conftest: N of M match; K silent passes"; a silent
pass (OPA fails, we pass with exit 0) is the one outcome a policy gate must never have.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deployforge.policy.evaluate import PolicyOptions, evaluate_paths
from deployforge.policy.testing import run_tests
from tests.conformance.cases import CASES, Case


def _ours(case: Case) -> tuple[int, tuple[tuple[str, str], ...]]:
    report = evaluate_paths(
        list(case.inputs),
        PolicyOptions(
            policies=case.policies,
            namespaces=case.namespaces,
            all_namespaces=case.all_namespaces,
            data=case.data,
            rego_version=case.rego_version,
        ),
    )
    kinds = {"failure": "failure", "warning": "warning", "exception": "exception"}
    got = tuple(sorted((kinds[f.outcome.value], f.message) for f in report.findings if f.outcome.value in kinds))
    return report.exit_code, got


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case_matches_conftest(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record_property) -> None:
    for name, text in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    if case.kind == "test":
        report = run_tests(list(case.policies), list(case.data), rego_version=case.rego_version)
        counts = report.counts()
        record_property("conformance", "mismatch")
        assert (report.exit_code, counts) == (case.expect_exit, case.expect_tests), report.to_json()
        return
    code, got = _ours(case)
    silent = case.expect_exit == 1 and code == 0
    record_property("conformance", "silent-pass" if silent else "mismatch")
    matches = (code, got) == (case.expect_exit, tuple(sorted(case.expect)))
    if not matches and case.known_difference and not silent:
        record_property("conformance", "known-difference")
        pytest.xfail(case.known_difference)
    assert not case.known_difference or not matches, "a known difference is gone: drop known_difference"
    assert (code, got) == (case.expect_exit, tuple(sorted(case.expect)))
