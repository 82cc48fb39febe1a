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
    time and the next (timestamps stay strings, as conftest reads them)."""
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
            if key == f"k{_SCALARS.index('2024-01-02')}":
                assert value == "2024-01-02"
            elif isinstance(want, float) and math.isnan(want):
                assert isinstance(value, float) and math.isnan(value)
            else:
                assert (type(value), value) == (type(want), want), key
