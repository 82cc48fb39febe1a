"""Untrusted text in the PR comment and the job summary cannot change their structure (property test).

Every free-text value of a full run (plan, policy, canary, drift, hooks, apply, config issues, the
environment) is replaced by random text laced with every injection trick, the comment and the
summary are rendered, and markdown-it-py parses them back. Against the same run with harmless
values: the same blocks (headings, tables and their cells, details, lists, code blocks), no HTML tag,
image or link from the input, no live mention, issue reference or bare autolink.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from deployforge.errors import ConfigIssue, Location
from deployforge.model.plan import Plan
from deployforge.model.result import RunResult
from deployforge.render import safe_md
from deployforge.render.markdown import RenderContext, render_comment
from deployforge.render.summary import render_summary

CASES = Path(__file__).resolve().parents[1] / "golden" / "comment" / "cases"
CTX = RenderContext(
    workflow="pr",
    run_url="https://github.com/octo/infra/actions/runs/777",
    commit="9f2c1e0b7a6d5c4b3a29",
    summary_url="https://github.com/octo/infra/actions/runs/777",
    artifact=".deployforge/reports/summary.md",
)
MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])

# the tricks of issue 12 (and a few more): each one changes a naive rendering
TRICKS = [
    "`",
    "``",
    "` </details> `",
    "</details>",
    "</summary></details><h1>owned</h1>",
    "<img src=x onerror=alert(1)>",
    "<h1>big</h1>",
    "![pixel](https://tracker.example/p.png)",
    "[click](https://evil.example)",
    "[ref][r]\n\n[r]: https://evil.example",
    "<https://evil.example>",
    "https://evil.example/x",
    "www.evil.example",
    "mail@evil.example",
    "@octo-org/admins",
    "@someone",
    "#123",
    "GH-77",
    "octo/infra#9",
    "&#64;someone",
    "&lt;b&gt;",
    "| a | b |",
    "\n| a | b |\n|---|---|\n| c | d |\n",
    "\n# heading\n",
    "\n---\n",
    "\n```\n",
    "```",
    "~~~",
    "\n- item\n",
    "1. item",
    "> quote",
    "* star",
    "<!-- x -->",
    "-->",
    "\\",
    "\\|",
    "\r",
    "\u2028",
    "<details><summary>x</summary>",
    "<sub>",
]

hostile = st.lists(
    st.one_of(st.sampled_from(TRICKS), st.text(alphabet=st.characters(codec="utf-8"), max_size=12)),
    min_size=1,
    max_size=4,
).map("".join)

# values the renderers switch on (they stay valid); every other string is free text
KEEP = {"action", "outcome", "status", "verdict", "format", "created_at", "state_lineage", "config_hash", "run_id"}


class SectionDoc:
    def __init__(self, data: Any):
        self.data = data

    def to_json(self) -> Any:
        return self.data


HOOKS = {
    "runs": [
        {"name": "n", "phase": "pre_plan", "target": "t", "status": "failed", "exit_code": 3, "message": "m",
         "output_tail": ["o"], "continue_on_error": False},
        {"name": "n", "phase": "post_deploy", "target": None, "status": "ok", "exit_code": 0, "message": "",
         "output_tail": [], "continue_on_error": False},
    ]
}  # fmt: skip
APPLY = {
    "resources": [
        {"type": "t", "name": "n", "action": "create", "outcome": "failed", "error": "e"},
        {"type": "t", "name": "n", "action": "update", "outcome": "updated", "reason": "r"},
    ],
    "summary": {"created": 0, "updated": 1, "failed": 1},
    "interrupted": False,
}


def _replace(doc: Any, value: Any, key: str = "") -> Any:
    if isinstance(doc, dict):
        return {k: _replace(v, value, k) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_replace(v, value, key) for v in doc]
    if isinstance(doc, str) and key not in KEEP:
        return value() if callable(value) else value
    return doc


def _result(value: Any) -> RunResult:
    data = json.loads((CASES / "full_run.json").read_text())
    data = _replace(copy.deepcopy(data), value)
    return RunResult(
        "run",
        value() if callable(value) else value,
        "DF-TRC-PROP0001",
        1,
        issues=(ConfigIssue(value() if callable(value) else value, Location("deployforge.yaml", 3, 5), "h"),),
        plan=Plan.from_json(data["plan"]),
        messages=("note: " + (value() if callable(value) else value),),  # an empty message is left out
        policy=SectionDoc(data["policy"]),
        canary=SectionDoc(data["canary"]),
        drift=SectionDoc(data["drift"]),
        hooks=SectionDoc(_replace(copy.deepcopy(HOOKS), value)),
        apply=SectionDoc(_replace(copy.deepcopy(APPLY), value)),  # type: ignore[arg-type]
    )


def _tags(html: str) -> list[str]:
    return re.findall(r"</?([A-Za-z][\w-]*)", html)


def _walk(tokens: list[Token]) -> list[Token]:
    out = []
    for t in tokens:
        out.append(t)
        if t.children:
            out += _walk(t.children)
    return out


def structure(text: str, tokens: list[Token] | None = None) -> dict[str, Any]:
    tokens = MD.parse(text) if tokens is None else tokens
    flat = _walk(tokens)
    blocks = [(t.type, t.tag, tuple(_tags(t.content)) if t.type == "html_block" else ()) for t in tokens]
    return {
        "blocks": blocks,
        "html_inline": [t.content for t in flat if t.type == "html_inline"],
        "links": [t.attrGet("href") for t in flat if t.type == "link_open"],
        "images": [t.attrGet("src") for t in flat if t.type == "image"],
    }


LIVE = re.compile(
    r"(?<![\w`])@[A-Za-z0-9]"  # a mention
    r"|(?<![\w&])#\d"  # an issue reference
    r"|\bGH-\d"
    r"|://|\bwww\."  # a bare autolink
)


def live_text(text: str, tokens: list[Token] | None = None) -> list[str]:
    """Text GitHub would turn into a mention, reference or link (outside code)."""
    found = []
    for t in _walk(MD.parse(text) if tokens is None else tokens):
        if t.type == "html_block" and t.content.startswith(("<!-- deployforge:comment", "<!-- deployforge:plan ")):
            continue  # the hidden marker and plan record: HTML comments are never shown (kept closed)
        if t.type in ("text", "html_block") and LIVE.search(t.content):
            found.append(t.content)
    return found


BENIGN = _result("x")
EXPECTED = {render: structure(render(BENIGN, CTX)) for render in (render_comment, render_summary)}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_untrusted_text_never_changes_the_comment_or_the_summary(data: st.DataObject) -> None:
    result = _result(lambda: data.draw(hostile))
    for render in (render_comment, render_summary):
        expected = EXPECTED[render]
        text = render(result, CTX)
        tokens = MD.parse(text)  # parsed once for both checks
        got = structure(text, tokens)
        assert got["blocks"] == expected["blocks"], text
        assert got["html_inline"] == expected["html_inline"], text  # no HTML tag from the input
        assert got["links"] == expected["links"] and got["images"] == [], text  # no link, no image
        live = [t for t in live_text(text, tokens) if "actions/runs/777" not in t]
        assert live == [], live  # no mention, no reference, no autolink


def test_each_trick_alone_in_every_section() -> None:
    for trick in TRICKS:
        result = _result(trick)
        for render in (render_comment, render_summary):
            text = render(result, CTX)
            assert structure(text)["blocks"] == structure(render(BENIGN, CTX))["blocks"], (trick, text)
            got = structure(text)
            assert got["images"] == [] and got["html_inline"] == structure(render(BENIGN, CTX))["html_inline"]


def test_code_spans_outlast_backticks_and_text_is_inert() -> None:
    assert safe_md.code("a`b``c") == "```a`b``c```"
    assert safe_md.code("`x`") == "`` `x` ``"
    assert safe_md.code("a\nb") == "`a b`"
    assert safe_md.text("<img src=x> ![p](u) @org/team #12") == "\\<img src=x\\> !\\[p\\](u) @\u200borg/team #\u200b12"
    assert safe_md.text("- item").startswith("\\-")
    assert safe_md.cell("`a|b` \\| c") == "`a\\|b` \\| c"
    assert safe_md.html("</summary>@x") == "&lt;/summary&gt;@\u200bx"
    assert safe_md.fence(["``` x", "````"], "diff") == ["`````diff", "``` x", "````", "`````"]


def test_slack_text_cannot_mention_or_link() -> None:
    from deployforge.notify.slack import message

    payload = message("t", ["<!channel> <@U123> <https://evil|click> & co"], fields={"Environment": "<!here>"})
    body = json.dumps(payload)
    for live in ("<!channel>", "<@U123>", "<https://evil|", "<!here>"):
        assert live not in body
    assert "&lt;!channel&gt;" in body
