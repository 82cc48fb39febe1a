"""Issue 18 point 1: conftest's conventions and OPA's semantics, case by case (tests/conformance/cases.py).

Each case writes its own policies and inputs, runs DeployForge's policy evaluation (``validate
--policy`` / ``policy test``, in-process), and compares the outcome with what conftest/OPA gives.
The terminal summary prints "conformance with OPA/conftest: N of M match; K silent passes"; a silent
pass (OPA fails, we pass with exit 0) is the one outcome a policy gate must never have.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

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
            fail_on_warn=case.fail_on_warn,
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
        silent = case.expect_exit == 1 and report.exit_code == 0
        record_property("conformance", "silent-pass" if silent else "mismatch")
        matches = (report.exit_code, counts) == (case.expect_exit, case.expect_tests)
        if not matches and case.known_difference and not silent:
            record_property("conformance", "known-difference")
            pytest.xfail(case.known_difference)
        assert not case.known_difference or not matches, "a known difference is gone: drop known_difference"
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


def _opa_findings(case: Case, engine_factory: Any) -> tuple[tuple[str, str], ...]:
    """OPA's findings for the documents DeployForge reads from the case's inputs (conftest's rules)."""
    import re

    import yaml

    from deployforge.policy.inputs import read_inputs

    docs, _problems = read_inputs(list(case.inputs))
    packages = {
        m.group(1)
        for n, t in case.files.items()
        if n.endswith(".rego")
        for m in [re.search(r"^package (\S+)", t, re.M)]
        if m
    }
    if case.all_namespaces:
        selected = packages
    elif case.namespaces:
        selected = {p for p in packages for ns in case.namespaces if fnmatch.fnmatchcase(p, ns)}
    else:
        selected = {p for p in packages if p == "main"}
    found = []
    for doc in docs:
        if doc.document is None:
            continue  # the binding has no way to give input = null
        engine = engine_factory()
        for name, text in case.files.items():
            if name.endswith(".rego"):
                engine.add_policy(name, text)
        for name in case.data:
            engine.add_data(yaml.safe_load(case.files[name]))
        engine.add_data({"conftest": {"file": {"name": doc.file, "dir": str(Path(doc.file).parent)}}})
        for package in sorted(selected):
            value = engine.eval_document(package, doc.document)
            excepted = {r for rules in value.get("exception", []) for r in rules}
            for rule, items in value.items():
                m = re.fullmatch(r"(deny|violation|warn)(_\w+)?", rule)
                if not m:
                    continue
                for item in items:
                    message = item["msg"] if isinstance(item, dict) else item
                    kind = "warning" if m.group(1) == "warn" else "failure"
                    if kind == "failure" and (m.group(2) or "_")[1:] in excepted:
                        kind = "exception"
                    found.append((kind, message))
        engine.close()
    return tuple(sorted(found))


CROSS = [
    c
    for c in CASES
    if c.kind == "validate"
    and c.expect_exit != 2
    and c.rego_version == "v1"
    and not c.known_difference
    and not any(n.endswith(".tf") and "<<" in t for n, t in c.files.items())
]


@pytest.mark.parametrize("case", CROSS, ids=[c.id for c in CROSS])
def test_opa_gives_the_recorded_findings_on_our_documents(case: Case, tmp_path: Path, monkeypatch) -> None:
    """Where OPA's Python binding is installed: OPA, given the documents DeployForge reads, yields the
    findings recorded for the case (the recorded outcome is OPA's, not ours). Documents with input =
    null are left out (the binding cannot pass null)."""
    from tests.conformance.test_sprintf_and_builtins import opa_engine

    probe = opa_engine()
    if probe is None:
        pytest.skip("OPA's Python binding is not installed here: the recorded outcomes stand")
    probe.close()
    for name, text in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    found = _opa_findings(case, opa_engine)
    expected = tuple(sorted(case.expect))
    nulls = {"empty-yaml-is-null-input", "yaml-trailing-separator-is-a-null-document"}
    if case.id in nulls:
        expected = ()
    assert found == expected
