"""One safe-Markdown module: untrusted text (names, tags, messages, provider errors) placed in the
PR comment, the job summary and drift issues can never change the document's structure (Slack's
own escaping is ``notify/slack.slack``).

Pure functions; every one masks secrets first (a cut or escaped secret would no longer match).

* ``code(text)``: an inline code span on one line, its fence longer than any backtick run inside
  (nothing inside a code span is Markdown or HTML, and GitHub mentions nothing in one).
* ``text(text)``: prose on one line: the characters that start code spans, links, images, raw
  HTML, autolinks, entities and table cells backslash-escaped, a leading block marker (``#``, ``-``,
  ``1.``, ``>``) escaped, and the things GitHub links in plain text broken with a zero-width
  space: ``@user`` / ``@org/team`` mentions, ``#123`` / ``GH-123`` references, bare
  ``https://`` and ``www.`` autolinks, ``user@host`` e-mail links.
* ``cell(markdown)``: a Markdown fragment made safe inside a table cell (pipes escaped, one line).
* ``html(text)``: text inside raw HTML (``<summary>``): HTML-escaped, links and mentions broken.
* ``fence(lines, info)``: a fenced code block whose fence is longer than any backtick run inside.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

ZWSP = "\u200b"  # zero-width space: invisible, but ends a mention, a reference or an autolink

# the characters that open code spans, links and images, raw HTML, autolinks, entities and table
# cells (emphasis is left alone: it changes no structure and links nothing)
_ESCAPE = re.compile(r"([\\`\[\]<>|&])")
_LEADING_BLOCK = re.compile(r"^(\s*)([#>+=*_~-]|\d+[.)])")
_MENTION = re.compile(r"@(?=[A-Za-z0-9_-])")  # @user, @org/team
_REFERENCE = re.compile(r"(#|\b[Gg][Hh]-)(?=\d)")  # #123, GH-123, owner/repo#123
_AUTOLINK = re.compile(r"(?i)(://|\bwww(?=\.)|\b(?:https?|ftp|mailto|xmpp)(?=:))")
_LINE_BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")


def _masked(value: Any) -> str:
    from deployforge.secrets.masking import mask

    return mask(str(value))


def one_line(value: Any) -> str:
    """Masked, every line terminator a space, other control characters dropped."""
    return _CONTROL.sub("", _LINE_BREAKS.sub(" ", _masked(value)))


def _unlink(value: str) -> str:
    """Mentions, references and autolinks broken with a zero-width space."""
    value = _MENTION.sub("@" + ZWSP, value)
    value = _REFERENCE.sub(lambda m: m.group(1) + ZWSP, value)
    return _AUTOLINK.sub(lambda m: m.group(1) + ZWSP if m.group(1) != "://" else ":" + ZWSP + "//", value)


def code(value: Any) -> str:
    """An inline code span that survives any content (backticks, pipes outside tables, HTML)."""
    inner = one_line(value)
    longest = max((len(run) for run in re.findall(r"`+", inner)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if inner.startswith(("`", " ")) or inner.endswith(("`", " ")) or not inner else ""
    return f"{fence}{pad}{inner}{pad}{fence}"


def text(value: Any, limit: int | None = None) -> str:
    """Untrusted prose on one line, inert: no markup, link, image, HTML, mention or reference."""
    value = " ".join(one_line(value).split())
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "…"
    value = _ESCAPE.sub(r"\\\1", value)
    value = _LEADING_BLOCK.sub(lambda m: m.group(1) + "\\" + m.group(2), value)
    return _unlink(value)


def cell(markdown: str) -> str:
    """A Markdown fragment (already safe inline) inside a table cell: pipes escaped, one line.

    A pipe inside a code span must be escaped too: GFM splits cells before it parses code spans
    (and turns ``\\|`` in a code span back into ``|``)."""
    return re.sub(r"(?<!\\)((?:\\\\)*)\|", r"\1\\|", one_line(markdown))


def html(value: Any) -> str:
    """Untrusted text inside raw HTML (e.g. ``<summary>``), where Markdown is not parsed."""
    import html as _html

    return _unlink(_html.escape(" ".join(one_line(value).split()), quote=True))


def fence(lines: Sequence[str], info: str = "") -> list[str]:
    """A fenced code block around ``lines`` (masked), with a fence no line inside can close."""
    body = [_masked(line) for line in lines]
    longest = max((len(run) for line in body for run in re.findall(r"`+", line)), default=0)
    mark = "`" * max(3, longest + 1)
    return [mark + info, *body, mark]
