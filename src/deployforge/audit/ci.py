"""The audit checkpoint in CI reports: one line of text, and its place in a rendered footer. Pure.

The line (``checkpoint_line``) goes into the GitHub job summary / PR comment
footer (``footer_part``, called by ``render.markdown.footer``) and the Jenkins
build description (``deployforge audit checkpoint``). Anyone can later check
the log against it: ``deployforge audit verify --checkpoint 'LINE'``.
"""

from __future__ import annotations

import re
from typing import Any

from deployforge.audit.signing import Checkpoint

LINE = re.compile(
    r"deployforge audit checkpoint log=[0-9a-f]{64} seq=[0-9]+ hash=[0-9a-f]{64} key=[0-9a-f]{64} sig=[A-Za-z0-9+/=]+"
)


def checkpoint_line(checkpoint: Checkpoint | None) -> str | None:
    """The checkpoint as one line of plain text (log id, seq, hash, key id, signature), or None.

    Only hex, digits and base64 characters: safe in Markdown and in a Jenkins
    build description.
    """
    if checkpoint is None:
        return None
    return (
        f"deployforge audit checkpoint log={checkpoint.log} seq={checkpoint.seq} hash={checkpoint.hash} "
        f"key={checkpoint.keyid} sig={checkpoint.sig}"
    )


def footer_part(result: Any) -> str | None:
    """The footer item for a rendered report: the audit checkpoint line the result carries, in code.

    Only a line of exactly the checkpoint shape is shown (hex, digits, base64),
    so nothing in it can change the comment's structure.
    """
    extra = getattr(result, "extra", None)
    line = extra.get("audit_checkpoint") if isinstance(extra, dict) else None
    if not isinstance(line, str) or not LINE.fullmatch(line):
        return None
    return f"audit <code>{line}</code>"
