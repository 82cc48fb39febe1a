"""The local stand-in for the GitHub Actions sink: run the Action's entrypoint off CI.

Outputs are printed as ``name=value`` lines (multi-line values JSON-encoded), annotations as
``level: file:line: message``, and the job summary goes to ``$DEPLOYFORGE_SUMMARY`` when set.
Secrets are never printed: ``mask`` only records them so later text can be masked.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO


class GenericCIPlatform:
    """A CI system DeployForge has no module for, known only by ``CI`` being set (as most set it)."""

    name = "ci"
    workflow_commands = False

    def detect(self, environ: Mapping[str, str]) -> bool:
        value = environ.get("CI", "").strip().lower()
        return bool(value) and value not in ("0", "false", "no")

    def context(self, environ: Mapping[str, str]) -> dict[str, Any]:
        return {"system": self.name}

    def workspace(self, environ: Mapping[str, str]) -> str | None:
        return None  # the current directory

    def sink(self, environ: Mapping[str, str]) -> LocalSink:
        return LocalSink(environ)


class LocalPlatform(GenericCIPlatform):
    """No CI: a laptop or a shell. Detected last, always."""

    name = "local"

    def detect(self, environ: Mapping[str, str]) -> bool:
        return True


GENERIC_CI = GenericCIPlatform()
LOCAL = LocalPlatform()


class LocalSink:
    def __init__(self, environ: Mapping[str, str], stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.summary_path = environ.get("DEPLOYFORGE_SUMMARY") or None
        self.outputs: dict[str, str] = {}
        self.secrets: set[str] = set()

    def _masked(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def info(self, message: str) -> None:
        from deployforge.ci.workflow_commands import safe

        print(self._masked(safe(message)), file=self.stream, flush=True)

    def hook_output(self, line: str) -> None:
        """A hook's output line, prefixed line by line (as on GitHub, without the fence)."""
        from deployforge.ci.workflow_commands import quote

        print("\n".join(self._masked(x) for x in quote(line)), file=self.stream, flush=True)

    def set_output(self, name: str, value: str) -> None:
        self.outputs[name] = value
        shown = json.dumps(value) if "\n" in value else value
        print(self._masked(f"{name}={shown}"), file=self.stream)

    def annotate(
        self,
        level: str,
        message: str,
        *,
        title: str = "",
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        where = ":".join(str(x) for x in (file, line, column) if x) if file else ""
        text = f"{level}: {where + ': ' if where else ''}{title + ': ' if title else ''}{message}"
        print(self._masked(text), file=self.stream)

    def mask(self, value: str) -> None:
        if value:
            self.secrets.add(value)

    def write_summary(self, markdown: str) -> bool:
        if not self.summary_path:
            return False
        with open(self.summary_path, "a", encoding="utf-8") as fh:
            fh.write(self._masked(markdown))
        return True

    def start_group(self, name: str) -> None:
        print(f"--- {name}", file=self.stream)

    def end_group(self) -> None:
        pass

    @property
    def summary_file(self) -> Path | None:
        return Path(self.summary_path) if self.summary_path else None
