"""The job summary (``GITHUB_STEP_SUMMARY``): the same sections as the PR comment, every detail shown.

Pure: renders a ``RunResult`` with ``render.markdown``'s per-section renderers. GitHub accepts up
to 1 MiB of summary per step; past that the details are cut, never the status line or the table.
"""

from __future__ import annotations

from typing import Any

from deployforge.render.markdown import (
    WARN,
    RenderContext,
    _masked,
    attention,
    details_block,
    footer,
    header,
    sections,
)

SUMMARY_LIMIT = 1024 * 1024


def render_summary(result: Any, ctx: RenderContext, *, limit: int = SUMMARY_LIMIT) -> str:
    secs = sections(result)
    head = [*header(result, secs), *attention(secs)]
    foot = footer(result, ctx)
    used = len("\n".join(head + foot)) + 200
    body: list[str] = []
    cut = False
    for s in secs:
        if not s.details:
            continue
        block = "\n".join(details_block(s, s.details, open_=True))
        if used + len(block) > limit:
            cut = True
            continue
        body.append(block)
        used += len(block) + 1
    if cut:
        where = f" {ctx.artifact}" if ctx.artifact else " the report file"
        body.append(f"> {WARN} Some details were left out to fit the job summary's size limit; see{where}.\n")
    text = "\n".join([*head, *body, *foot]).replace("\n\n\n", "\n\n")
    return _masked(text) + "\n"
