"""The HTML report: the PR comment's Markdown rendered to one self-contained page (pure).

Jenkins shows it through ``publishHTML``; it says exactly what the PR comment says because it is
rendered from the same Markdown (``render.markdown.render_comment``), with markdown-it-py.

The Markdown may carry a few raw HTML tags of its own (``<details>``, ``<summary>``, ``<sub>``,
``<br>``, the hidden marker comment). Those pass; any other raw HTML is shown as text, so a value
that reached the Markdown from a config or a cloud API can never inject markup into the page.
"""

from __future__ import annotations

import html
import re
from typing import Any

from markdown_it import MarkdownIt

ALLOWED_TAGS = frozenset({"details", "summary", "sub", "sup", "br", "b", "i", "code", "kbd"})
_TAG = re.compile(r"^</?([a-zA-Z][a-zA-Z0-9]*)(\s+open)?\s*/?>$")
_COMMENT = re.compile(r"^<!--.*-->$", re.DOTALL)

STYLE = """
body{font:14px/1.5 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1012px;margin:24px auto;
padding:0 16px;color:#1f2328}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #d0d7de;padding:4px 10px;text-align:left}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;background:#f6f8fa;border-radius:4px}
code{padding:1px 4px}pre{padding:10px;overflow:auto}details{margin:8px 0}summary{cursor:pointer;font-weight:600}
sub{color:#656d76}
""".strip()


def _safe_html(fragment: str) -> str:
    """One raw HTML piece from the Markdown: kept if it is an allowed tag or a comment, else escaped."""
    lines = fragment.strip()
    if _COMMENT.match(lines):
        return fragment
    out = []
    for piece in re.split(r"(<[^>]*>)", fragment):
        match = _TAG.match(piece)
        if match and match.group(1).lower() in ALLOWED_TAGS:
            out.append(piece)
        else:
            out.append(html.escape(piece, quote=False))
    return "".join(out)


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")

    def html_block(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return _safe_html(tokens[idx].content)

    def html_inline(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return _safe_html(tokens[idx].content)

    md.add_render_rule("html_block", html_block)
    md.add_render_rule("html_inline", html_inline)
    return md


def render_body(markdown: str) -> str:
    """The Markdown as an HTML fragment."""
    return str(_markdown().render(markdown))


def render_html(markdown: str, *, title: str = "DeployForge report") -> str:
    """A whole, self-contained HTML page (inline style, no scripts, no external resources)."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>\n{STYLE}\n</style>\n</head>\n<body>\n"
        f"{render_body(markdown)}"
        "</body>\n</html>\n"
    )
