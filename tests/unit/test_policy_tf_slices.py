"""One large ``.tf`` file is read by the engine's workers, a slice each (``policy/tfslices.py``):
the report must be the one reading the file in the parent gives (findings, their lines and
resources, checks, input errors, order). Where a slice does not read as the headers foretold (a
cut inside a heredoc, a variable after the first resource, an address in two slices, an indented
block, a package over the whole file, a value the engine cannot read), the file is read whole,
which gives the same report, errors included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.unit.test_policy_fused_reading import same_report, watched

from deployforge.policy import engine as engine_mod
from deployforge.policy import evaluate as evaluate_mod
from deployforge.policy import inputs, tfslices
from deployforge.policy.evaluate import PolicyOptions, evaluate, evaluate_paths

RESOURCE_POLICY = """package deployforge.checks
import rego.v1

deny contains sprintf("%s is public", [input.address]) if input.resource.acl == "public-read"
deny contains sprintf("%s is in %s", [input.address, input.resource.region]) if input.resource.region == "eu-west-1"
warn contains "a note" if input.resource.note == "see aws_s3_bucket.b3"
"""


def _blocks(first: int, count: int, kind: str = "aws_s3_bucket") -> str:
    out = []
    for i in range(first, first + count):
        acl = "public-read" if i % 3 == 0 else "private"
        note = '  note = "see aws_s3_bucket.b3"\n' if i % 7 == 0 else ""
        out.append(f'resource "{kind}" "b{i}" {{\n  acl = "{acl}"\n{note}  tags = {{\n    n = {i}\n  }}\n}}\n\n')
    return "".join(out)


LATE_VARIABLE = 'variable "late" {\n  default = 1\n}\n'
LATE_PROVIDER = 'provider "aws" {\n  region = "eu-west-1"\n}\n'
BIG = 'resource "aws_s3_bucket" "big" {\n  size = 18446744073709551616\n}\n'
HEAD = 'variable "region" {\n  default = "eu-west-1"\n}\n\nprovider "aws" {\n  region = var.region\n}\n\n'


@pytest.fixture(autouse=True)
def _two_slices_for_small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slice any .tf in two (this machine may have one CPU; the files here are small)."""
    monkeypatch.setattr(tfslices, "PARALLEL_TF_CHARS", 0)
    monkeypatch.setattr(tfslices, "slices_for", lambda text: tfslices.plan(text, 2, 1))


def _reports(
    tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch, policy: str = RESOURCE_POLICY, **options: Any
) -> tuple[Any, Any, list[bool]]:
    (tmp_path / "p.rego").write_text(policy)
    path = tmp_path / "main.tf"
    path.write_text(text)
    opts = PolicyOptions(policies=(str(tmp_path / "p.rego"),), **options)
    sliced = watched(monkeypatch, "_tf_phase")
    got = evaluate_paths([str(path)], opts)
    docs, problems = inputs.read_inputs([str(path)])  # the file read in this process, whole
    want = evaluate(docs, opts, problems, inputs=[str(path)])
    return got, want, sliced


def test_the_workers_read_their_slices_and_report_what_reading_it_whole_gives(tmp_path, monkeypatch):
    # two resource types interleaved: findings follow the file, in both ways of reading it
    text = HEAD + "".join(_blocks(i, 1) + _blocks(i + 1000, 1, "aws_instance") for i in range(40))
    got, want, sliced = _reports(tmp_path, text, monkeypatch)
    assert sliced == [True]
    same_report(got, want)
    public = [f for f in got.failures if f.message.endswith("is public")]
    assert len(public) == len([i for i in range(40) if i % 3 == 0] + [i for i in range(1000, 1040) if i % 3 == 0])
    # regions come from the head's provider and variable, in the second slice too
    assert any(f.message == "aws_instance.b1039 is in eu-west-1" for f in got.failures)
    # resources, lines and file order as reading it whole: b39 is in the second slice
    by_address = {f.resource: f.line for f in got.failures}
    assert by_address["aws_s3_bucket.b39"] == text[: text.index('"b39"')].count("\n") + 1
    lines = [f.line for f in got.failures if f.message.endswith("is public")]
    assert lines == sorted(lines)


@pytest.mark.parametrize(
    ("case", "text"),
    [
        (
            "a variable after the first resource",
            HEAD + _blocks(0, 30) + LATE_VARIABLE + _blocks(30, 30),
        ),
        (
            "a provider after the first resource",
            _blocks(0, 30) + LATE_PROVIDER + _blocks(30, 30),
        ),
        ("one address in two slices", HEAD + _blocks(0, 40) + _blocks(5, 1)),
    ],
)
def test_what_a_slice_cannot_see_reads_the_file_whole(tmp_path, monkeypatch, case, text):
    got, want, sliced = _reports(tmp_path, text, monkeypatch)
    assert sliced == [], case  # foreseen by the plan: the file is read whole from the start
    same_report(got, want)


def test_a_header_inside_a_heredoc_at_the_cut_reads_the_file_whole(tmp_path, monkeypatch):
    # the cut falls on a line that only looks like a block's header: the first slice ends inside
    # the heredoc and does not read on its own
    fake = "".join(f'resource "aws_s3_bucket" "fake{i}" {{\n  acl = "public-read"\n}}\n' for i in range(30))
    heredoc = f'resource "aws_s3_bucket" "doc" {{\n  acl = "private"\n  policy = <<EOT\n{fake}EOT\n}}\n'
    text = HEAD + _blocks(0, 5) + heredoc + _blocks(5, 10)
    plan = tfslices.plan(text, 2, 1)
    assert plan is not None and text[plan.bounds[1][0] :].startswith('resource "aws_s3_bucket" "fake')
    got, want, sliced = _reports(tmp_path, text, monkeypatch)
    assert sliced == [False]
    same_report(got, want)
    assert not any("fake" in (f.resource or "") for f in got.findings)


def test_an_indented_block_the_headers_do_not_show_reads_the_file_whole(tmp_path, monkeypatch):
    text = HEAD + _blocks(0, 20) + '  variable "hidden" {\n    default = 2\n  }\n' + _blocks(20, 20)
    got, want, sliced = _reports(tmp_path, text, monkeypatch)
    assert sliced == [False]
    same_report(got, want)


def test_an_error_in_a_later_slice_is_the_error_of_the_whole_file(tmp_path, monkeypatch):
    text = HEAD + _blocks(0, 30) + 'resource "aws_s3_bucket" "broken" {\n  acl = = 1\n}\n' + _blocks(30, 10)
    got, want, sliced = _reports(tmp_path, text, monkeypatch)
    assert sliced == [False]
    same_report(got, want)
    [error] = got.errors
    assert error.rule_id == "input" and "invalid HCL" in error.message


def test_a_value_the_engine_cannot_read_is_refused_as_when_read_whole(tmp_path, monkeypatch):
    text = HEAD + _blocks(0, 30) + BIG + _blocks(30, 10)
    got, want, sliced = _reports(tmp_path, text, monkeypatch)
    assert sliced == [False]
    same_report(got, want)
    assert len(got.errors) == 1 and "64" in got.errors[0].message


def test_a_package_over_the_whole_file_reads_it_whole(tmp_path, monkeypatch):
    policy = 'package main\nimport rego.v1\ndeny contains "many" if count(input.resource.aws_s3_bucket) > 10\n'
    text = HEAD + _blocks(0, 40)
    got, want, sliced = _reports(tmp_path, text, monkeypatch, policy=policy)
    assert sliced == []  # foreseen from the package line
    same_report(got, want)
    assert [f.message for f in got.failures] == ["many"]


def test_a_package_only_the_engine_selects_is_caught_by_the_workers(tmp_path, monkeypatch):
    # the guess reads package lines; a package split over files the guess cannot read makes the
    # workers see a whole-file package and answer None
    monkeypatch.setattr(evaluate_mod, "_may_select_a_file_package", lambda options: False)
    policy = 'package main\nimport rego.v1\ndeny contains "many" if count(input.resource.aws_s3_bucket) > 10\n'
    got, want, sliced = _reports(tmp_path, HEAD + _blocks(0, 40), monkeypatch, policy=policy)
    assert sliced == [False]
    same_report(got, want)


def test_many_slices_cut_where_the_engine_cuts_its_items(tmp_path, monkeypatch):
    monkeypatch.setattr(tfslices, "slices_for", lambda text: tfslices.plan(text, 3, 1))
    monkeypatch.setattr(engine_mod, "PARALLEL_THRESHOLD", 1)
    text = HEAD + _blocks(0, 31) + 'data "aws_caller_identity" "me" {\n}\n' + _blocks(31, 9)
    got, want, sliced = _reports(tmp_path, text, monkeypatch)
    assert sliced == [True]
    same_report(got, want)


def test_the_plan_follows_the_headers():
    text = HEAD + _blocks(0, 9) + "locals {\n  x = 1\n}\n" + _blocks(9, 1)
    plan = tfslices.plan(text, 2, 1)
    assert plan is not None
    assert [a for a, _line in plan.resources][:2] == ["aws_s3_bucket.b0", "aws_s3_bucket.b1"]
    assert len(plan.resources) == 10 and len(plan.bounds) == 2
    assert text[plan.bounds[1][0] :].startswith('resource "aws_s3_bucket" "b5"')
    assert plan.lines["variable.region"] == 1 and plan.lines["provider.aws"] == 5
    parsed = inputs.parse_hcl_with_lines(text)
    assert plan.lines == parsed.lines
    assert tfslices.plan(text, 2, 11) is None  # fewer resources than the minimum
    assert tfslices.plan(text, 1, 1) is None
