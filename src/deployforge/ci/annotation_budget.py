"""The runner shows at most 10 annotations of each type (error, warning, notice) per step and drops
the rest silently (actions/runner ``ExecutionContext``: ``_maxIssueCount``), so a run with
thousands of findings would lose its own closing "DeployForge: failed" error. ``AnnotationBudget``
wraps a sink: it collects the step's annotations and, at the end (``flush``), writes per type the
most important first (``rank``, then the order they came in), at most 9 of them plus one more
annotation saying how many were not shown and where they all are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PER_TYPE = 10  # what the runner shows per type and step
LEVELS = ("error", "warning", "notice")


@dataclass(frozen=True)
class Note:
    level: str
    message: str
    title: str = ""
    file: str | None = None
    line: int | None = None
    column: int | None = None
    rank: int = 0  # 0: the run's own outcome and problems; findings 1 (most severe) and up


class AnnotationBudget:
    """A sink whose annotations wait for ``flush``; everything else goes straight through."""

    def __init__(self, sink: Any):
        self._sink = sink
        self.notes: list[Note] = []
        self.where = "the job summary"  # where every annotation is, for the "N more" line
        self.flushed = False

    def __getattr__(self, name: str) -> Any:  # info, set_output, write_summary, mask, groups
        return getattr(self._sink, name)

    def annotate(
        self,
        level: str,
        message: str,
        *,
        title: str = "",
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        rank: int = 0,
    ) -> None:
        level = level if level in LEVELS else "error"
        self.notes.append(Note(level, message, title, file, line, column, rank))

    def ordered(self, level: str) -> list[Note]:
        return sorted((n for n in self.notes if n.level == level), key=lambda n: n.rank)  # stable: arrival order

    def over(self) -> bool:
        """More annotations than the runner will show."""
        return any(len(self.ordered(level)) > PER_TYPE for level in LEVELS)

    def flush(self) -> dict[str, int]:
        """Write the annotations the runner will show; returns how many of each type were not shown."""
        hidden: dict[str, int] = {}
        if self.flushed:
            return hidden
        self.flushed = True
        for level in LEVELS:
            notes = self.ordered(level)
            shown = notes if len(notes) <= PER_TYPE else notes[: PER_TYPE - 1]
            for n in shown:
                self._sink.annotate(n.level, n.message, title=n.title, file=n.file, line=n.line, column=n.column)
            if len(shown) < len(notes):
                hidden[level] = len(notes) - len(shown)
                words = {"error": "errors", "warning": "warnings", "notice": "notices"}[level]
                self._sink.annotate(
                    level,
                    f"{hidden[level]} more {words} not shown here (GitHub shows {PER_TYPE} of each type per step); "
                    f"every one is in {self.where}",
                    title=f"DeployForge: {hidden[level]} more {words}",
                )
        return hidden
