"""Input strings rego-cpp would read otherwise than OPA (issue 18 point 2: never a silent pass).

rego-cpp's input builder takes a string that starts and ends with ``"`` for a quoted one and
drops the pair, for values and for keys, and reads a string only up to a NUL. Each test shows
regopy's raw answer, OPA's (from the Rego spec: strings are compared as they are), and ours,
equal to OPA's: quoted strings are handed over with one more pair (``policy.engine.faithful``);
a document holding a NUL is refused as an input error at its line.
"""

from __future__ import annotations

import json
from pathlib import Path

import regopy

from deployforge.policy.engine import faithful, make_input
from deployforge.policy.evaluate import PolicyOptions, evaluate_paths
from deployforge.policy.model import Outcome

ACL_POLICY = """package main

deny contains msg if {
    input.acl != "private"
    msg := sprintf("bucket acl is %s, not private", [input.acl])
}
"""
KEY_POLICY = """package main

deny contains "spec is set" if {
    input.spec
}
"""


def _raw(policy: str, document: dict) -> list:
    """regopy as it is: the input built by regopy.Input."""
    rego = regopy.Interpreter()
    rego.add_module("main", policy)
    rego.set_input(regopy.Input(document))
    out = rego.query("x = count(data.main.deny)")
    return json.loads(str(out))["bindings"]["x"]


def _ours(tmp_path: Path, policy: str, document: dict, name: str = "doc.json") -> list:
    (tmp_path / "p.rego").write_text(policy)
    (tmp_path / name).write_text(json.dumps(document))
    report = evaluate_paths([str(tmp_path / name)], PolicyOptions(policies=(str(tmp_path / "p.rego"),)))
    return list(report.findings)


def test_a_value_wrapped_in_quotes_is_compared_as_it_is(tmp_path):
    document = {"acl": '"private"'}  # a PR's config may say exactly this to slip past the rule
    assert _raw(ACL_POLICY, document) == 0  # regopy: read as private, no denial (a silent pass)
    opa = 1  # OPA: '"private"' != "private", denied
    findings = _ours(tmp_path, ACL_POLICY, document)
    assert len([f for f in findings if f.outcome is Outcome.FAILURE]) == opa
    # the denial is OPA's; its message is not quite (rego-cpp's sprintf %s shows such a string with
    # a second pair of quotes, the cosmetic difference the conformance suite lists for %s)
    assert findings[0].message.startswith("bucket acl is ") and '"private"' in findings[0].message


def test_a_key_wrapped_in_quotes_is_not_the_plain_key(tmp_path):
    document = {'"spec"': True}
    assert _raw(KEY_POLICY, document) == 1  # regopy: input.spec found
    opa = 0  # OPA: the key is '"spec"', input.spec is undefined
    assert len([f for f in _ours(tmp_path, KEY_POLICY, document) if f.outcome is Outcome.FAILURE]) == opa


def test_faithful_leaves_other_strings_alone_and_survives_the_builder():
    assert faithful("private") == "private" and faithful('a"b') == 'a"b' and faithful('"') == '"'
    assert faithful('"x"') == '""x""' and faithful('""') == '""""'
    rego = regopy.Interpreter()
    rego.add_module("t", "package t\nn := count(input.v)\nkeys := [count(name) | input.m[name]]\n")
    for text in ('"private"', '""', '"', '""x""', 'a"b'):
        rego.set_input(make_input({"v": text, "m": {text: 1}}))
        got = json.loads(str(rego.query("x = [data.t.n, data.t.keys]")))["bindings"]["x"]
        assert got == [len(text), [len(text)]], text


def test_a_nul_in_a_string_is_an_input_error_not_a_pass(tmp_path):
    document = {"acl": "private\u0000-but-public"}
    assert _raw(ACL_POLICY, document) == 0  # regopy: read up to the NUL, "private": no denial
    # OPA: the string is not "private", denied; ours: not evaluated, an error at the document
    findings = _ours(tmp_path, ACL_POLICY, document)
    [error] = [f for f in findings if f.outcome is Outcome.ERROR]
    assert error.file.endswith("doc.json") and "NUL" in error.message
    assert not [f for f in findings if f.outcome is Outcome.FAILURE]
    # YAML's "\0" escape makes one too, on its line; the clean document beside it is still judged
    (tmp_path / "two.yaml").write_text('acl: public\n---\nacl: "private\\0"\n')
    report = evaluate_paths([str(tmp_path / "two.yaml")], PolicyOptions(policies=(str(tmp_path / "p.rego"),)))
    assert [(f.outcome, f.line) for f in report.findings if f.outcome is Outcome.ERROR] == [(Outcome.ERROR, 3)]
    assert len([f for f in report.findings if f.outcome is Outcome.FAILURE]) == 1
    assert report.exit_code == 2
    # and HCL's "\u0000" (a .tf file is read once: its text is checked as it is parsed)
    (tmp_path / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  acl = "private\\u0000x"\n}\n')
    report = evaluate_paths([str(tmp_path / "main.tf")], PolicyOptions(policies=(str(tmp_path / "p.rego"),)))
    [error] = [f for f in report.findings if f.outcome is Outcome.ERROR]
    assert error.file.endswith("main.tf") and "NUL" in error.message


SIZE_POLICY = """package main

deny contains "too big" if {
    input.size > 100
}
"""


def test_an_integer_outside_64_bits_is_an_input_error_not_a_pass(tmp_path):
    document = {"size": 2**64}
    assert _raw(SIZE_POLICY, document) == 0  # regopy (and ctypes): 2**64 wraps to 0, no denial
    # OPA reads numbers exactly: 18446744073709551616 > 100, denied; ours: not evaluated, an error
    findings = _ours(tmp_path, SIZE_POLICY, document)
    [error] = [f for f in findings if f.outcome is Outcome.ERROR]
    assert error.file.endswith("doc.json") and "64-bit" in error.message
    assert not [f for f in findings if f.outcome is Outcome.FAILURE]
    policy = PolicyOptions(policies=(str(tmp_path / "p.rego"),))
    # YAML: decimal, hex and YAML 1.1's underscores, each on its line; the largest int64 is judged
    (tmp_path / "many.yaml").write_text(
        "size: 9223372036854775807\n---\nsize: 18446744073709551616\n---\nsize: 0x10000000000000000\n"
        "---\nsize: 9_223_372_036_854_775_808\n---\nsize: -9223372036854775809\n"
    )
    report = evaluate_paths([str(tmp_path / "many.yaml")], policy)
    assert [f.line for f in report.findings if f.outcome is Outcome.ERROR] == [3, 5, 7, 9]
    assert [f.line for f in report.findings if f.outcome is Outcome.FAILURE] == [1]
    assert report.exit_code == 2
    # HCL
    (tmp_path / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  size = 99999999999999999999\n}\n')
    report = evaluate_paths([str(tmp_path / "main.tf")], policy)
    [error] = [f for f in report.findings if f.outcome is Outcome.ERROR]
    assert error.file.endswith("main.tf") and "64-bit" in error.message and report.exit_code == 2
    # a long hex string (an image digest) is a string: walked, judged as usual
    (tmp_path / "digest.yaml").write_text("size: 500\nimage: app@sha256:" + "0123456789abcdef" * 4 + "\n")
    report = evaluate_paths([str(tmp_path / "digest.yaml")], policy)
    assert [f.outcome for f in report.findings] == [Outcome.FAILURE]


def test_the_engine_refuses_such_an_integer_from_any_source(tmp_path):
    """Documents that do not come from files (the config's resources, a plan) reach the engine too:
    it refuses the value there, as an error of each rule, never a pass."""
    from deployforge.policy.engine import UnreadableInput
    from deployforge.policy.evaluate import evaluate
    from deployforge.policy.inputs import InputDoc

    (tmp_path / "p.rego").write_text(SIZE_POLICY)
    try:
        make_input({"size": 2**64})
    except UnreadableInput as exc:
        assert "64-bit" in str(exc)
    else:
        raise AssertionError("2**64 was built")
    docs = [InputDoc("a.yaml", "yaml", {"size": 2**70}, 1), InputDoc("b.yaml", "yaml", {"size": 101}, 1)]
    docs += [InputDoc(f"c{i}.yaml", "yaml", {"size": 5}, 1) for i in range(40)]  # a batch of 32 and more
    report = evaluate(docs, PolicyOptions(policies=(str(tmp_path / "p.rego"),)))
    assert [(f.outcome, f.subject) for f in report.findings if f.subject.startswith(("a.", "b."))] == [
        (Outcome.ERROR, "a.yaml"),
        (Outcome.FAILURE, "b.yaml"),
    ]
    assert report.exit_code == 2


def test_json_nested_too_deeply_is_an_input_error(tmp_path):
    (tmp_path / "p.rego").write_text(SIZE_POLICY)
    (tmp_path / "deep.json").write_text('{"size": 500, "a": ' + "[" * 3000 + "]" * 3000 + "}")
    (tmp_path / "ok.json").write_text('{"size": 500}')
    report = evaluate_paths(
        [str(tmp_path / "deep.json"), str(tmp_path / "ok.json")], PolicyOptions(policies=(str(tmp_path / "p.rego"),))
    )
    [error] = [f for f in report.findings if f.outcome is Outcome.ERROR]
    assert error.file.endswith("deep.json") and "too deeply" in error.message
    assert [f.file for f in report.findings if f.outcome is Outcome.FAILURE] == [str(tmp_path / "ok.json")]


RATE_POLICY = """package main

deny contains "errors seen" if {
    input.rate > 0
}

deny contains "the known bad value" if {
    input.x == 89.22541915
}
"""


def test_a_float_with_more_than_six_decimals_is_read_exactly(tmp_path):
    """rego-cpp's input builder reads a double as its "%f" text: 1e-7 is 0, so ``input.rate > 0``
    would not hold (a silent pass); such a document is given as JSON text, which it reads exactly."""
    document = {"rate": 1e-7, "x": 89.22541915, "name": "web ✓"}
    assert _raw(RATE_POLICY, document) == 0  # regopy: rate read as 0, x as 89.225419: nothing denied
    opa = 2  # OPA reads both exactly: both rules deny
    findings = _ours(tmp_path, RATE_POLICY, document)
    assert sorted(f.message for f in findings if f.outcome is Outcome.FAILURE) == ["errors seen", "the known bad value"]
    assert len(findings) == opa
    # in a batch (many documents per query): the others are judged as usual, in order
    docs = [{"rate": 0, "i": i} for i in range(40)]
    docs[33] = {"rate": 1.5e-9, "i": 33}
    (tmp_path / "many.json").write_text(json.dumps(docs))
    report = evaluate_paths([str(tmp_path / "many.json")], PolicyOptions(policies=(str(tmp_path / "p.rego"),)))
    assert [(f.message, f.subject) for f in report.findings] == [("errors seen", f"{tmp_path / 'many.json'}#33")]
    # floats the builder keeps are built as before (no JSON text)
    assert make_input({"a": 0.5, "b": 123456.000001, "c": 1e20}) is not None


def test_a_rounded_float_beside_an_escaped_string_is_an_error_not_a_pass(tmp_path, monkeypatch):
    """rego-cpp keeps a JSON string's escapes, so a document that needs both cannot be given
    exactly either way: an error of the document, never a judgement on a rounded number."""
    from deployforge.policy import engine

    document = {"rate": 1e-7, "name": 'a "quoted" name'}
    for flag in (True, False):  # the C builder and the ctypes path both hand such a float over
        monkeypatch.setattr(engine, "NATIVE_INPUT", flag)
        try:
            engine.make_input(document)
        except engine.RoundedFloat:
            pass
        else:
            raise AssertionError("a rounded float was built")
    findings = _ours(tmp_path, RATE_POLICY, document)
    assert [f.outcome for f in findings] == [Outcome.ERROR]  # the deny rule: an error, never a pass
    assert "six decimals" in findings[0].message and "strict builtin" not in findings[0].message
