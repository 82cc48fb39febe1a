"""Small pure text helpers shared by every renderer (the bottom floor: imports nothing of ours)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_IRREGULAR = {"was": "were", "is": "are", "has": "have"}


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 failure``, ``2 failures``, ``0 failures``; ``many`` for words that do not take an s."""
    if count == 1:
        return f"{count} {word}"
    if many is None:
        many = _IRREGULAR.get(word) or (word + "es" if word.endswith(("s", "x", "ch", "sh")) else word + "s")
    return f"{count} {many}"


def columns(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Rows under their headers, each column as wide as its widest cell (pure; no trailing spaces)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    return [
        (indent + "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))).rstrip()
        for row in (headers, *rows)
    ]


def clip(text: str, limit: int = 300) -> str:
    """``text`` on one line, at most ``limit`` characters, cut at a word boundary with an ellipsis:
    a long error stays readable instead of ending mid-word ("...Failed to re")."""
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:(") + "…"


def did_you_mean(word: str, choices: Any) -> str | None:
    """``did you mean 'x'?`` for the closest of ``choices`` to a mistyped ``word``, or None."""
    import difflib

    match = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else None


def json_text(data: Any, levels: int = 3) -> str:
    """``data`` as JSON, indented by two spaces for its first ``levels`` levels of nesting, and each
    value below them on one line (a finding, a resource's change, a drift record).

    ``json.dumps(indent=2)`` runs Python's own encoder over every value (its C encoder only writes
    unindented JSON): 0.33 s for a 5,000-resource policy report, 1.3 s for 20,000. This writes the
    deep values with the C encoder: the same JSON, a line per item, in a fraction of the time."""
    import json

    compact = json.JSONEncoder(separators=(", ", ": "), default=str).encode  # one encoder, many values

    def key(k: Any) -> str:  # a key as json.dumps writes one (True -> "true", None -> "null")
        if isinstance(k, str):
            return k
        return "true" if k is True else "false" if k is False else "null" if k is None else str(k)

    def write(value: Any, depth: int, pad: str) -> str:
        if depth >= levels or not isinstance(value, dict | list | tuple) or not value:
            return compact(value)
        inner = pad + "  "
        if isinstance(value, dict):
            items = [f"{inner}{compact(key(k))}: {write(v, depth + 1, inner)}" for k, v in value.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        return "[\n" + ",\n".join(inner + write(v, depth + 1, inner) for v in value) + "\n" + pad + "]"

    return write(data, 0, "")
