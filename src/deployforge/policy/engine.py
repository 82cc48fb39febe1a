"""The Rego engine adapter: the only module that imports regopy.

What it guards against (regopy/rego-cpp differs from OPA, see ../shared/NOTES.md):

- strict builtin errors are on, and calls of builtins the engine lacks (``net.*``, ``http.send``,
  conftest's ``parse_config``...) are found when the policy loads: an error, never a silent pass;
- ``deny[msg] { ... }`` (the old partial-set syntax) evaluates to an object ``{"msg": true}`` here;
  it is refused with a hint instead of being read as "no denials";
- the native library prints parse errors to the process's stdout: file descriptor 1 is captured
  around module loading and the text becomes a located ``PolicyProblem``.

Speed: all selected rules are gathered into one generated module and compiled once into a bundle
(``build``); each document is then one ``set_input`` + ``query_bundle``. Large batches are split
over the machine's cores with forked workers that share the compiled bundle.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

RULE_KINDS = ("deny", "violation", "warn")
_RULE_RE = re.compile(r"^(deny|violation|warn)(_[A-Za-z0-9_]+)?$")
_HEAD_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\b(.*)$")
_PACKAGE_RE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.M)
_OLD_SET_RE = re.compile(r"^(deny|violation|warn)(_[A-Za-z0-9_]+)?\s*\[\s*[A-Za-z_]\w*\s*\]\s*(\{|if\b)")
_CALL_RE = re.compile(r"(?<![\w.\"])([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\(")
_KEYWORDS = {"if", "not", "some", "every", "in", "contains", "else", "with", "as", "default", "import", "package"}
_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`')
RESOURCE_PACKAGE = "deployforge"  # packages named deployforge or deployforge.* see one resource at a time

# Above this many documents, evaluation is split over forked worker processes.
PARALLEL_THRESHOLD = 400


@dataclass(frozen=True)
class RuleHead:
    name: str
    line: int


@dataclass(frozen=True)
class PolicyFile:
    path: str
    text: str
    package: str
    rules: tuple[RuleHead, ...]

    @property
    def per_resource(self) -> bool:
        return is_resource_package(self.package)


@dataclass(frozen=True)
class PolicyProblem:
    file: str
    line: int
    message: str
    hint: str | None = None
    rule_id: str = "policy.load"


def is_resource_package(package: str) -> bool:
    return package == RESOURCE_PACKAGE or package.startswith(RESOURCE_PACKAGE + ".")


def _strip(line: str) -> str:
    """A source line without comments and string contents (for the static checks)."""
    line = _STRING_RE.sub('""', line)
    return line.split("#", 1)[0]


def scan_policy(path: str, text: str) -> PolicyFile:
    m = _PACKAGE_RE.search(text)
    package = m.group(1) if m else ""
    rules: list[RuleHead] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line or line[0] in " \t#}":
            continue
        hm = _HEAD_RE.match(line)
        if not hm:
            continue
        name = hm.group(1)
        if name in ("package", "import"):
            continue
        if name == "default":
            dm = _HEAD_RE.match(hm.group(2).strip())
            if not dm:
                continue
            name = dm.group(1)
        if name not in seen:
            seen.add(name)
            rules.append(RuleHead(name, number))
    return PolicyFile(path, text, package, tuple(rules))


def strip_tests(text: str, keep: str | None = None) -> str:
    """The source with every ``test_*`` rule blanked out (line numbers kept), except ``keep``.

    Tests are never part of an evaluation, and rego-cpp can crash while compiling some of them
    (``with`` combined with builtins), so each test is compiled on its own.
    """
    out = []
    dropping = False
    for line in text.splitlines():
        if line and line[0] not in " \t#}":
            hm = _HEAD_RE.match(line)
            name = hm.group(1) if hm else ""
            if name == "default" and hm:
                dm = _HEAD_RE.match(hm.group(2).strip())
                name = dm.group(1) if dm else name
            dropping = name.startswith("test_") and name != keep
        out.append("" if dropping else line)
    return "\n".join(out) + "\n"


def static_problems(pf: PolicyFile, is_builtin: Any, functions: set[str]) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []
    for number, raw in enumerate(pf.text.splitlines(), 1):
        line = _strip(raw)
        if not line.strip():
            continue
        om = _OLD_SET_RE.match(line)
        if om:
            rule = om.group(1) + (om.group(2) or "")
            problems.append(
                PolicyProblem(
                    pf.path,
                    number,
                    f"rule '{rule}' is written as '{rule}[msg] {{ ... }}': this engine reads that as an object "
                    "({msg: true}), not a set of messages, so its denials would be lost",
                    hint=f"write it in Rego v1 syntax: '{rule} contains msg if {{ ... }}' (add 'import rego.v1')",
                    rule_id=f"{pf.package}.{rule}",
                )
            )
        for cm in _CALL_RE.finditer(line):
            name = cm.group(1)
            if name in _KEYWORDS or name.startswith(("data.", "input.")) or name in functions:
                continue
            if not is_builtin(name):
                problems.append(
                    PolicyProblem(
                        pf.path,
                        number,
                        f"'{name}' is not a builtin the embedded Rego engine (regopy) supports, so this rule "
                        "could never match",
                        hint="rewrite the check with supported builtins (see docs/policies.md#engine-differences)",
                        rule_id=f"{pf.package}.builtin",
                    )
                )
    return problems


# -- capturing the native library's stdout -------------------------------------


@contextlib.contextmanager
def captured_fd1() -> Iterator[list[str]]:
    """Redirect file descriptor 1 to a temporary file; the text lands in the yielded list."""
    import ctypes

    out: list[str] = []
    sys.stdout.flush()
    libc = ctypes.CDLL(None)
    saved = os.dup(1)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            yield out
        finally:
            libc.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))


_LOC_RE = re.compile(r"--\s+(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+)")


def native_error(path: str, captured: str, exc: Exception) -> PolicyProblem:
    """Turn rego-cpp's printed error (and its exception) into a located problem."""
    lines = [ln for ln in captured.splitlines() if ln.strip()]
    message = ""
    line = 0
    for i, ln in enumerate(lines):
        m = _LOC_RE.search(ln)
        if m:
            line = int(m.group("line"))
            if i > 0 and not message:
                message = lines[i - 1].strip()
            break
    if not message:
        em = re.search(r"\(errormsg \d+:([^)]*)\)", str(exc))
        message = em.group(1) if em else (lines[1] if len(lines) > 1 else str(exc).strip() or "syntax error")
    return PolicyProblem(path, line, f"Rego syntax error: {message}", hint="fix the policy; `opa fmt` shows where")


# -- the engine ------------------------------------------------------------------


class PolicyCompileError(Exception):
    def __init__(self, problem: PolicyProblem):
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class CompiledSet:
    """One generated wrapper package compiled into a bundle: slot name -> (package, rule)."""

    bundle: Any
    slots: dict[str, tuple[str, str]]
    query: str


@dataclass
class Engine:
    files: list[PolicyFile] = field(default_factory=list)
    problems: list[PolicyProblem] = field(default_factory=list)
    data: list[Any] = field(default_factory=list)
    _interp: Any = None
    _broken: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, policy_paths: Sequence[str], data_docs: Sequence[Any] = (), keep_test: str | None = None) -> Engine:
        import regopy

        engine = cls()
        interp = regopy.Interpreter()
        interp.strict_built_in_errors = True
        engine._interp = interp
        for doc in data_docs:
            interp.add_data(doc)
            engine.data.append(doc)
        scanned = []
        for path in policy_paths:
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                message = f"cannot read the policy: {exc.strerror}"
                engine.problems.append(PolicyProblem(path, 0, message, hint="check the file and its permissions"))
                continue
            except UnicodeDecodeError as exc:
                line = Path(path).read_bytes()[: exc.start].count(b"\n") + 1
                engine.problems.append(
                    PolicyProblem(path, line, "the policy is not UTF-8 text", hint="save it as UTF-8 (Rego files are)")
                )
                continue
            scanned.append(scan_policy(path, text))
        # test_* rules are left out (only ``keep_test``, "package.rule", stays in for `policy test`)
        compiled_text = {
            pf.path: strip_tests(
                pf.text,
                keep_test.rsplit(".", 1)[1] if keep_test and keep_test.rsplit(".", 1)[0] == pf.package else None,
            )
            for pf in scanned
        }
        functions = {r.name for pf in scanned for r in pf.rules} | {
            m.group(1) for pf in scanned for m in re.finditer(r"^([A-Za-z_]\w*)\s*\(", pf.text, re.M)
        }
        for pf in scanned:
            if not pf.package:
                engine.problems.append(PolicyProblem(pf.path, 1, "the policy has no package line"))
                continue
            problems = static_problems(replace(pf, text=compiled_text[pf.path]), interp.is_builtin, functions)
            if problems:
                engine.problems.extend(problems)
                engine._broken.add(pf.path)
            with captured_fd1() as captured:
                try:
                    interp.add_module(pf.path, compiled_text[pf.path])
                    failure: Exception | None = None
                except Exception as exc:  # regopy.RegoError: syntax errors
                    failure = exc
            if failure is not None:
                engine.problems.append(native_error(pf.path, "".join(captured), failure))
                engine._broken.add(pf.path)
                continue
            engine.files.append(pf)
        return engine

    # -- selection -------------------------------------------------------------

    def packages(self) -> dict[str, list[PolicyFile]]:
        out: dict[str, list[PolicyFile]] = {}
        for pf in self.files:
            out.setdefault(pf.package, []).append(pf)
        return out

    def select(self, namespaces: Sequence[str] = (), all_namespaces: bool = False) -> list[str]:
        """Packages to evaluate: all, the --namespace globs, or by default 'main' and deployforge.*"""
        names = sorted(self.packages())
        if all_namespaces:
            return [n for n in names if self._has_rules(n)]
        patterns = list(namespaces) or ["main", RESOURCE_PACKAGE, RESOURCE_PACKAGE + ".*"]
        return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns) and self._has_rules(n)]

    def _has_rules(self, package: str) -> bool:
        return any(_is_policy_rule(r.name) or r.name == "allow" for pf in self.packages()[package] for r in pf.rules)

    def rules_of(self, package: str) -> list[RuleHead]:
        heads: dict[str, RuleHead] = {}
        for pf in self.packages().get(package, []):
            if pf.path in self._broken:
                continue
            for r in pf.rules:
                heads.setdefault(r.name, r)
        return list(heads.values())

    def rule_file(self, package: str, rule: str) -> tuple[str, int]:
        for pf in self.packages().get(package, []):
            for r in pf.rules:
                if r.name == rule:
                    return pf.path, r.line
        return "", 0

    # -- compiling ---------------------------------------------------------------

    def compile(self, packages: Sequence[str], per_resource: bool) -> CompiledSet | None:
        slots: dict[str, tuple[str, str]] = {}
        package_name = "deployforge_eval_resource__" if per_resource else "deployforge_eval_file__"
        lines = [f"package {package_name}", "import rego.v1"]
        for package in packages:
            for head in self.rules_of(package):
                wanted = (
                    _is_policy_rule(head.name) or head.name == "exception" or (per_resource and head.name == "allow")
                )
                if not wanted:
                    continue
                slot = f"r{len(slots)}"
                slots[slot] = (package, head.name)
                lines.append(f"default {slot} := null")
                lines.append(f"{slot} := {_ref(package, head.name)}")
        if not slots:
            return None
        module = "\n".join(lines) + "\n"
        name = "__deployforge_eval_resource__.rego" if per_resource else "__deployforge_eval_file__.rego"
        query = f"x := data.{package_name}"
        with captured_fd1() as captured:
            try:
                self._interp.add_module(name, module)
                bundle = self._interp.build(query, [])
            except Exception as exc:  # regopy.RegoError: a compile error across modules
                problem = native_error("(policies)", "".join(captured), exc)
                raise PolicyCompileError(problem) from None
        return CompiledSet(bundle, slots, query)

    def query_rule(self, document: Any, package: str, rule: str) -> tuple[bool, Any]:
        """One rule against one document, without the bundle (used to pin down an engine error)."""
        self._interp.set_input(document)
        with captured_fd1():
            try:
                out = self._interp.query(_ref(package, rule))
            except ValueError:
                return False, None
        if not out.ok():
            return False, None
        exprs = out[0].expressions if len(out) else []
        return True, (exprs[0] if exprs else None)


def _is_policy_rule(name: str) -> bool:
    return bool(_RULE_RE.match(name))


def _ref(package: str, rule: str) -> str:
    return "data." + ".".join(package.split(".")) + "." + rule


# -- evaluating many documents ----------------------------------------------------

_SHARED: dict[str, Any] = {}


def _evaluate_chunk(chunk: tuple[int, int]) -> list[Any]:
    import regopy

    compiled: CompiledSet = _SHARED["compiled"]
    documents: Sequence[Any] = _SHARED["documents"]
    interp = regopy.Interpreter()
    interp.strict_built_in_errors = True
    out: list[Any] = []
    for i in range(chunk[0], chunk[1]):
        interp.set_input(documents[i])
        try:
            result = interp.query_bundle(compiled.bundle)
        except ValueError:  # regopy could not parse an error it got back (e.g. recursion) as JSON
            out.append(None)
            continue
        if not result.ok():
            out.append(None)  # an engine error: the caller finds which rule, one by one
            continue
        out.append(result[0]["x"] if len(result) else {})
    return out


def evaluate_documents(compiled: CompiledSet, documents: Sequence[Any], workers: int | None = None) -> list[Any]:
    """Each document's slot values (None where the engine raised an error), in order."""
    n = len(documents)
    _SHARED["compiled"] = compiled
    _SHARED["documents"] = documents
    try:
        cpus = workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
        if n < PARALLEL_THRESHOLD or cpus < 2 or sys.platform == "win32":
            return _evaluate_chunk((0, n))
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        size = -(-n // cpus)
        chunks = [(i, min(n, i + size)) for i in range(0, n, size)]
        with ctx.Pool(len(chunks)) as pool:
            parts = pool.map(_evaluate_chunk, chunks)
        return [v for part in parts for v in part]
    finally:
        _SHARED.clear()


def dump_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
