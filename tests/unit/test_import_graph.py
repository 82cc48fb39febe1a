"""The module import graph has no circle: imports run one way (front doors -> use cases -> domain
-> adapters). Imports inside functions count too: they hide a circle, they do not remove it; so do
imports under ``if TYPE_CHECKING:`` (a type the domain needs from a use case is a dependency too)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "deployforge"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    return {name: set(targets) for name, targets in _import_graph().items()}


@functools.cache
def _import_graph() -> dict[str, frozenset[str]]:
    """Parsed once per test process (two tests read the whole graph)."""
    modules = {_module_name(p): p for p in (SRC / PACKAGE).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = imports_of(path.read_text(encoding="utf-8"), name, package, set(modules))
    return {name: frozenset(targets) for name, targets in graph.items()}


def imports_of(source: str, name: str, package: str, modules: set[str]) -> set[str]:
    """The modules of ours that ``source`` (module ``name``) imports, wherever the import statement is:
    at the top, inside a function, under ``if TYPE_CHECKING:``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for target in targets:
            # the module itself, or the nearest package of ours that holds it
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_scan_finds_a_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_function_level_imports() -> None:
    graph = import_graph()
    # cli/project imports its use cases inside the command functions only (the CLI loads lazily)
    assert "deployforge.usecases.validate" in graph["deployforge.cli.project"]


def test_the_graph_sees_imports_under_type_checking() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from deployforge.usecases.workspace import Workspace\n"
    )
    modules = {"deployforge.audit.storage", "deployforge.usecases.workspace", "deployforge.usecases"}
    found = imports_of(source, "deployforge.audit.storage", "deployforge.audit", modules)
    assert found == {"deployforge.usecases.workspace"}
    assert upward_imports({"deployforge.audit.storage": found}) == {
        ("deployforge.audit.storage", "deployforge.usecases.workspace")
    }


def test_no_import_circle_in_deployforge() -> None:
    assert cycles(import_graph()) == []


# The layers docs/architecture.md names, top to bottom. A module may import its own layer or any
# layer below it; an import from a lower layer to a higher one runs upward.
FRONT_DOORS, USE_CASES, DOMAIN, ADAPTERS, HELPERS = range(5)
LAYER_NAMES = ("front door", "use case", "domain", "adapter", "pure helper")
# the use cases are one package, usecases/: one module per command (or family of commands)
USE_CASE_PACKAGES = {"usecases"}
ADAPTER_PACKAGES = {"providers", "state", "ci", "notify", "vault", "secrets"}
HELPER_MODULES = {"errors", "text", "durations", "model"}
# config/refs.py is the `${VAR}` / `vault://` reference syntax: pure functions over strings, importing
# only model/ (the secrets adapters and the sandbox parse references with it)
HELPER_SUBMODULES = {"deployforge.config.refs"}

# Upward imports that exist today, each with the reason it is still there. The test fails when a new
# one appears, and when one of these is gone (take it off the list: the list only shrinks).
KNOWN_UPWARD: set[tuple[str, str]] = set()  # may only stay empty


def layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    if module in ("deployforge", "deployforge.__main__") or top in ("cli", "action"):
        return FRONT_DOORS
    if top in USE_CASE_PACKAGES:
        return USE_CASES
    if top in HELPER_MODULES or module in HELPER_SUBMODULES:
        return HELPERS
    if top in ADAPTER_PACKAGES:
        return ADAPTERS
    return DOMAIN


def upward_imports(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(a, b) for a, targets in graph.items() for b in targets if layer(b) < layer(a)}


def test_the_layer_rule_sees_an_upward_import() -> None:
    graph = {
        "deployforge.model.plan": {"deployforge.engine.diff"},
        "deployforge.cli.main": {"deployforge.usecases.plan"},
        "deployforge.drift.detect": {"deployforge.usecases.workspace"},
    }
    assert upward_imports(graph) == {
        ("deployforge.model.plan", "deployforge.engine.diff"),
        ("deployforge.drift.detect", "deployforge.usecases.workspace"),
    }
    assert layer("deployforge.usecases.drift") == USE_CASES and layer("deployforge.state.s3") == ADAPTERS
    # a module named service.py is no use case for its name: the use cases are usecases/
    assert layer("deployforge.drift.service") == DOMAIN


def test_the_use_cases_are_one_package() -> None:
    """Every use case is a module of usecases/: no app.py or */service.py floor beside it, and no
    domain, adapter or helper module imports it (not even for a type)."""
    graph = import_graph()
    assert "deployforge.app" not in graph
    assert not [m for m in graph if m.rpartition(".")[2] == "service"]
    assert len([m for m in graph if layer(m) == USE_CASES]) >= 10
    below = sorted(
        (a, b) for a, targets in graph.items() if layer(a) > USE_CASES for b in targets if layer(b) == USE_CASES
    )
    assert below == []


def test_imports_run_one_way() -> None:
    found = upward_imports(import_graph())
    new = sorted(found - KNOWN_UPWARD)
    assert new == [], "\n".join(
        f"{a} ({LAYER_NAMES[layer(a)]}) imports {b} ({LAYER_NAMES[layer(b)]}): imports run front doors -> use cases"
        " -> domain -> adapters, with pure helpers at the bottom (docs/architecture.md)"
        for a, b in new
    )
    gone = sorted(KNOWN_UPWARD - found)
    assert gone == [], f"no longer upward, take them off KNOWN_UPWARD: {gone}"


GRAPH_START, GRAPH_END = "<!-- module-graph:start -->", "<!-- module-graph:end -->"


def package_graph_table(graph: dict[str, frozenset[str]]) -> str:
    """docs/architecture.md's module graph: one row per package of deployforge (its layer, and the
    packages its modules import), front doors first."""

    def top(module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else ""

    packages: dict[str, set[str]] = {}
    layers: dict[str, int] = {}
    for module, targets in graph.items():
        name = top(module)
        if not name or name == "__main__":
            continue
        packages.setdefault(name, set()).update(top(t) for t in targets if top(t) not in ("", name))
        layers[name] = min(layers.get(name, HELPERS), layer(module))
    rows = ["| package | layer | imports |", "|---|---|---|"]
    for name in sorted(packages, key=lambda n: (layers[n], n)):
        targets = sorted(packages[name], key=lambda n: (layers.get(n, HELPERS), n))
        shown = ", ".join(f"`{t}`" for t in targets) or "nothing of ours"
        rows.append(f"| `{name}` | {LAYER_NAMES[layers[name]]} | {shown} |")
    return "\n".join(rows)


def test_the_architecture_page_draws_this_graph() -> None:
    """docs/architecture.md shows the module graph as the code has it (regenerate with
    DEPLOYFORGE_REGEN_GOLDEN=1)."""
    import os

    page = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
    text = page.read_text(encoding="utf-8")
    head, _, rest = text.partition(GRAPH_START)
    _, _, tail = rest.partition(GRAPH_END)
    table = package_graph_table(import_graph())
    current = f"{head}{GRAPH_START}\n{table}\n{GRAPH_END}{tail}"
    if os.environ.get("DEPLOYFORGE_REGEN_GOLDEN"):
        page.write_text(current, encoding="utf-8")
    assert GRAPH_START in text and text == current, "docs/architecture.md's module graph is out of date"
