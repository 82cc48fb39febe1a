"""Golden files for `deployforge audit trace` (mermaid, text, json), and a strict check that every
Mermaid document we emit is valid flowchart syntax.

Regenerate after an intended change:  DEPLOYFORGE_REGEN_GOLDEN=1 pytest tests/golden/audit

There is no Mermaid CLI on this machine (and mermaid's own parser needs a browser DOM), so
``check_flowchart`` is a strict validator of the flowchart subset the renderer emits: a fenced
``flowchart TD``, node statements ``ID["LABEL"]``, edges ``ID --> ID`` (the order steps ran in) and
``ID -.-> ID`` (a command the run started), ``classDef`` and ``class``.
It enforces Mermaid's rules for that subset: ids are ``[A-Za-z][A-Za-z0-9_]*`` and not a keyword,
defined once, edges join defined nodes, labels hold no raw ``"``, and ``#`` only starts an entity
code (``#quot;``, ``#35;``), ``<`` only in ``<br/>``.
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
from pathlib import Path

import pytest

from deployforge.audit.trace_report import build_trace, mermaid_id, render_mermaid, render_text

sys.path.insert(0, str(Path(__file__).parent))
import audit_trace_cases as cases

HERE = Path(__file__).parent

KEYWORDS = {
    "end", "graph", "flowchart", "subgraph", "class", "classdef", "click", "style", "linkstyle",
    "direction", "call", "href", "callback", "default", "interpolate", "td", "tb", "bt", "rl", "lr",
}  # fmt: skip
ID = r"[A-Za-z][A-Za-z0-9_]*"
NODE = re.compile(rf'^    ({ID})\["([^"\n]*)"\]$')
EDGE = re.compile(rf"^    ({ID}) (?:-->|-\.->) ({ID})$")
CLASSDEF = re.compile(rf"^    classDef ({ID}) ([a-z-]+:[#A-Za-z0-9.()%-]+(?:,[a-z-]+:[#A-Za-z0-9.()%-]+)*)$")
CLASS = re.compile(rf"^    class ({ID}(?:,{ID})*) ({ID})$")
ENTITY = re.compile(r"#(?:[a-z]+|\d+);")


def check_flowchart(text: str) -> list[str]:
    """Every violation of the emitted flowchart subset (an empty list: it parses)."""
    problems: list[str] = []
    lines = text.split("\n")
    if lines[0] == "```mermaid":
        if lines[-2:] != ["```", ""]:
            return ["fence opened but not closed"]
        lines = lines[1:-2]
    elif lines[-1] == "":
        lines = lines[:-1]
    if not lines or lines[0] != "flowchart TD":
        return ["first line is not 'flowchart TD'"]
    nodes: set[str] = set()
    classes: set[str] = set()
    for number, line in enumerate(lines[1:], 2):
        if m := NODE.match(line):
            node, label = m.groups()
            if node.lower() in KEYWORDS:
                problems.append(f"line {number}: node id {node!r} is a keyword")
            if node in nodes:
                problems.append(f"line {number}: node {node!r} defined twice")
            nodes.add(node)
            rest = ENTITY.sub("", label.replace("<br/>", ""))
            if "#" in rest or "<" in rest or ">" in rest or "`" in rest:
                problems.append(f"line {number}: unescaped # < > or ` in label {label!r}")
            if any(ord(c) < 32 for c in label):
                problems.append(f"line {number}: control character in label")
        elif m := EDGE.match(line):
            for end in m.groups():
                if end not in nodes:
                    problems.append(f"line {number}: edge to undefined node {end!r}")
        elif m := CLASSDEF.match(line):
            classes.add(m.group(1))
        elif m := CLASS.match(line):
            members, name = m.groups()
            if name not in classes:
                problems.append(f"line {number}: class {name!r} used before classDef")
            problems += [f"line {number}: class on undefined node {n!r}" for n in members.split(",") if n not in nodes]
        else:
            problems.append(f"line {number}: not a flowchart statement: {line!r}")
    return problems


def check(name: str, text: str) -> None:
    path = HERE / name
    if os.environ.get("DEPLOYFORGE_REGEN_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with DEPLOYFORGE_REGEN_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


CASES = {
    "pipeline": (cases.pipeline, cases.RUN),
    "legacy": (cases.legacy_and_interrupted, "20261126T031500Z-1a2b3c"),
    "interrupted": (cases.legacy_and_interrupted, "DF-TRC-2QBB3WXXXX"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_trace_renderings_match_golden_files(case):
    make, trace_id = CASES[case]
    trace = build_trace(make(), trace_id)
    mermaid = render_mermaid(trace)
    assert check_flowchart(mermaid) == []
    check(f"{case}.mermaid.md", mermaid)
    check(f"{case}.txt", render_text(trace))
    check(f"{case}.json", json.dumps(trace.to_json(), indent=2, ensure_ascii=False) + "\n")


def test_pipeline_trace_has_the_child_run_and_nesting():
    trace = build_trace(cases.pipeline(), cases.RUN)
    parents = {n.name: n.parent for n in trace.nodes}
    assert parents["end"] == f"{cases.RUN}.2"
    assert parents["deployforge policy"] == cases.RUN
    assert parents["金丝雀 déploiement"] == cases.CHILD
    assert [n.name for n in trace.children(cases.RUN)][:2] == ["plan", "deploy (canary)"]  # start order


def test_steps_follow_one_another_in_the_order_they_ran():
    """Issue 17 point 11: each step follows the previous one (not all hanging off the run); a step's own
    steps hang from it in order; a command the run started hangs from the run on a dotted edge."""
    from deployforge.audit.trace_report import flow_edges

    trace = build_trace(cases.pipeline(), cases.RUN)
    name = {n.id: n.name for n in trace.nodes}
    edges = [(name[a], name[b], started) for a, b, started in flow_edges(trace)]
    assert edges == [
        ("deployforge run", "plan", False),
        ("plan", "deploy (canary)", False),
        ("deploy (canary)", "canary 5% → health ✓", False),
        ("canary 5% → health ✓", "end", False),
        ("end", 'say "hi" <script>#1</script> `x`', False),
        ("deploy (canary)", "post_success hook: pytest system_tests/", False),
        ("deployforge run", "deployforge policy", True),
        ("deployforge policy", "金丝雀 déploiement", False),
    ]
    text = render_mermaid(trace)
    assert text.count("    n0_deployforge_run --> ") == 1 and "n0_deployforge_run -.-> n7_deployforge_policy" in text


def test_canary_steps_recorded_inside_a_run_nest_under_their_stage_step():
    """A ``deploy.step`` record linked by ``trace.stage_record`` (step_id, parent_id) hangs from the canary
    step, after it, and starts ``duration`` before it was appended."""
    records = [
        {
            "kind": "deploy.step",
            "run_id": cases.RUN,
            "trace_id": cases.RUN,
            "step_id": f"{cases.RUN}.2",
            "parent_id": f"{cases.RUN}.1",
            "ts": "2026-11-26T03:15:02.000000Z",
            "seq": 1,
            "step": {"index": 1, "description": "shift 50%", "started_s": 0.5, "ended_s": 1.5, "outcome": "done"},
        },
        {
            "kind": "step",
            "trace_id": cases.RUN,
            "step_id": f"{cases.RUN}.1",
            "parent_id": cases.RUN,
            "name": "canary",
            "outcome": "ok",
            "started_at": "2026-11-26T03:15:00.500000Z",
            "duration_ms": 1600.0,
        },
        {"kind": "run", "trace_id": cases.RUN, "command": "run", "outcome": "ok", "ts": "2026-11-26T03:15:03Z"},
    ]
    trace = build_trace(records, cases.RUN)
    canary, step = trace.nodes[1], trace.nodes[2]
    assert (canary.name, step.name, step.parent, step.started) == (
        "canary",
        "canary step 1: shift 50%",
        canary.id,
        "2026-11-26T03:15:01.000Z",
    )


def test_bare_mermaid_has_no_fence():
    text = render_mermaid(build_trace(cases.pipeline(), cases.RUN), fence=False)
    assert text.startswith("flowchart TD\n") and "```" not in text and check_flowchart(text) == []


ALPHABET = 'end graph "<>#`&;:|{}[]()\\/\t\n-->.~ é✓金丝雀🚀\u200b\u202e' + "abcXYZ019_"


def test_any_step_names_give_a_valid_diagram():
    rng = random.Random(9)
    for round_ in range(200):
        records = [
            {
                "kind": "step",
                "trace_id": "DF-TRC-2QBB3T0000",
                "step_id": f"DF-TRC-2QBB3T0000.{i}",
                "parent_id": "DF-TRC-2QBB3T0000" if i < 2 else f"DF-TRC-2QBB3T0000.{rng.randint(1, i - 1)}",
                "name": "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12))),
                "outcome": rng.choice(["ok", "error", "end", "<x>"]),
                "started_at": f"2026-11-26T03:15:{i:02d}.000000Z",
                "duration_ms": rng.random() * 1e6,
            }
            for i in range(1, 15)
        ]
        text = render_mermaid(build_trace(records, "DF-TRC-2QBB3T0000"))
        assert check_flowchart(text) == [], (round_, text)


def test_the_validator_rejects_what_mermaid_rejects():
    good = 'flowchart TD\n    a["x"]\n    b["y"]\n    a --> b\n'
    assert check_flowchart(good) == []
    assert check_flowchart(good.replace('b["y"]', 'end["y"]').replace("--> b", "--> end"))
    assert check_flowchart(good.replace('"y"', '"say "hi""'))
    assert check_flowchart(good.replace('"y"', '"a #b"'))
    assert check_flowchart(good.replace("a --> b", "a --> c"))
    assert check_flowchart(good.replace('a["x"]', 'my node["x"]'))
    assert check_flowchart("graph\n")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("end", "n3_end"), ("canary 5% → ✓", "n0_canary_5"), ("金丝雀", "n7"), ("Déploiement", "n1_deploiement")],
)
def test_node_ids_are_sanitised(name, expected):
    index = int(expected.split("_")[0][1:])
    assert mermaid_id(name, index) == expected
