"""The Workspace is typed, and only the layers above the domain take one (issue 15 point 1).

A parameter named ``ws`` is a ``usecases.workspace.Workspace`` wherever it appears, and it appears
only in the front doors (``cli/``, ``action/``) and the use cases (``usecases/``): domain code takes
the plain values it needs (a Config, a backend, a provider, an ``audit.settings.AuditScope``).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "deployforge"
ABOVE_THE_DOMAIN = ("cli", "action", "usecases")


def _ws_parameters() -> list[tuple[str, int, str, str | None]]:
    """(module path, line, function, annotation) of every parameter named ``ws``."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                args = node.args
                for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                    if arg.arg == "ws":
                        annotation = ast.unparse(arg.annotation) if arg.annotation is not None else None
                        found.append((str(path.relative_to(SRC)), node.lineno, node.name, annotation))
    return found


def test_every_workspace_parameter_is_typed() -> None:
    params = _ws_parameters()
    assert len(params) > 50  # the scan sees them
    untyped = [p for p in params if p[3] != "Workspace"]
    assert untyped == []


def test_no_domain_function_takes_a_workspace() -> None:
    below = [p for p in _ws_parameters() if p[0].split("/")[0] not in ABOVE_THE_DOMAIN]
    assert below == []
