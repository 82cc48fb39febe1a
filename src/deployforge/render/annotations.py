"""GitHub Actions workflow-command annotations (``::error file=..,line=..::message``), pure.

GitHub shows these lines as annotations on the files of a pull request. Values are escaped by the
one output guard (``deployforge.ci.workflow_commands``): in the message ``%`` and every line
terminator; in properties also ``:`` and ``,``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LEVELS = ("error", "warning", "notice")


@dataclass(frozen=True)
class Annotation:
    level: str  # error | warning | notice
    message: str
    file: str | None = None
    line: int = 0
    end_line: int = 0
    title: str | None = None


def escape_data(text: str) -> str:
    from deployforge.ci.workflow_commands import escape_data as escape

    return escape(text)


def escape_property(text: str) -> str:
    from deployforge.ci.workflow_commands import escape_property as escape

    return escape(text)


def render_annotation(a: Annotation) -> str:
    level = a.level if a.level in LEVELS else "error"
    props = []
    if a.file:
        props.append(f"file={escape_property(a.file)}")
        if a.line:
            props.append(f"line={a.line}")
            if a.end_line:
                props.append(f"endLine={a.end_line}")
    if a.title:
        props.append(f"title={escape_property(a.title)}")
    head = f"::{level} {','.join(props)}" if props else f"::{level}"
    return f"{head}::{escape_data(a.message)}"


def render_annotations(items: Iterable[Annotation]) -> str:
    return "".join(render_annotation(a) + "\n" for a in items)
