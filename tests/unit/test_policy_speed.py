"""Issue 18 point 6: the speed work on reading the engine's answers changes nothing but the speed.

- ``inputs.mentions`` (where a finding's message names a resource or an anchor) finds exactly what
  the regular expression it replaced finds, for any text and name;
- findings and checks made in the engine's workers come back to the parent equal, field by field,
  to those made in one process (they travel as plain tuples).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployforge.policy.evaluate import PolicyOptions, evaluate_paths
from deployforge.policy.inputs import InputDoc, ResourceDoc, mentions
from deployforge.policy.model import Check

_ALPHABET = st.sampled_from([*list("ab.-_ 1é[](){}*+?\\^$|#\"'"), "ab", "a.b", "-a", "b-"])


def _regex(text: str, name: str, also_before: str = "") -> bool:
    return re.search(rf"(?<![\w{re.escape(also_before)}-]){re.escape(name)}(?![\w-])", text) is not None


@settings(max_examples=600, deadline=None)
@given(st.lists(_ALPHABET, max_size=12).map("".join), st.lists(_ALPHABET, max_size=4).map("".join))
def test_mentions_is_the_regular_expression(text: str, name: str) -> None:
    assert mentions(text, name) == _regex(text, name)
    assert mentions(text, name, ".") == _regex(text, name, ".")
    assert mentions(text + name, name) == _regex(text + name, name)  # at the end
    assert mentions(name + text, name, ".") == _regex(name + text, name, ".")  # at the start


@pytest.mark.parametrize(
    ("text", "name", "before", "found"),
    [
        ("aws_s3_bucket.logs breaks rule 1", "aws_s3_bucket.logs", ".", True),
        ("x.aws_s3_bucket.logs is bad", "aws_s3_bucket.logs", ".", False),  # part of a longer address
        ("logs-old is bad", "logs", "", False),
        ("the logs_2 bucket", "logs", "", False),
        ("the logsé bucket", "logs", "", False),  # a Unicode letter is a word character too
        ("see logs, then logs2", "logs", "", True),
        ("logs2 and (logs)", "logs", "", True),  # the second occurrence stands alone
    ],
)
def test_mentions_examples(text: str, name: str, before: str, found: bool) -> None:
    assert mentions(text, name, before) is found


def test_line_for_points_at_the_resource_the_message_names() -> None:
    res = (
        ResourceDoc("aws_s3_bucket.a", "m.tf", 3, {}),
        ResourceDoc("aws_s3_bucket.ab", "m.tf", 9, {}),
    )
    doc = InputDoc("m.tf", "terraform", {}, 1, None, res, anchors={"bucket_x": 20})
    assert doc.line_for("aws_s3_bucket.ab is public") == (9, "aws_s3_bucket.ab")
    assert doc.line_for("ab is public") == (9, "aws_s3_bucket.ab")
    assert doc.line_for("bucket_x has no owner") == (20, None)
    assert doc.line_for("nothing named") == (1, None)


POLICY = """package main
import rego.v1

deny contains msg if {
  input.spec.acl == "public-read"
  msg := sprintf("%s is public", [input.name])
}

deny_meta contains {"msg": sprintf("%s has no owner", [input.name]), "severity": "low", "id": "OWN-1"} if {
  not input.spec.owner
}

warn_size contains msg if {
  input.spec.size > 5
  msg := sprintf("bucket %s is big", [input.name])
}
"""


def _docs(n: int) -> str:
    out = []
    for i in range(n):
        acl = "public-read" if i % 3 == 0 else "private"
        owner = f"\n  owner: o{i}" if i % 4 else ""
        out.append(f"kind: Bucket\nname: bucket{i}\nspec:\n  acl: {acl}\n  size: {i % 9}{owner}\n")
    return "---\n".join(out)


def test_findings_from_workers_equal_findings_made_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deployforge.policy import engine as engine_mod

    (tmp_path / "p.rego").write_text(POLICY)
    (tmp_path / "in.yaml").write_text(_docs(600))
    options = PolicyOptions(policies=(str(tmp_path / "p.rego"),))
    parallel = evaluate_paths([str(tmp_path / "in.yaml")], options)
    monkeypatch.setattr(engine_mod, "PARALLEL_THRESHOLD", 10**9)
    alone = evaluate_paths([str(tmp_path / "in.yaml")], options)
    assert parallel.findings == alone.findings
    assert [f.metadata for f in parallel.findings] == [f.metadata for f in alone.findings]
    assert [f.subject for f in parallel.findings] == [f.subject for f in alone.findings]
    assert parallel.checks == alone.checks
    assert all(type(c) is Check for c in parallel.checks)
    assert len(parallel.checks) == 600 * 3
    assert len(parallel.failures) == 200 + 150
    assert {f.rule_id for f in parallel.failures} == {"main.deny", "OWN-1"}
    first = next(f for f in parallel.failures if f.rule_id == "main.deny")
    assert (first.message, first.line, first.subject) == ("bucket0 is public", 2, f"{tmp_path / 'in.yaml'}#0")


_SCALARS = ["true", "True", "yes", "no", "on", "off", "~", "null", "", "0", "-1", "0x1F", "0o17", "017", "1_000",
            "1.5", ".inf", "-.Inf", ".nan", "1e3", "6.8523015e+5", "190:20:30", "private", "'true'", '"80"',
            "2024-01-02", "a b", "-x", "0.", "+12"]  # fmt: skip


def test_yaml_tags_remembered_per_value_read_as_pyyaml_reads_them() -> None:
    """The YAML reader remembers each plain scalar's tag for the file (the second time a value is
    read it comes from there): every value is read as PyYAML's own safe loader reads it, the first
    time and the next (timestamps stay strings, as conftest reads them), except where go-yaml v2
    (conftest's reader) reads it otherwise: 1e3 is a number, 190:20:30 is text (no sexagesimal)."""
    import math

    import yaml

    from deployforge.policy.inputs import yaml_docs

    body = "".join(f"k{i}: {v}\n" for i, v in enumerate(_SCALARS))
    text = f"first:\n{body}".replace("\nk", "\n  k") + f"again:\n{body}".replace("\nk", "\n  k")
    docs, problem = yaml_docs("x.yaml", text)
    assert problem is None
    expected = yaml.load(text, Loader=yaml.SafeLoader)
    got = docs[0].document
    for part in ("first", "again"):
        for key, want in expected[part].items():
            value = got[part][key]
            go_yaml = {"1e3": 1000.0, "190:20:30": "190:20:30"}
            raw = _SCALARS[int(key[1:])]
            if raw in go_yaml:
                assert (type(value), value) == (type(go_yaml[raw]), go_yaml[raw]), key
            elif key == f"k{_SCALARS.index('2024-01-02')}":
                assert value == "2024-01-02"
            elif isinstance(want, float) and math.isnan(want):
                assert isinstance(value, float) and math.isnan(value)
            else:
                assert (type(value), value) == (type(want), want), key


# -- rule indexing (batch.py) ----------------------------------------------------------------------------

INDEXED_POLICY = """package main
import rego.v1

deny_kind contains msg if {
  input.kind == "Deployment"
  msg := sprintf("%s: a deployment", [input.name])
}

deny_not contains msg if { not input.spec.replicas; msg := sprintf("%s: no replicas", [input.name]) }

deny_num contains msg if {
  input.spec.replicas == 1
  msg := sprintf("%s: one replica", [input.name])
}

deny_flip contains msg if {
  3 < input.spec.replicas
  input.spec.replicas <= 1e2
  msg := sprintf("%s: 3 < replicas <= 100", [input.name])
}

deny_ne contains msg if {
  input.spec.tier != "gold"
  msg := sprintf("%s: not gold", [input.name])
}

deny_bool contains msg if { input.spec.public == true; msg := sprintf("%s: public", [input.name]) }

deny_null contains msg if { input.spec.owner == null; msg := sprintf("%s: owner null", [input.name]) }

deny_false contains msg if {
  input.spec.logging == false
  msg := sprintf("%s: logging off", [input.name])
}

deny_float contains msg if { input.spec.ratio >= 0.5; msg := sprintf("%s: ratio", [input.name]) }

deny_error contains msg if {
  input.kind == "Job"
  to_number(input.spec.version) > 1
  msg := sprintf("%s: new job", [input.name])
}

deny_late contains msg if {
  startswith(input.name, "x")
  input.kind == "Service"
  msg := sprintf("%s: x service", [input.name])
}

deny_str_order contains msg if { input.spec.tier > "b"; msg := sprintf("%s: tier after b", [input.name]) }

deny_plain contains sprintf("%s: every", [input.name]) if input.kind == "Pod"

deny_prefix contains msg if { startswith(input.spec.tier, "go"); msg := sprintf("%s: go", [input.name]) }

deny_suffix contains msg if { endswith(input.kind, "ment"); msg := sprintf("%s: ment", [input.name]) }

deny_sub contains msg if { contains(input.spec.owner, "ol"); msg := sprintf("%s: ol", [input.name]) }

deny_count contains msg if { count(input.spec.tags) > 1; msg := sprintf("%s: tags", [input.name]) }

deny_count_flip contains msg if { 2 == count(input.spec.tier); msg := sprintf("%s: 2 letters", [input.name]) }

deny_in contains msg if { "gold" in input.spec.tags; msg := sprintf("%s: gold tag", [input.name]) }
"""

KINDS = ["Deployment", "Service", "Job", "Pod", '"Deployment"', "Deployment\\", 1, None, True, ["Deployment"]]
VALUES = [None, True, False, 0, 1, 1.0, 1.0000000001, 3, 3.5, 100, 101, 2**60, 2**60 + 1, "1", "", "gold",
          '"gold"', "b", "c", "a", [1], {"a": 1}, float("nan"), float("inf"), 0.5, 0.4999999999999, "gö", "go",
          "pool", "ab", ["gold", 1], ["x", "y"], {"gold": 1}, {"k": "gold"}, [], {}, "goldé", ["gold"]]  # fmt: skip


# Values a builtin of the policy takes without an error (a string for startswith..., a collection
# for count and in): most documents hold these; a few hold anything (VALUES), so that errors are
# raised too (pinning an error on its rule queries each rule alone: slow, so only a few).
TYPED = {
    "tier": ["gold", "go", "gö", "goldé", "ab", "b", "c", "", "silver", "gold", "silver", "silver"],
    "owner": ["pool", "tool", "x", "", "y", "z"],
    "tags": [["gold", 1], ["x", "y"], {"gold": 1}, {"k": "gold"}, [], {}, ["gold"], "gold", "ab"],
}
KIND_OK = ["Deployment", "Service", "Job", "Pod", "Employment", "Secret", "Secret", "Secret"]


def _indexed_docs() -> list[dict[str, object]]:
    import random

    rng = random.Random(18)
    docs: list[dict[str, object]] = []
    for i in range(300):
        wild = i % 25 == 0
        spec: dict[str, object] = {}
        for key in ("replicas", "tier", "public", "owner", "logging", "ratio", "version", "tags"):
            if rng.random() < 0.8:
                pool = VALUES if wild or key not in TYPED else TYPED[key]
                spec[key] = rng.choice(pool)
        if "version" in spec and not wild:
            spec["version"] = rng.choice(["1", "2", "3"])
        if rng.random() < 0.1:
            spec['"replicas"'] = 1  # rego-cpp finds this key as input.spec.replicas
        doc: dict[str, object] = {"name": rng.choice(["x", "y"]) + str(i), "spec": spec}
        if rng.random() < 0.9:
            doc["kind"] = rng.choice(KINDS if wild else KIND_OK)
        if wild and rng.random() < 0.5:
            doc["spec"] = rng.choice([[spec], "spec", None])
        docs.append(doc)
    return docs


def test_rule_indexing_finds_the_leading_tests_only() -> None:
    from deployforge.policy.batch import Test, batch_module

    guards: list = []
    batch_module(INDEXED_POLICY, {r for r in INDEXED_POLICY.split() if r.startswith("deny_")}, None, guards)
    by_first = {g.tests[0]: g.tests for g in guards if g.tests}
    assert by_first[Test(("kind",), "==", "Deployment")] == (Test(("kind",), "==", "Deployment"),)
    assert Test(("spec", "replicas"), "not") in by_first
    assert by_first[Test(("spec", "replicas"), ">", 3)] == (
        Test(("spec", "replicas"), ">", 3),  # `3 < input.x` read as `input.x > 3`
        Test(("spec", "replicas"), "<=", 100.0),
    )
    assert by_first[Test(("kind",), "==", "Job")] == (Test(("kind",), "==", "Job"),)  # to_number(...) is not a test
    assert Test(("kind",), "==", "Pod") in by_first  # `NAME contains VALUE if EXPR`
    assert Test(("spec", "tier"), ">", "b") in by_first  # kept, but never used to leave a string out
    assert by_first[Test(("name",), "startswith", "x")] == (  # the second test is leading too
        Test(("name",), "startswith", "x"),
        Test(("kind",), "==", "Service"),
    )
    assert Test(("spec", "tier"), "startswith", "go") in by_first
    assert Test(("kind",), "endswith", "ment") in by_first
    assert Test(("spec", "owner"), "contains", "ol") in by_first
    assert Test(("spec", "tags"), ">", 1, count=True) in by_first
    assert Test(("spec", "tier"), "==", 2, count=True) in by_first
    assert Test(("spec", "tags"), "in", "gold") in by_first
    assert len([g for g in guards if g.tests]) == 19


@pytest.mark.parametrize(
    "body",
    [
        "input.a == x",  # a variable
        "input.a = 1",  # unification
        'input["a"] == 1',  # a bracket
        "input.a.b[0] == 1",
        "input.a == 1 + 2",
        "input.a == input.b",
        '"a\\"b" == input.a',  # an escape
        "input.a == `raw`",
        "not input.a == 1",
        "input.a == 007",
        "input.a ==\n  1",  # a statement across lines
        "input.a == 1\n  in x",  # continued by the next line
        "input.a == 1\n  - 1",
        "some x in input.a; input.b == 1",
        "startswith(input.a, x)",
        'startswith(input.a, "é")',  # not ASCII
        'startswith(input.a.b[0], "x")',
        'startswith("x", input.a)',
        'count(input.a) == "2"',
        "count(input.a[_]) > 1",
        '"x" in input.a[_]',
        "1 in input.a",
        'not startswith(input.a, "x")',
        'upper(input.a) == "X"',
    ],
)
def test_rule_indexing_takes_nothing_else(body: str) -> None:
    from deployforge.policy.batch import batch_module

    guards: list = []
    text = f"package main\nimport rego.v1\ndeny contains 1 if {{\n  {body}\n}}\n"
    batch_module(text, {"deny"}, None, guards)
    assert [g for g in guards if g.tests] == []


def test_rule_indexing_changes_no_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same documents (missing keys, other types, 1.0 vs 1, huge integers, NaN, strings with
    quotes, a key written with its quotes, a guard before an erroring builtin...) evaluated with
    rule indexing, without it, and one document at a time: the same report."""
    import yaml

    from deployforge.policy import batch as batch_mod
    from deployforge.policy import engine as engine_mod
    from deployforge.policy import isolate

    (tmp_path / "p.rego").write_text(INDEXED_POLICY)
    (tmp_path / "in.yaml").write_text(yaml.safe_dump_all(_indexed_docs(), sort_keys=False))
    options = PolicyOptions(policies=(str(tmp_path / "p.rego"),))
    monkeypatch.setattr(isolate, "run_isolated", lambda fn, limits=None: fn())  # count in this process
    monkeypatch.setattr(engine_mod, "PARALLEL_THRESHOLD", 10**9)
    selected: list[int] = []
    original_clean = batch_mod.clean

    def counting_input(compiled: object, documents: object) -> object:
        out = original_input(compiled, documents)
        if isinstance(out, dict):
            selected.extend(len(v) for v in out["s"].values())
        return out

    original_input = engine_mod.batch_input
    monkeypatch.setattr(engine_mod, "batch_input", counting_input)

    def report() -> tuple[object, ...]:
        r = evaluate_paths([str(tmp_path / "in.yaml")], options)
        findings = [(f.rule_id, f.outcome.value, f.message, f.line, f.subject) for f in r.findings]
        return r.exit_code, findings, r.checks

    indexed = report()
    assert selected and sum(selected) < 19 * 300 * 0.6, "the guards left (almost) no document out"
    monkeypatch.setattr(engine_mod, "RULE_INDEXING", False)
    plain = report()
    monkeypatch.setattr(engine_mod.Engine, "_batch_bundle", lambda self, *a: (None, None))
    alone = report()
    assert indexed == plain == alone
    assert batch_mod.clean is original_clean
    outcomes = {f[1] for f in indexed[1]}
    assert {"failure", "error"} <= outcomes  # the erroring builtin is reached where the guard lets it


def test_rule_indexing_leaves_a_shadowed_builtin_alone() -> None:
    from deployforge.policy.batch import batch_module

    text = 'package main\nimport rego.v1\ndeny contains 1 if {\n  count(input.a) > 1\n  startswith(input.b, "x")\n}\n'
    guards: list = []
    batch_module(text, {"deny"}, None, guards)
    assert len(guards) == 1 and len(guards[0].tests) == 2
    guards = []
    batch_module(text, {"deny"}, None, guards, defined={"count"})  # a function named count somewhere
    assert [g.tests for g in guards] == [()]  # a rule that reads every document


@pytest.mark.parametrize(
    ("value", "clean"),
    [("a", True), ('a"b', False), ("a\\b", False), ("a\nb", False), ("a\x00", False), ({"k": ["x", 1]}, True),
     ({'"k"': 1}, False), ([{"k": "\t"}], False), (None, True), (1.5, True)],
)  # fmt: skip
def test_clean_documents(value: object, clean: bool) -> None:
    from deployforge.policy.batch import clean as is_clean

    assert is_clean(value) is clean


def test_compiled_tests_answer_as_may_match() -> None:
    from deployforge.policy.batch import Test, _compiled, may_match

    tests = [Test(("a",), "not"), Test(("a", "b"), "==", "x"), Test(("a",), "==", "gold"), Test(("a",), "!=", 1)]
    docs: list[object] = [{}, None, [1], {"a": None}, {"a": {"b": "x"}}, {"a": {"b": ["x"]}}, {"a": "x"}]
    docs += [{"a": v} for v in VALUES] + [{"a": {"b": v}} for v in VALUES]
    for test in tests:
        fast = _compiled(test)
        for doc in docs:
            assert fast(doc) is may_match(test, doc), (test, doc)


def test_passed_checks_counts_checks_without_a_finding() -> None:
    from deployforge.policy.model import Finding, Outcome, PolicyReport

    checks = tuple(Check(f"r{i % 3}", f"t{i % 5}", "f") for i in range(40))
    findings = (
        Finding("r1", "high", Outcome.FAILURE, "m", subject="t2"),
        Finding("r0", "high", Outcome.ERROR, "e", subject="t0"),
        Finding("r9", "high", Outcome.FAILURE, "m", subject="t1"),
    )
    report = PolicyReport(findings=findings, checks=checks)
    hit = {("r1", "t2"), ("r0", "t0")}
    assert report.passed_checks == sum(1 for c in checks if (c.rule_id, c.target) not in hit) == 40 - 6
    assert PolicyReport(checks=checks).passed_checks == 40


def test_guards_never_raise_on_numbers_beyond_a_double() -> None:
    """An integer such as 10**400 (YAML reads it) cannot be compared as a float: the guard leaves
    the document to the engine instead of failing the run."""
    from deployforge.policy.batch import Guard, Test, _compiled, may_match

    big = [10**400, -(10**400), float("inf"), float("nan"), 1]
    for op in ("==", "!=", "<", "<=", ">", ">="):
        for literal in (1, 1.5, 1e400, 10**30):
            test = Test(("a",), op, literal)
            for v in big:
                assert may_match(test, {"a": v}) is _compiled(test)({"a": v})
                if v != 1 and not isinstance(literal, int):
                    assert may_match(test, {"a": v}) is True
    guard = Guard("g0", (Test(("a",), "<", 2.5), Test(("a",), ">", 0)))
    assert guard.selector()([{"a": 10**400}, {"a": 3}], [True, True]) == [0]


KIND_POLICY = """package main
import rego.v1

deny contains msg if {
  input.kind == "Deployment"
  not input.spec.replicas
  msg := sprintf("%s: no replicas", [input.name])
}

deny contains msg if {
  input.kind == "Service"; input.spec.type == "LoadBalancer"
  msg := sprintf("%s: a load balancer", [input.name])
}

warn_job contains msg if {
  input.kind == "Job"
  to_number(input.spec.version) > 1
  msg := sprintf("%s: new job", [input.name])
}
"""


UNINDEXED_RULE = """
deny_name contains msg if {
  regex.match("^x1", input.name)
  msg := sprintf("%s: x1", [input.name])
}
"""


@pytest.mark.parametrize("every", [False, True])
def test_documents_no_rule_reads_are_not_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every: bool) -> None:
    """Every rule is indexed (on kind, as Kubernetes policies are written): a document no rule lets
    through is sent as null, and the report is the one without indexing and one at a time. With
    one rule that is not indexed (``every``), every document is sent."""
    import yaml

    from deployforge.policy import engine as engine_mod
    from deployforge.policy import isolate

    docs = _indexed_docs()
    for i, doc in enumerate(docs):  # kinds no rule reads, mostly
        if i % 3:
            doc["kind"] = "ConfigMap" if i % 2 else doc.get("kind", "Secret")
    (tmp_path / "p.rego").write_text(KIND_POLICY + (UNINDEXED_RULE if every else ""))
    (tmp_path / "in.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    options = PolicyOptions(policies=(str(tmp_path / "p.rego"),))
    monkeypatch.setattr(isolate, "run_isolated", lambda fn, limits=None: fn())
    monkeypatch.setattr(engine_mod, "PARALLEL_THRESHOLD", 10**9)
    nulls: list[int] = []
    original_input = engine_mod.batch_input

    def counting_input(compiled: object, documents: object) -> object:
        out = original_input(compiled, documents)  # type: ignore[arg-type]
        if isinstance(out, dict):
            nulls.append(sum(1 for d in out["d"] if d is None))
        return out

    monkeypatch.setattr(engine_mod, "batch_input", counting_input)

    def report() -> tuple[object, ...]:
        r = evaluate_paths([str(tmp_path / "in.yaml")], options)
        findings = [(f.rule_id, f.outcome.value, f.message, f.line, f.subject) for f in r.findings]
        return r.exit_code, findings, r.checks

    indexed = report()
    if every:
        assert nulls and sum(nulls) == 0
    else:
        assert sum(nulls) > len(docs) / 2, "documents no rule reads were sent anyway"
    monkeypatch.setattr(engine_mod, "RULE_INDEXING", False)
    plain = report()
    monkeypatch.setattr(engine_mod.Engine, "_batch_bundle", lambda self, *a: (None, None))
    alone = report()
    assert indexed == plain == alone
    assert {f[0] for f in indexed[1]} >= {"main.deny", "main.warn_job"} | ({"main.deny_name"} if every else set())
