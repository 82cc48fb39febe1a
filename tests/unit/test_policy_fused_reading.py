"""One large multi-document YAML file is read by the engine's workers, a slice each
(``evaluate.YamlSlices``): the report must be the one reading the file in the parent gives:
findings (their labels ``file#index``, lines, messages), checks, input errors and their order.
Where the slices do not read as foreseen (a document count other than predicted, a slice that
does not read on its own), the file is read whole, which gives the error exactly as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.unit.test_policy_inputs_parallel import SLICED_FROM, _pieces

from deployforge.policy import evaluate as evaluate_mod
from deployforge.policy import inputs
from deployforge.policy.evaluate import PolicyOptions, evaluate, evaluate_paths

POLICY = """package main
import rego.v1

deny contains sprintf("%s is too big", [input.name]) if input.spec.size > 40
deny contains "a rate is set" if input.rate > 0
warn contains "no name" if not input.name
deny contains "bad" if input.n == 17
"""


@pytest.fixture(autouse=True)
def _small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs, "PARALLEL_YAML_CHARS", SLICED_FROM)


def _reports(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, list[Any]]:
    (tmp_path / "p.rego").write_text(POLICY)
    path = tmp_path / "big.yaml"
    path.write_text(text)
    options = PolicyOptions(policies=(str(tmp_path / "p.rego"),))
    fused = watched(monkeypatch, "_fused_phase")
    got = evaluate_paths([str(path)], options)
    docs, problems = inputs.read_inputs([str(path)])  # the file read in this process, whole
    want = evaluate(docs, options, problems, inputs=[str(path)])
    return got, want, fused


def watched(monkeypatch: pytest.MonkeyPatch, phase: str) -> list[bool]:
    """Each call of ``evaluate.<phase>`` noted: whether the workers' reading went as planned (not None)."""
    calls: list[bool] = []
    original = getattr(evaluate_mod, phase)

    def watch(*args: Any) -> Any:
        out = original(*args)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(evaluate_mod, phase, watch)
    return calls


def same_report(got: Any, want: Any) -> None:
    a, b = got.to_json(), want.to_json()
    a.pop("duration_ms")
    b.pop("duration_ms")
    assert a == b
    assert got.checks == want.checks


def test_the_workers_read_their_slices_and_report_what_reading_it_whole_gives(tmp_path, monkeypatch):
    text = _pieces(900)
    text += "".join(f"---\nname: n{i}\nspec: {{size: {i}}}\nn: {i % 20}\n" for i in range(600))
    # documents the engine cannot read exactly, in both halves: refused at their lines
    text = "---\nname: first\nrate: 0.0000001\n" + text + '---\nname: "a\\0b"\n---\nname: x\nn: 18446744073709551616\n'
    text += '---\nname: "q\\"uote"\nrate: 1.5e-9\n'
    got, want, fused = _reports(tmp_path, text, monkeypatch)
    assert fused == [True]  # read by the workers
    same_report(got, want)
    assert len(got.failures) > 100 and len(got.errors) == 3
    assert {f.line for f in got.errors} == {f.line for f in want.errors}


def test_a_count_other_than_foreseen_reads_the_file_whole(tmp_path, monkeypatch):
    """A bare document after '...' (no '---') is one more document than the starts foretell."""
    text = _pieces(700) + "---\nname: a\n...\nname: bare\nspec: {size: 99}\n" + _pieces(700)
    got, want, fused = _reports(tmp_path, text, monkeypatch)
    assert fused == [False]
    same_report(got, want)


def test_an_error_in_a_later_slice_is_the_error_of_the_whole_file(tmp_path, monkeypatch):
    text = _pieces(1400) + "---\nname: [unclosed\n" + _pieces(200)
    got, want, fused = _reports(tmp_path, text, monkeypatch)
    assert fused == [False]
    same_report(got, want)
    [error] = got.errors
    assert error.rule_id == "input" and "YAML" in error.message.upper()


def test_what_comes_before_the_first_start_is_a_document_or_not(tmp_path, monkeypatch):
    for head in ("# a comment only\n\n", "name: implicit\nspec: {size: 50}\n"):
        got, want, fused = _reports(tmp_path, head + _pieces(1400), monkeypatch)
        assert fused == [True], head
        same_report(got, want)
