"""Issue 18 (B): YAML read as conftest reads it (sigs.k8s.io/yaml over go-yaml v2), and `policy test`
retried with its `with` values lifted when rego-cpp crashes on them."""

from __future__ import annotations

from pathlib import Path

from deployforge.policy.inputs import yaml_docs
from deployforge.policy.rewrite import lift_test_input
from deployforge.policy.testing import _with_data, run_tests


def test_go_yaml_scalars_and_string_keys():
    (doc,) = yaml_docs("x.yaml", "a: 1e3\nb: 1.0e3\nc: 80:80\nd: 1.5\ne: 0x1F\nf: '1e3'\n80: http\ntrue: t\n1.5: f\n")[
        0
    ]
    assert doc.document == {
        "a": 1000.0,  # PyYAML alone: the string "1e3"
        "b": 1000.0,
        "c": "80:80",  # PyYAML alone: 4880 (a YAML 1.1 sexagesimal number)
        "d": 1.5,
        "e": 31,
        "f": "1e3",
        "80": "http",  # keys as sigs.k8s.io/yaml writes them to JSON
        "true": "t",
        "1.5": "f",
    }


def test_string_keys_also_where_pyyaml_builds_the_document():
    (doc,) = yaml_docs("x.yaml", "base: &b {1: one}\nm:\n  <<: *b\n  2: two\n")[0]  # a merge key
    assert doc.document == {"base": {"1": "one"}, "m": {"1": "one", "2": "two"}}


def test_trailing_separator_gives_a_null_document_and_a_top_level_list_is_split():
    docs, _ = yaml_docs("x.yaml", "kind: A\n---\nkind: B\n---\n")
    assert [d.document for d in docs] == [{"kind": "A"}, {"kind": "B"}, None]
    docs, _ = yaml_docs("l.yaml", "- a: 1\n- a: 2\n")
    assert [(d.document, d.label) for d in docs] == [({"a": 1}, "l.yaml#0"), ({"a": 2}, "l.yaml#1")]
    docs, _ = yaml_docs("m.yaml", "- a: 1\n---\nb: 2\n")  # in a multi-document file a list stays one document
    assert [d.document for d in docs] == [[{"a": 1}], {"b": 2}]


def test_lift_repeats_the_statements_a_with_value_needs():
    src = (
        'package main\nimport rego.v1\n\ntest_x if {\n  d := {"kind": "A"}\n'
        '  deny["a"] with input as d with data.lists.ports as [1]\n}\n'
    )
    text, helpers = lift_test_input(src, "test_x")
    assert helpers == [("data.lists.ports", "__df_test_with0"), ("input", "__df_test_with1")]
    assert '__df_test_with1 := __df_v if { d := {"kind": "A"}; __df_v := d }' in text
    assert "with" not in text.split("\n")[5] and text.count("\n") >= src.count("\n")


def test_lift_refuses_what_it_cannot_repeat():
    reads_input = 'package main\ntest_x if {\n  n := input.n\n  f(n) with input as {"n": 1}\n}\n'
    assert lift_test_input(reads_input, "test_x") is None
    two_values = "package main\ntest_x if {\n  a with input as 1\n  b with input as 2\n}\n"
    assert lift_test_input(two_values, "test_x") is None
    other_target = "package main\ntest_x if {\n  a with f as g\n}\n"
    assert lift_test_input(other_target, "test_x") is None


def test_with_data_overrides_merge_into_the_data_documents():
    docs = [{"blocked": {"ports": [22], "names": ["x"]}}, {"other": 1}]
    assert _with_data(docs, {"data.blocked.ports": [443], "data.new.a": True}) == {
        "blocked": {"ports": [443], "names": ["x"]},
        "other": 1,
        "new": {"a": True},
    }
    assert docs[0]["blocked"]["ports"] == [22]


def test_a_with_value_bound_in_the_test_is_not_taken_as_null(tmp_path: Path, monkeypatch):
    # Before: the lifted value was undefined (a test variable), the test ran with input = null, and
    # `no_violations` held: a test OPA fails passed.
    (tmp_path / "p.rego").write_text(
        "package main\nimport rego.v1\n"
        'deny contains sprintf("%s runs as root", [input.name]) if not input.nonroot\n'
        "no_violations if count(deny) == 0\n"
    )
    (tmp_path / "p_test.rego").write_text(
        "package main\nimport rego.v1\n\ntest_root_has_no_violations if {\n"
        '  d := {"name": "w"}\n  no_violations with input as d\n}\n'
    )
    monkeypatch.chdir(tmp_path)
    report = run_tests(["."])
    assert report.counts() == {"pass": 0, "fail": 1, "error": 0}, report.to_json()
