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
