"""``deployforge policy test DIR``: run the ``test_*`` rules of Rego policies, like ``opa test``.

A test passes when its rule is true. Loading and each test run in isolated child processes
(``isolate.run_isolated``, with the time and memory limits): rego-cpp can crash the process on some
``with`` expressions combined with builtins (seen with ``sprintf``), and a crash must fail that one
test, not the whole run.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

from deployforge.policy.inputs import expand_paths


@dataclass(frozen=True)
class TestResult:
    name: str  # package.test_rule
    file: str
    line: int
    outcome: str  # pass | fail | error | skip (a todo_test_* rule, as OPA and conftest skip it)
    message: str = ""
    duration_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "outcome": self.outcome,
            "message": self.message,
            "duration_ms": round(self.duration_ms, 2),
        }


@dataclass(frozen=True)
class TestReport:
    results: tuple[TestResult, ...]
    problems: tuple[tuple[str, int, str, str | None], ...] = ()  # policy load errors: file, line, message, hint

    @property
    def exit_code(self) -> int:
        if self.problems:
            return 2
        return 1 if any(r.outcome in ("fail", "error") for r in self.results) else 0

    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "error": 0}
        for r in self.results:
            out[r.outcome] = out.get(r.outcome, 0) + 1
        return out  # "skip" appears when a todo_test_* rule was found

    def to_json(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "results": [r.to_json() for r in self.results],
            "problems": [{"file": f, "line": ln, "message": m, "hint": h} for f, ln, m, h in self.problems],
        }


def run_tests(
    paths: list[str],
    data: list[str] | None = None,
    run: str | None = None,
    rego_version: str = "v1",
    limits: Any = None,
) -> TestReport:
    from deployforge.policy.evaluate import _read_data
    from deployforge.policy.isolate import Crash, Limits, preload_engine, run_isolated, run_parallel, usable_cpus

    limits = limits or Limits()
    files, missing = expand_paths(paths, suffixes=(".rego",))
    problems = [(p.file, p.line, p.message, p.hint) for p in missing]
    data_docs, data_problems = _read_data(data or [])
    problems += [(p.file, p.line, p.message, p.hint) for p in data_problems]

    def listing() -> tuple[list[tuple[str, int, str, str | None]], list[tuple[str, str, str, int]]]:
        from deployforge.policy.engine import Engine

        engine = Engine.load(files, data_docs, rego_version=rego_version)
        found = [
            (pf.package, head.name, pf.path, head.line)
            for pf in engine.files
            if pf.path not in engine._broken
            for head in pf.rules
            if head.name.startswith(("test_", "todo_test_")) and (run is None or run in f"{pf.package}.{head.name}")
        ]
        return [(p.file, p.line, p.message, p.hint) for p in engine.problems], found

    listed = run_isolated(listing, limits)
    if isinstance(listed, Crash):
        problems.append(("(policies)", 0, f"{listed.describe(limits)} loading the policies", listed.hint(limits)))
        return TestReport((), tuple(problems))
    load_problems, tests = listed
    problems += load_problems
    results: dict[int, TestResult] = {
        i: TestResult(f"{t[0]}.{t[1]}", t[2], t[3], "skip", "a todo_test_ rule: skipped, as opa test does")
        for i, t in enumerate(tests)
        if t[1].startswith("todo_test_")
    }
    # Each test in its own process, as many at a time as there are CPUs (a process per test is
    # the isolation: a crash or a runaway test fails that test only); rego-cpp is loaded once, here,
    # and shared by every test's process (loading it in each cost more than most tests)
    preload_engine()
    todo = [i for i in range(len(tests)) if i not in results]
    wave = max(1, min(8, usable_cpus()))
    for start in range(0, len(todo), wave):
        chosen = todo[start : start + wave]
        started = time.perf_counter()
        outcomes = run_parallel([_test_fn(files, data_docs, rego_version, *tests[i][:2]) for i in chosen], limits)
        elapsed = (time.perf_counter() - started) * 1000
        for i, outcome in zip(chosen, outcomes, strict=True):
            results[i] = _result(files, data_docs, rego_version, limits, outcome, elapsed, *tests[i])
    return TestReport(tuple(results[i] for i in range(len(tests))), tuple(problems))


def _test_fn(files: list[str], data_docs: list[Any], rego_version: str, package: str, rule: str) -> Any:
    """One test, for its own process: (ok, the rule's value or the engine's error, milliseconds)."""

    def one() -> tuple[bool, Any, float]:
        from deployforge.policy.engine import Engine

        started = time.perf_counter()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        engine = Engine.load(files, data_docs, keep_test=f"{package}.{rule}", rego_version=rego_version)
        ok, value = engine.query_value(package, rule)
        return ok, value, (time.perf_counter() - started) * 1000

    return one


def _result(
    files: list[str],
    data_docs: list[Any],
    rego_version: str,
    limits: Any,
    outcome: Any,
    elapsed: float,
    package: str,
    rule: str,
    file: str,
    line: int,
) -> TestResult:
    """A test's result from its process's ``outcome``: rego-cpp can crash on some ``with``
    expressions (seen with ``sprintf``); such a test is tried again with its ``with`` values lifted
    into the input and data (``_lifted``), and a crash or a runaway test fails that one test."""
    from deployforge.policy.isolate import Crash

    name = f"{package}.{rule}"
    lifted = False
    if isinstance(outcome, Crash) and outcome.kind == "signal":
        started = time.perf_counter()
        retry = _lifted(files, data_docs, rego_version, limits, package, rule, file)
        if retry is not None:
            outcome, lifted = retry, True
        elapsed += (time.perf_counter() - started) * 1000
    if isinstance(outcome, Crash):
        extra = (
            "; rego-cpp is known to crash on 'with' combined with some builtins (sprintf): bind the result "
            "first, or test the policy's helper functions directly"
            if outcome.kind == "signal"
            else ""
        )
        return TestResult(name, file, line, "error", f"{outcome.describe(limits)} evaluating this test{extra}", elapsed)
    ok, value = outcome[0], outcome[1]
    if not lifted:
        elapsed = outcome[2]  # the test's own time, in its process
    if not ok:
        return TestResult(name, file, line, "error", f"the Rego engine raised an error: {value}", elapsed)
    note = " (evaluated with its 'with' values as the test's input and data: rego-cpp crashed on the 'with')"
    if value is True:
        return TestResult(name, file, line, "pass", note.strip() if lifted else "", elapsed)
    why = "undefined" if value is None else json.dumps(value)
    return TestResult(name, file, line, "fail", f"the test rule is {why}" + (note if lifted else ""), elapsed)


def _lifted(
    files: list[str], data_docs: list[Any], rego_version: str, limits: Any, package: str, rule: str, file: str
) -> Any:
    """Retry a test that crashed rego-cpp with its ``with`` values lifted into the input and the data."""
    from pathlib import Path

    from deployforge.policy.isolate import run_isolated
    from deployforge.policy.rewrite import lift_test_input

    try:
        lifted = lift_test_input(Path(file).read_text(encoding="utf-8"), rule)
    except (OSError, UnicodeDecodeError):
        return None
    if lifted is None:
        return None
    text, helpers = lifted

    def one() -> tuple[bool, Any]:
        from deployforge.policy.engine import Engine

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        engine = Engine.load(
            files, data_docs, keep_test=f"{package}.{rule}", rego_version=rego_version, overrides={file: text}
        )
        given: dict[str, Any] = {}
        for target, helper in helpers:
            ok, value = engine.query_value(package, helper)
            if not ok:
                return ok, value
            if value is None:  # never evaluate the test against a missing value: that could pass it
                return False, f"the value the test gives {target} is undefined outside the 'with'"
            given[target] = value
        overrides = {t: v for t, v in given.items() if t != "input"}
        if overrides:
            packages = {pf.package.split(".")[0] for pf in engine.files}
            if any(t.split(".")[1] in packages for t in overrides):
                return False, "'with data...' replaces a rule of the policies: rego-cpp cannot evaluate it"
            data = _with_data(data_docs, overrides)
            engine = Engine.load(
                files, [data], keep_test=f"{package}.{rule}", rego_version=rego_version, overrides={file: text}
            )
        if "input" in given:  # built as every input is (quoted strings, rounded floats: engine.set_input)
            from deployforge.policy.engine import UnreadableInput, set_input

            try:
                set_input(engine._interp, given["input"])
            except UnreadableInput as exc:
                return False, str(exc)
        return engine.query_value(package, rule)

    return run_isolated(one, limits)


def _with_data(data_docs: list[Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The data documents merged into one, with each ``data.a.b`` of ``overrides`` set (as ``with`` does)."""
    import copy

    merged: dict[str, Any] = {}

    def merge(into: dict[str, Any], doc: dict[str, Any]) -> None:
        for k, v in doc.items():
            if isinstance(v, dict) and isinstance(into.get(k), dict):
                merge(into[k], v)
            else:
                into[k] = copy.deepcopy(v)

    for doc in data_docs:
        if isinstance(doc, dict):
            merge(merged, doc)
    for target, value in overrides.items():
        keys = target.split(".")[1:]
        node = merged
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[keys[-1]] = value
    return merged


def render_text(report: TestReport, style: Any = None, verbose: bool = True) -> str:
    st = style or (lambda text, **_: text)
    lines = []
    for f, ln, m, h in report.problems:
        where = f"{f}:{ln}" if ln else f
        lines.append(st("ERROR", fg="red", bold=True) + f" {where}: {m}" + (f"\n    hint: {h}" if h else ""))
    colours = {"pass": "green", "fail": "red", "error": "red", "skip": "yellow"}
    for r in report.results:
        if r.outcome == "pass" and not verbose:
            continue
        mark = st(r.outcome.upper().ljust(5), fg=colours[r.outcome], bold=True)
        tail = f": {r.message}" if r.message else ""
        lines.append(f"{mark} {r.name} ({r.file}:{r.line}){tail}")
    c = report.counts()
    total = len(report.results)
    skipped = f", {c['skip']} skipped" if c.get("skip") else ""
    lines.append(f"{'-' * 40}\n{total} tests: {c['pass']} passed, {c['fail']} failed, {c['error']} errors{skipped}")
    if not report.results and not report.problems:
        lines.append("no test_* rules found")
    return "\n".join(lines)


def to_junit_suite(report: TestReport) -> Any:
    from deployforge.render.junit import JUnitCase, JUnitOutcome, JUnitSuite

    cases = []
    for r in report.results:
        cases.append(
            JUnitCase(
                name=r.name,
                classname=f"policy-test.{r.name.rsplit('.', 1)[0]}",
                time=r.duration_ms / 1000,
                failure=JUnitOutcome(r.message, type="fail") if r.outcome == "fail" else None,
                error=JUnitOutcome(r.message, type="error") if r.outcome == "error" else None,
                skipped=JUnitOutcome(r.message, type="skip") if r.outcome == "skip" else None,
                file=r.file,
                line=r.line,
            )
        )
    for f, ln, m, _h in report.problems:
        cases.append(
            JUnitCase(
                name=f"load :: {f}", classname="policy-test", error=JUnitOutcome(m, type="error"), file=f, line=ln
            )
        )
    return JUnitSuite("deployforge.policy.test", tuple(cases))
