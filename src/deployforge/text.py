"""Small pure text helpers shared by every renderer (the bottom floor: imports nothing of ours)."""

from __future__ import annotations

from collections.abc import Sequence

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
