"""The job summary (``GITHUB_STEP_SUMMARY``): the same sections as the PR comment, every detail shown.

Pure: renders a ``RunResult`` with ``render.markdown``'s per-section renderers.

The runner (actions/runner ``FileCommandManager``) uploads a step's summary only when the file is
at most 1 MiB by its *byte* length (``FileInfo.Length``) and drops the whole summary above it, so the
budget is counted in UTF-8 bytes (a Japanese character is 3). Past it, rows are cut inside the
sections (the largest section first, never a whole section) and each cut says how many rows were
left out and where the full report is; the status line, the table and the attention lists stay.
``limit=None`` renders everything: the full report file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deployforge.render.markdown import (
    RenderContext,
    Section,
    attention,
    cut_note,
    details_block,
    fit_details,
    footer,
    full_report,
    header,
    masked,
    sections,
)

SUMMARY_LIMIT = 1024 * 1024  # bytes; the runner drops a summary file longer than this
SUMMARY_BUDGET = SUMMARY_LIMIT - 1024  # what we write: under the limit with room for the runner's newline


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def render_summary(
    result: Any, ctx: RenderContext, *, limit: int | None = SUMMARY_BUDGET, secs: Sequence[Section] | None = None
) -> str:
    """``secs``: the result's ``sections`` when already rendered (they are most of the cost)."""
    secs = sections(result) if secs is None else secs
    head = [*header(result, secs, ctx.label), *attention(secs)]
    foot = footer(result, ctx)
    where = full_report(ctx)

    def block(s: Any, body: str) -> str:
        return "\n".join(details_block(s, body, open_=True))

    if limit is None:
        blocks = [block(s, s.details) for s in secs if s.parts]
    else:
        fixed = utf8_size("\n".join(head + foot)) + len(secs) + 8  # + the newlines joining the blocks
        blocks, _ = fit_details(
            secs,
            limit - fixed,
            size=utf8_size,
            block=block,
            note=lambda n, total, noun: cut_note(n, total, noun, where),
        )
    text = "\n".join([*head, *blocks, *foot]).replace("\n\n\n", "\n\n")
    out = masked(text) + "\n"  # masks can only shorten
    assert limit is None or utf8_size(out) <= limit, utf8_size(out)
    return out
