"""Issue 18 point 6: many documents per Rego query (policy/batch.py) changes nothing but the speed.

Every conformance case and a set of generated inputs are evaluated twice, with batches and one
document at a time, and the reports must be identical (findings with their files, lines and
messages, checks, exit code). An engine error in one document of a batch must not drop another
document's findings (never a silent pass).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conformance.cases import CASES, Case

from deployforge.policy import engine as engine_mod
from deployforge.policy.batch import NotBatchable, batch_module
from deployforge.policy.evaluate import PolicyOptions, evaluate_paths


def _report(inputs: list[str], options: PolicyOptions) -> tuple[int, list[tuple[object, ...]], list[object]]:
    report = evaluate_paths(inputs, options)
    findings = [
        (f.rule_id, f.outcome.value, f.message, f.file, f.line, f.resource, f.subject, f.severity)
        for f in report.findings
    ]
    return report.exit_code, findings, [c.to_json() for c in report.checks]


def _both(monkeypatch: pytest.MonkeyPatch, inputs: list[str], options: PolicyOptions) -> tuple[object, object, int]:
    """(batched report, one-at-a-time report, how many batch bundles were built)."""
    from deployforge.policy import isolate

    monkeypatch.setattr(isolate, "run_isolated", lambda fn, limits=None: fn())  # count in this process
    built: list[object] = []
    original = engine_mod.Engine._batch_bundle

    def counting(self: object, *args: object) -> object:
        bundle, names = original(self, *args)  # type: ignore[arg-type]
        if bundle is not None:
            built.append(names is not None)  # True: the package queried itself, no wrapper
        return bundle, names

    monkeypatch.setattr(engine_mod.Engine, "_batch_bundle", counting)
    batched = _report(inputs, options)
    monkeypatch.setattr(engine_mod.Engine, "_batch_bundle", lambda self, *a: (None, None))
    alone = _report(inputs, options)
    monkeypatch.setattr(engine_mod.Engine, "_batch_bundle", original)
    DIRECT.extend(built)
    return batched, alone, len(built)


DIRECT: list[bool] = []


def _options(case: Case) -> PolicyOptions:
    return PolicyOptions(
        policies=case.policies,
        namespaces=case.namespaces,
        all_namespaces=case.all_namespaces,
        data=case.data,
        rego_version=case.rego_version,
    )


def test_every_conformance_case_is_the_same_batched_or_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batchable = 0
    DIRECT.clear()
    for case in [c for c in CASES if c.kind == "validate"]:
        folder = tmp_path / case.id
        for name, text in case.files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        monkeypatch.chdir(folder)
        batched, alone, built = _both(monkeypatch, list(case.inputs), _options(case))
        assert batched == alone, case.id
        batchable += built > 0
    print(f"{batchable} conformance cases evaluated in batches")
    assert batchable >= 10  # the equivalence is exercised, not skipped
    assert any(DIRECT) and not all(DIRECT)  # both ways: the package itself, and the wrapper


POLICY = """package main
import rego.v1

deny contains msg if {
  input.kind == "Bucket"
  input.acl == "public-read"
  msg := sprintf("%s is public", [input.name])
}

deny contains {"msg": sprintf("%s has no owner", [input.name]), "severity": "low"} if {
  input.kind == "Bucket"
  not input.tags.owner
}

warn contains msg if {
  some c in input.cidrs
  c == "0.0.0.0/0"
  msg := sprintf("%s is open to the world", [input.name])
}

warn_null contains "input is null" if input == null

deny_number contains msg if {
  input.kind == "Bucket"
  to_number(input.size) > 10
  msg := sprintf("%s is big", [input.name])
}

exception contains rules if {
  input.name == "legacy"
  rules := ["number"]
}
"""


def _documents(n: int) -> list[object]:
    docs: list[object] = []
    for i in range(n):
        doc: dict[str, object] = {
            "kind": "Bucket",
            "name": "legacy" if i == 7 else f"b{i}",
            "acl": "public-read" if i % 3 == 0 else "private",
            "cidrs": ["10.0.0.0/8"] + (["0.0.0.0/0"] if i % 4 == 0 else []),
            "size": str(i),
        }
        if i % 5:
            doc["tags"] = {"owner": f"o{i}"}
        if i == 11:
            doc["name"] = 'quote"d'  # a quote in a message: that batch's answer is read again, safely
        docs.append(doc)
    docs.insert(20, None)  # conftest: a JSON array element of null is a document of its own
    return docs


def test_generated_documents_are_the_same_batched_or_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "p.rego").write_text(POLICY)
    (tmp_path / "in.json").write_text(json.dumps(_documents(60)))
    monkeypatch.chdir(tmp_path)
    batched, alone, built = _both(monkeypatch, ["in.json"], PolicyOptions(policies=("policy",)))
    assert built == 1
    assert batched == alone
    messages = [f[2] for f in batched[1]]
    assert "b3 is public" in messages and "input is null" in messages and "b57 is big" in messages
    assert 'quote"d has no owner' not in messages  # i == 11 has an owner; its other findings are there
    assert any(m.startswith('quote"d') for m in messages)


def test_an_engine_error_in_one_document_keeps_the_findings_of_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _documents(40)
    assert isinstance(docs[5], dict)
    docs[5]["size"] = "not a number"  # to_number raises (strict builtin errors): the batch fails
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "p.rego").write_text(POLICY)
    (tmp_path / "in.json").write_text(json.dumps(docs))
    monkeypatch.chdir(tmp_path)
    batched, alone, built = _both(monkeypatch, ["in.json"], PolicyOptions(policies=("policy",)))
    assert built == 1
    assert batched == alone
    code, findings, _checks = batched
    assert code == 2  # an input or policy error
    errors = [f for f in findings if f[1] == "error"]
    assert len(errors) == 1 and errors[0][0] == "main.deny_number" and "#5" in str(errors[0][6])
    messages = [f[2] for f in findings]
    assert "b3 is public" in messages and "b6 is public" in messages  # same batch as the error


def test_batch_module_rewrites_set_rules_and_keeps_lines() -> None:
    text = 'package main\nimport rego.v1\n\ndeny contains msg if {\n  input.a == "x"\n  msg := input.name\n}\n'
    out = batch_module(text, {"deny"})
    assert out.count("\n") == text.count("\n")
    assert "deny contains [__dfb_i, msg] if { some __dfb_i, __dfb_d in input;" in out
    assert "__dfb_d.a ==" in out and "input.a" not in out
    single = batch_module('package main\nimport rego.v1\nwarn contains "w" if input.x\n', {"warn"})
    assert 'warn contains [__dfb_i, "w"] if { some __dfb_i, __dfb_d in input; __dfb_d.x }' in single


@pytest.mark.parametrize(
    "text",
    [
        'package main\nimport rego.v1\npublic if input.acl == "public-read"\ndeny contains "p" if public\n',
        'package main\nimport rego.v1\ndeny contains "x" if input.a\nwarn contains "y" if count(deny) > 0\n',
        'package main\nimport rego.v1\ndeny contains "x" if { input.a with input as {} }\n',
        'package main\nimport rego.v1\ndeny contains "x" if { print(input.a) }\n',
        'package main\nimport rego.v1\ndeny := {"x"} if input.a\n',
        "package main\nimport rego.v1\nf(x) := input.a\ndeny contains 1 if f(1)\n",
        "package main\nimport input.a as b\ndeny contains 1 if b\n",
        'package main\ndeny contains "x" if { input.a } { input.b }\n',
        'package main\nimport rego.v1\n  deny contains [0, "x"] if { true }\n',  # an indented head
    ],
)
def test_batch_module_refuses_what_it_cannot_rewrite_exactly(text: str) -> None:
    with pytest.raises(NotBatchable):
        batch_module(text, {"deny", "warn"})


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1, "b": [1.5, True, False, None, "é ✓ \\ \" ' \t x"], "c": {}, "d": [], "e": {"f": {"g": [[]]}}},
        [None, 0, -1, 2**62, 1e300, "", {"k": "v"}],
        "just a string",
        None,
        {"tuple": (1, 2)},  # not a type the fast builder takes: regopy's own builder
    ],
)
def test_make_input_gives_the_engine_the_same_input_as_regopy(value: object) -> None:
    import regopy

    interp = regopy.Interpreter()
    interp.set_input(engine_mod.make_input(value))
    ours = engine_mod.raw_query(interp, "x := input")  # raw: rego-cpp does not escape what it prints
    interp.set_input(regopy.Input(value))
    assert ours == engine_mod.raw_query(interp, "x := input")
    assert ours[0] and '"x":' in ours[1]


def test_a_yaml_date_is_the_string_written_as_conftest_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "p.rego").write_text(
        "package main\nimport rego.v1\ndeny contains msg if {\n  is_string(input.when)\n  msg := input.when\n}\n"
    )
    (tmp_path / "in.yaml").write_text("when: 2024-01-02\nat: 2024-01-02T03:04:05Z\n")
    monkeypatch.chdir(tmp_path)
    code, findings, _checks = _report(["in.yaml"], PolicyOptions(policies=("p.rego",)))
    assert code == 1 and [f[2] for f in findings] == ["2024-01-02"]  # before: the engine could not take it (exit 2)
