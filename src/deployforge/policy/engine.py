"""The Rego engine adapter: the only module that imports regopy.

What it guards against (regopy/rego-cpp differs from OPA, see ../shared/NOTES.md):

- strict builtin errors are on, and calls of builtins the engine lacks (``net.*``, ``http.send``,
  conftest's ``parse_config``...) are found when the policy loads: an error, never a silent pass;
- ``deny[msg] { ... }`` (the old partial-set syntax) evaluates to an object ``{"msg": true}`` here;
  it is refused with a hint instead of being read as "no denials";
- the native library prints parse errors to the process's stdout: file descriptor 1 is captured
  around module loading and the text becomes a located ``PolicyProblem``.

Speed: all selected rules are gathered into one generated module and compiled once into a bundle
(``build``). Where ``batch.py`` can rewrite the policies exactly, 32 documents go in one query
(``BATCH_SIZE``), each rule that starts with tests of constant input paths given only the
documents those tests may let through (rule indexing, ``batch_input``); otherwise each document
is one ``set_input`` + ``query_bundle``. Many documents
are split over the machine's cores (``evaluate._run_phase``: one part per CPU, each loading the
policies itself; ``evaluate_documents`` still forks workers when called on its own).
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import json
import math
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
    col: int = 0


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
        for cm in _CALL_RE.finditer(line):
            name = cm.group(1)
            if name in _KEYWORDS or name.startswith(("data.", "input.")) or name in functions or name == "print":
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


_LOC_RE = re.compile(r"--\s+(?P<file>[^\n]+?):(?P<line>\d+):(?P<col>\d+)")


def native_location(captured: str) -> tuple[str, int, int, str]:
    """(file, line, col, message) of rego-cpp's first located error in its printed output."""
    lines = [ln for ln in captured.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        m = _LOC_RE.search(ln)
        if m:
            message = lines[i - 1].strip() if i > 0 else ""
            if message in ("Errors:", ""):
                message = ""
            return m.group("file"), int(m.group("line")), int(m.group("col")), message
    return "", 0, 0, ""


_SHELL_PROMPT = re.compile(r"^\s*\$\s+\S")


def _shell_line(path: str, line: int) -> str | None:
    """The text of ``path``'s line ``line`` when it is a shell command (``$ cmd ...``), else None."""
    if not line:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for number, text in enumerate(fh, 1):
                if number == line:
                    text = text.strip()
                    if not _SHELL_PROMPT.match(text):
                        return None
                    from deployforge.ci.workflow_commands import one_line  # PR text: no control characters

                    return one_line(text[:60] + "…" if len(text) > 60 else text)
    except OSError:
        return None
    return None


def native_error(
    path: str, captured: str, exc: Exception, columns: Any = None, kind: str = "syntax error"
) -> PolicyProblem:
    """Turn rego-cpp's printed error (and its exception) into a located problem (file:line:col kept)."""
    file, line, col, message = native_location(captured)
    if not message:
        em = re.search(r"\(errormsg \d+:([^)]*)\)", str(exc))
        lines = [ln for ln in captured.splitlines() if ln.strip()]
        message = em.group(1) if em else (lines[1] if len(lines) > 1 else str(exc).strip() or "syntax error")
    if columns is not None and line and col:
        col = columns(line, col)
    where = f" (at {file or path}:{line}:{col})" if line else ""
    shell = _shell_line(file or path, line)
    if shell is not None:  # e.g. the docs' `$ deployforge validate ...` pasted with the policy
        return PolicyProblem(
            file or path,
            line,
            f"line {line} is not Rego: it is a shell command ({shell})",
            hint="delete the line, or keep it as a comment: start it with #",
            col=1,
        )
    return PolicyProblem(
        file or path,
        line,
        f"Rego {kind}: {message}{where}",
        hint="fix the policy at that position (see docs/policies.md#engine-differences)",
        col=col,
    )


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
    safe_bundle: Any = None  # every value base64-encoded (slower): used when the fast answer is in doubt
    batch_bundle: Any = None  # the same rules over an array of documents (batch.py), when that is exact
    batch_names: dict[str, str] | None = None  # rule -> slot when the batch bundle queries the package itself
    batch_guards: list[Any] | None = None  # rule indexing (batch.Guard): the batch input is {"d": .., "s": ..}


# The values rules yield travel back from rego-cpp as text it does not escape (a `"` in a message
# breaks the JSON, and a crafted one could forge it): every string is sent base64-encoded, as the
# leaves of a walk, and rebuilt here (``decode_value``).
ENCODER_PACKAGE = "deployforge_enc__"
ENCODER_MODULE = f"""package {ENCODER_PACKAGE}
import rego.v1
composite(v) if is_object(v)
composite(v) if is_array(v)
composite(v) if is_set(v)
key(p) := {{"s": base64.encode(p)}} if is_string(p)
key(p) := {{"v": p}} if {{ not is_string(p); not composite(p) }}
key(p) := {{"x": 1}} if composite(p)
leaf(v) := {{"s": base64.encode(v)}} if is_string(v)
leaf(v) := {{"v": v}} if not is_string(v)
types(x) := [[[key(p) | some p in path], type_name(v)] | walk(x, [path, v]); composite(v)]
leaves(x) := [[[key(p) | some p in path], leaf(v)] | walk(x, [path, v]); not composite(v)]
walked(x) := {{"t": types(x), "l": leaves(x)}}
empty(x) if {{ is_set(x); count(x) == 0 }}
empty(x) if {{ is_array(x); count(x) == 0 }}
sorted_concat(sep, x) := concat(sep, sort(x)) if is_set(x)
sorted_concat(sep, x) := concat(sep, x) if not is_set(x)
enc(x) := {{"t": [[[], "array"]], "l": []}} if empty(x)
enc(x) := walked([e | some e in x]) if {{ is_set(x); not empty(x) }}
enc(x) := walked(x) if {{ not is_set(x); not empty(x) }}
"""


class UnreadableValue(Exception):
    pass


def _decode_key(k: dict[str, Any]) -> Any:
    if "s" in k:
        return base64.b64decode(k["s"]).decode("utf-8", "replace")
    if "v" in k:
        return k["v"]
    raise UnreadableValue("a set nested in a rule's value")


def decode_value(enc: Any) -> Any:
    """A value encoded by ``ENCODER_MODULE``'s ``enc`` (strings as base64 leaves), rebuilt."""
    if not isinstance(enc, dict) or "t" not in enc or "l" not in enc:
        raise UnreadableValue("unexpected engine output")
    types = {tuple(json.dumps(k, sort_keys=True) for k in path): (path, t) for path, t in enc["t"]}
    root_type = types.get((), ([], None))[1]
    if root_type is None:
        if len(enc["l"]) != 1:
            raise UnreadableValue("unexpected engine output")
        leaf = enc["l"][0][1]
        return base64.b64decode(leaf["s"]).decode("utf-8", "replace") if "s" in leaf else leaf["v"]

    def container(t: str) -> Any:
        return {} if t == "object" else []

    root = container(root_type)
    made: dict[tuple[str, ...], Any] = {(): root}
    entries = sorted(types.values(), key=lambda pt: len(pt[0]))
    items: list[tuple[list[Any], Any, bool]] = [(path, t, True) for path, t in entries if path] + [
        (path, leaf, False) for path, leaf in enc["l"]
    ]
    items.sort(key=lambda it: len(it[0]))
    pending: dict[tuple[str, ...], list[tuple[Any, Any]]] = {}
    for path, what, is_container in items:
        keys = [_decode_key(k) for k in path]
        value = (
            container(what)
            if is_container
            else (base64.b64decode(what["s"]).decode("utf-8", "replace") if "s" in what else what["v"])
        )
        parent_sig = tuple(json.dumps(k, sort_keys=True) for k in path[:-1])
        pending.setdefault(parent_sig, []).append((keys[-1], value))
        if is_container:
            made[tuple(json.dumps(k, sort_keys=True) for k in path)] = value
    for sig, children in pending.items():
        parent = made.get(sig)
        if parent is None:
            raise UnreadableValue("unexpected engine output")
        if isinstance(parent, dict):
            for k, v in children:
                parent[k] = v
        else:
            for _k, v in sorted(children, key=lambda kv: kv[0] if isinstance(kv[0], int) else 0):
                parent.append(v)
    return root


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = {"data", "input", "import", "package", "default", "not", "some", "every", "in", "contains", "if", "else",
             "with", "as", "true", "false", "null"}  # fmt: skip


def _dirty(value: Any) -> bool:
    """A string rego-cpp would keep escaped when it reads data JSON (a quote, a backslash, a control char)."""
    if isinstance(value, str):
        return '"' in value or "\\" in value or not value.isprintable()
    if isinstance(value, list):
        return any(_dirty(v) for v in value)
    if isinstance(value, dict):
        return any(_dirty(k) or _dirty(v) for k, v in value.items())
    return False


def _rego_term(value: Any) -> str:
    """A Rego term for a JSON value; strings with escapes as base64.decode(...) of their value."""
    if isinstance(value, str):
        if _dirty(value):
            return 'base64.decode("' + base64.b64encode(value.encode("utf-8")).decode("ascii") + '")'
        return json.dumps(value)
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_rego_term(v) for v in value) + "]"
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if _dirty(k):
                raise UnreadableValue(f"a data key holds a quote, a backslash or a control character: {k!r}")
            items.append(f"{json.dumps(k)}: {_rego_term(v)}")
        return "{" + ", ".join(items) + "}"
    return json.dumps(value)


def split_data(doc: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A --data document as (what ``add_data`` can take as it is, Rego modules for the rest).

    rego-cpp keeps the escapes of strings it reads from data JSON (``"^\\\\d+$"`` stays two
    backslashes, ``a\\"b`` is 4 characters): a subtree holding such a string is given as a module
    ``package <key>`` whose rules are the subtree's keys, with those strings as ``base64.decode(...)``.
    """
    plain: dict[str, Any] = {}
    modules: list[tuple[str, str]] = []
    for key, value in doc.items():
        if not _dirty(value):
            plain[key] = value
            continue
        if not (_IDENT.match(key) and key not in _RESERVED and isinstance(value, dict)) or not all(
            _IDENT.match(k) and k not in _RESERVED for k in value
        ):
            raise UnreadableValue(
                f"data '{key}' holds a string with a quote, a backslash or a control character below a key that "
                "is not a plain name: the embedded engine would keep its escapes"
            )
        rules = "\n".join(f"{k} := {_rego_term(v)}" for k, v in value.items())
        modules.append((f"__deployforge_data_{key}__.rego", f"package {key}\nimport rego.v1\n{rules}\n"))
    return plain, modules


def raw_query(interp: Any, query: str | None = None, bundle: Any = None) -> tuple[bool, str]:
    """Run a query (or a bundle) and return (ok, rego-cpp's raw output text), never raising on its text."""
    from regopy.rego_shared import (
        rego_bundle_query,
        rego_free_output,
        rego_output_ok,
        rego_output_string,
        rego_query,
    )

    impl = rego_bundle_query(interp._impl, bundle._impl) if bundle is not None else rego_query(interp._impl, query)
    try:
        return bool(rego_output_ok(impl)), str(rego_output_string(impl))
    finally:
        rego_free_output(impl)


def engine_error_text(text: str) -> str:
    m = re.search(r"\(errormsg \d+:([^)]*)\)", text)
    if m:
        return m.group(1).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and ln.strip() not in ("Errors:", "<error>")]
    if not lines:
        return (
            "rego-cpp reported an error without a message (a builtin refusing its arguments, such as a "
            "numbers.range too large for it, or another limit of the engine)"
        )
    return lines[0]


def _first_expression(text: str) -> Any:
    """The first expression of a raw output (only ever numbers, base64 and fixed keys after encoding)."""
    if text.strip() == "undefined":
        return None
    out = json.loads(text)
    if isinstance(out, list):
        out = out[0] if out else {}
    exprs = out.get("expressions") if isinstance(out, dict) else None
    return exprs[0] if exprs else None


@dataclass
class Engine:
    files: list[PolicyFile] = field(default_factory=list)
    problems: list[PolicyProblem] = field(default_factory=list)
    data: list[Any] = field(default_factory=list)
    rego_version: str = "v1"
    _interp: Any = None
    _broken: set[str] = field(default_factory=set)
    _texts: dict[str, str] = field(default_factory=dict)  # path -> rewritten source
    _columns: dict[str, Any] = field(default_factory=dict)  # path -> column mapper

    @classmethod
    def load(
        cls,
        policy_paths: Sequence[str],
        data_docs: Sequence[Any] = (),
        keep_test: str | None = None,
        rego_version: str = "v1",
        overrides: dict[str, str] | None = None,
    ) -> Engine:
        import regopy

        from deployforge.policy.rewrite import defined_names, rewrite

        engine = cls(rego_version=rego_version)
        for doc in data_docs:
            engine.data.append(doc)
        scanned = []
        for path in policy_paths:
            try:
                text = overrides[path] if overrides and path in overrides else Path(path).read_text(encoding="utf-8")
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
        interp = regopy.Interpreter()
        interp.strict_built_in_errors = True
        functions = {r.name for pf in scanned for r in pf.rules} | {
            m.group(1) for pf in scanned for m in re.finditer(r"^([A-Za-z_]\w*)\s*\(", pf.text, re.M)
        }
        bundle_names = set().union(*(defined_names(pf.text) for pf in scanned)) if scanned else set()
        for pf in scanned:
            if not pf.package:
                engine.problems.append(PolicyProblem(pf.path, 1, "the policy has no package line"))
                continue
            stripped = strip_tests(
                pf.text,
                keep_test.rsplit(".", 1)[1] if keep_test and keep_test.rsplit(".", 1)[0] == pf.package else None,
            )
            rewritten = rewrite(stripped, rego_version, bundle_names)
            if rewritten.refusals:
                for r in rewritten.refusals:
                    engine.problems.append(
                        PolicyProblem(
                            pf.path,
                            r.line,
                            f"{r.message} (at {pf.path}:{r.line}:{r.col})",
                            hint=r.hint,
                            rule_id=f"{pf.package}.rewrite",
                            col=r.col,
                        )
                    )
                engine._broken.add(pf.path)
                continue
            problems = static_problems(replace(pf, text=stripped), interp.is_builtin, functions | rewritten.supplied)
            if problems:
                engine.problems.extend(problems)
                engine._broken.add(pf.path)
                continue
            engine._texts[pf.path] = rewritten.text
            engine._columns[pf.path] = rewritten.column
            engine.files.append(pf)
        engine._interp = engine._fresh_interpreter()
        return engine

    def _fresh_interpreter(self) -> Any:
        """An interpreter holding the data and every module that parses (a bad one is reported, not kept)."""
        import regopy

        interp = regopy.Interpreter()
        interp.strict_built_in_errors = True
        for doc in self.data:
            try:
                plain, modules = split_data(doc)
            except UnreadableValue as exc:
                problem = PolicyProblem("(data)", 0, str(exc), hint="rename the key, or keep that value in a policy")
                if problem not in self.problems:
                    self.problems.append(problem)
                continue
            if plain:
                interp.add_data(plain)
            for name, module in modules:
                interp.add_module(name, module)
        interp.add_module("__deployforge_enc__.rego", ENCODER_MODULE)
        for pf in list(self.files):
            if pf.path in self._broken:
                continue
            with captured_fd1() as captured:
                try:
                    interp.add_module(pf.path, self._texts[pf.path])
                    failure: Exception | None = None
                except Exception as exc:  # regopy.RegoError: syntax errors
                    failure = exc
            if failure is not None:
                self.problems.append(native_error(pf.path, "".join(captured), failure, self._columns.get(pf.path)))
                self._broken.add(pf.path)
                self.files.remove(pf)
        return interp

    # -- selection -------------------------------------------------------------

    def packages(self) -> dict[str, list[PolicyFile]]:
        out: dict[str, list[PolicyFile]] = {}
        for pf in self.files:
            if pf.path in self._broken:
                continue
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
        """The selected rules in one bundle. A module that breaks the build is reported with rego-cpp's
        file:line:col and left out (with the packages that need it), and the rest is built again."""
        for _attempt in range(len(self.files) + 1):
            slots: dict[str, tuple[str, str]] = {}
            package_name = "deployforge_eval_resource__" if per_resource else "deployforge_eval_file__"
            lines = [f"package {package_name}", "import rego.v1"]
            safe_lines = [f"package {package_name}_safe", "import rego.v1"]
            for package in packages:
                for head in self.rules_of(package):
                    wanted = (
                        _is_policy_rule(head.name)
                        or head.name == "exception"
                        or (per_resource and head.name == "allow")
                    )
                    if not wanted:
                        continue
                    slot = f"r{len(slots)}"
                    slots[slot] = (package, head.name)
                    lines.append(f"default {slot} := null")
                    safe_lines.append(f"default {slot} := null")
                    ref = _ref(package, head.name)
                    safe_lines.append(f"{slot} := data.{ENCODER_PACKAGE}.enc({ref})")
                    if head.name == "allow":
                        lines.append(f"{slot} := data.{ENCODER_PACKAGE}.enc({ref})")
                    else:  # sets of messages, as rego-cpp writes them: checked in _read_fast
                        lines.append(f"{slot} := {ref}")
            if not slots:
                return None
            module = "\n".join(lines) + "\n"
            name = "__deployforge_eval_resource__.rego" if per_resource else "__deployforge_eval_file__.rego"
            query = f"x := data.{package_name}"
            failure: Exception | None = None
            with captured_fd1() as captured:
                try:
                    self._interp.add_module(name, module)
                    self._interp.add_module(name.replace(".rego", "_safe.rego"), "\n".join(safe_lines) + "\n")
                    bundle = self._interp.build(query, [])
                    safe_bundle = self._interp.build(f"x := data.{package_name}_safe", [])
                except Exception as exc:  # regopy.RegoError: a compile error across modules
                    failure = exc
            text = "".join(captured)
            # build() can also "succeed" after printing errors (the bundle then fails every query)
            if failure is None and not ("Errors:" in text and _LOC_RE.search(text)):
                guards: list[Any] | None = [] if RULE_INDEXING else None
                batch_bundle, batch_names = self._batch_bundle(slots, name, module, query, guards)
                return CompiledSet(bundle, slots, query, safe_bundle, batch_bundle, batch_names, guards)
            failure = failure or RuntimeError("build failed")
            file, _line, _col, _msg = native_location(text)
            culprit = next((pf for pf in self.files if pf.path == file and pf.path not in self._broken), None)
            if culprit is None:
                raise PolicyCompileError(native_error("(policies)", text, failure, kind="compile error"))
            self.problems.append(
                native_error(culprit.path, text, failure, self._columns.get(culprit.path), kind="compile error")
            )
            self._broken.add(culprit.path)
            self._interp = self._fresh_interpreter()
        raise PolicyCompileError(PolicyProblem("(policies)", 0, "the policies do not compile"))

    def _batch_bundle(
        self, slots: dict[str, tuple[str, str]], name: str, module: str, query: str, guards: list[Any] | None = None
    ) -> tuple[Any, dict[str, str] | None]:
        """The wrapper's query over an array of documents (``batch.py``), or None when the policies
        cannot be evaluated that way exactly (or rego-cpp does not build it: never an error, the
        documents are then evaluated one at a time).

        When one package is evaluated and all its rules are slots, the bundle queries the package
        itself (``x := data.main``), which skips the wrapper's rules (about 10% of the query), and
        the rule -> slot names come back too; its answer must then hold exactly those rules.

        With ``guards`` (a list), the rules are indexed (``batch.py``: the guards found are put in it)."""
        import regopy

        from deployforge.policy.batch import NotBatchable, batch_module

        by_package: dict[str, set[str]] = {}
        for package, rule in slots.values():
            by_package.setdefault(package, set()).add(rule)
        everywhere = {rule for _package, rule in slots.values()}
        defined = {head.name for pf in self.files for head in pf.rules} | {
            m.group(1) for pf in self.files for m in re.finditer(r"^([A-Za-z_]\w*)\s*\(", pf.text, re.M)
        }
        texts: dict[str, str] = {}
        try:
            for pf in self.files:
                if pf.path not in self._broken:
                    texts[pf.path] = batch_module(
                        self._texts[pf.path], by_package.get(pf.package, set()), everywhere, guards, defined
                    )
        except NotBatchable:
            if guards:
                guards.clear()
            return None, None
        names: dict[str, str] | None = None
        if len(by_package) == 1:
            ((package, rules),) = by_package.items()
            if {h.name for h in self.rules_of(package)} == rules and len(rules) == len(slots):
                names = {rule: slot for slot, (_p, rule) in slots.items()}
                query = f"x := data.{package}"
        with captured_fd1() as captured:
            try:
                interp = regopy.Interpreter()
                interp.strict_built_in_errors = True
                for doc in self.data:
                    plain, modules = split_data(doc)
                    if plain:
                        interp.add_data(plain)
                    for data_name, data_module in modules:
                        interp.add_module(data_name, data_module)
                interp.add_module("__deployforge_enc__.rego", ENCODER_MODULE)
                for path, text in texts.items():
                    interp.add_module(path, text)
                if names is None:
                    interp.add_module(name, module)
                bundle = interp.build(query, [])
            except Exception:  # regopy.RegoError, UnreadableValue: evaluated one document at a time
                bundle = None
        text = "".join(captured)
        if bundle is None or "Errors:" in text or _LOC_RE.search(text):
            if guards:
                guards.clear()
            return None, None
        return bundle, names

    def query_rule(self, document: Any, package: str, rule: str) -> tuple[bool, Any]:
        """One rule against one document, without the bundle (used to pin down an engine error).

        Returns (True, value) or (False, the engine's error text)."""
        try:
            set_input(self._interp, document)
        except UnreadableInput as exc:
            return False, str(exc)
        return self.query_value(package, rule)

    def query_value(self, package: str, rule: str) -> tuple[bool, Any]:
        """(True, the rule's value or None when undefined) or (False, the engine's error text)."""
        with captured_fd1():
            ok, text = raw_query(self._interp, f"x := data.{ENCODER_PACKAGE}.enc({_ref(package, rule)})")
        if not ok:
            return False, engine_error_text(text)
        try:
            out: Any = json.loads(text) if text.strip() != "undefined" else {}
            first = out[0] if isinstance(out, list) and out else out
            bindings = first.get("bindings", {}) if isinstance(first, dict) else {}
            enc = bindings.get("x")
            return True, (decode_value(enc) if enc is not None else None)
        except (ValueError, UnreadableValue, AttributeError) as exc:
            return False, f"the engine's answer could not be read ({exc})"


def _is_policy_rule(name: str) -> bool:
    return bool(_RULE_RE.match(name))


def _ref(package: str, rule: str) -> str:
    return "data." + ".".join(package.split(".")) + "." + rule


# -- evaluating many documents ----------------------------------------------------


class _Doubt(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Doubt("duplicate key")
        out[k] = v
    return out


def _strings(value: Any) -> int:
    """How many strings (keys included) a parsed JSON value holds."""
    if isinstance(value, str):
        return 1
    if isinstance(value, list):
        return sum(_strings(v) for v in value)
    if isinstance(value, dict):
        return len(value) + sum(_strings(v) for v in value.values())
    return 0


def _read_fast(text: str, slots: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """The fast bundle's answer, accepted only when no string in it can have bent it.

    rego-cpp writes strings without escaping them, so a message holding ``"`` or ``\\`` could end
    a string early, swallow the next one, or (crafted) forge the structure. The answer is accepted
    only when the text holds no backslash and exactly two quotes per string of the parsed value (so
    no quote came from inside a string), is JSON without a duplicate key and holds exactly the
    slots. Otherwise the document is evaluated again through the safe (base64) bundle."""
    if text.strip() == "undefined":
        return {}
    got = _unbent_bindings(text)
    if not isinstance(got, dict) or set(got) != set(slots):
        raise _Doubt("slots")
    out: dict[str, Any] = {}
    for slot, (_package, rule) in slots.items():
        v = got[slot]
        out[slot] = decode_value(v) if rule == "allow" and v is not None else v
    return out


def _unbent_bindings(text: str) -> Any:
    """The query's ``x`` binding, when no string in the answer can have bent its structure: no
    backslash, exactly two quotes per string of the parsed value, JSON without a duplicate key
    (``_Doubt`` otherwise: the caller evaluates through the safe bundle)."""
    if "\\" in text:
        raise _Doubt("backslash")
    parsed = json.loads(text, object_pairs_hook=_no_duplicates)
    if text.count('"') != 2 * _strings(parsed):
        raise _Doubt("a quote inside a string")
    first = parsed[0] if isinstance(parsed, list) and parsed else parsed
    return (first.get("bindings") or {}).get("x") if isinstance(first, dict) else None


def _read_safe(text: str) -> dict[str, Any]:
    parsed = json.loads(text) if text.strip() != "undefined" else {}
    first = parsed[0] if isinstance(parsed, list) and parsed else parsed
    slots = (first.get("bindings") or {}).get("x") or {} if isinstance(first, dict) else {}
    return {k: (decode_value(v) if v is not None else None) for k, v in slots.items()}


def _read_batch(
    text: str, slots: dict[str, tuple[str, str]], n: int, names: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The batch bundle's answer (each slot a set of [document index, value] pairs) as each
    document's slot values; accepted only under ``_read_fast``'s conditions, and only when every
    pair names a document of the batch (otherwise the batch is evaluated one document at a time)."""
    got = _unbent_bindings(text)
    if isinstance(got, dict) and names is not None:  # the package itself: its rules, by name
        if set(got) != set(names):
            raise _Doubt("rules")
        got = {names[rule]: value for rule, value in got.items()}
    if not isinstance(got, dict) or set(got) != set(slots):
        raise _Doubt("slots")
    out: list[dict[str, Any]] = [{slot: [] for slot in slots} for _ in range(n)]
    for slot, pairs in got.items():
        if not isinstance(pairs, list):
            raise _Doubt("not a set")
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2 and type(pair[0]) is int and 0 <= pair[0] < n):
                raise _Doubt("not a pair")
            out[pair[0]][slot].append(pair[1])
    return out


def faithful(text: str) -> str:
    """The string to hand rego-cpp so that it reads ``text``: its input builder takes a string that
    starts and ends with ``"`` for a quoted one and drops that pair (``'"private"'`` would be read
    as ``private``: a silent pass of ``input.acl != "private"``), so such a string gets one more pair,
    which it drops. A NUL would end the string early: ``policy/inputs.py`` refuses those documents."""
    if len(text) > 1 and text[0] == '"' and text[-1] == '"':
        return f'"{text}"'
    return text


# The C input builder (``_rego_input``, built from ``_rego_input.c`` when DeployForge is installed with
# a C compiler at hand): the same rego-cpp calls as ``_make_input_ctypes``, without a Python frame and
# a ctypes conversion per value. Set NATIVE_INPUT to False (or DEPLOYFORGE_NATIVE_INPUT=0 in the
# environment) for the ctypes path alone; the tests compare the two.
NATIVE_INPUT = os.environ.get("DEPLOYFORGE_NATIVE_INPUT", "1") != "0"
_NATIVE_FUNCTIONS = (
    "regoNewInput", "regoFreeInput", "regoInputString", "regoInputInt", "regoInputFloat", "regoInputBoolean",
    "regoInputNull", "regoInputObjectItem", "regoInputObject", "regoInputArray",
)  # fmt: skip
_native_build: Any = None  # the extension's build() once configured; False when it is not available


def native_builder() -> Any:
    """``_rego_input.build`` configured with the addresses of the installed regopy's rego-cpp
    functions, or None when the extension is not built (or this regopy lacks one of them)."""
    global _native_build
    if _native_build is None:
        try:
            import ctypes

            from regopy import rego_shared as native

            from deployforge.policy import _rego_input  # type: ignore[attr-defined]

            addresses = [ctypes.cast(getattr(native.rego, name), ctypes.c_void_p).value for name in _NATIVE_FUNCTIONS]
            _rego_input.configure(*addresses)
            _native_build = _rego_input.build
        except (ImportError, AttributeError, TypeError, ValueError):
            _native_build = False
    return _native_build or None


def make_input(value: Any) -> Any:
    """``regopy.Input(value)``, built with the same rego-cpp calls, faster: in C by ``_rego_input``
    when it is built (and ``NATIVE_INPUT``), otherwise through ctypes (``_make_input_ctypes``).
    Every string and key goes through ``faithful``. The C builder takes exactly dict, list, str,
    int (int64), float, bool and None, nested at most ``_rego_input.MAX_DEPTH`` deep; for anything
    else it frees what it built and the value goes the ctypes way, which decides as it always has
    (regopy's own builder, or the error)."""
    if NATIVE_INPUT:
        build = _native_build if _native_build is not None else native_builder()
        if build:
            handle = build(value)
            if handle is not None:
                import regopy

                made = regopy.Input.__new__(regopy.Input)
                made._impl = handle  # freed by Input.__del__, as regopy's own
                return made
    return _make_input_ctypes(value)


def _make_input_ctypes(value: Any) -> Any:
    """``regopy.Input(value)``, built with the same C calls in about 60% of the time (exact types
    first, no ABC checks, no per-string buffer copy): rego-cpp's input is built value by value, which
    cost 0.15 ms a document, a fifth of a batched evaluation. Every string and key goes through
    ``faithful``. A type other than dict, list, str, int, float, bool and None goes through regopy's
    own builder (which refuses what it cannot take), after the same treatment of its strings."""
    import regopy
    from regopy import rego_shared as native

    lib = native.rego
    handle = native.rego_new_input()
    string, obj, item, array = lib.regoInputString, lib.regoInputObject, lib.regoInputObjectItem, lib.regoInputArray

    def add(v: Any) -> None:
        t = type(v)
        if t is str:
            if len(v) > 1 and v[0] == '"' and v[-1] == '"':
                v = f'"{v}"'  # faithful(v), inline: this runs for every string of every document
            code = string(handle, v.encode("utf-8"))
        elif t is dict:
            for k, x in v.items():
                add(k)
                add(x)
                if item(handle):
                    raise _Unbuilt
            code = obj(handle, len(v))
        elif t is list:
            for x in v:
                add(x)
            code = array(handle, len(v))
        elif t is bool:
            code = lib.regoInputBoolean(handle, v)
        elif t is int:
            if not _INT64_MIN <= v <= _INT64_MAX:
                raise UnreadableInput(out_of_range(v))
            code = lib.regoInputInt(handle, v)
        elif t is float:
            if not _kept_by_builder(v):
                raise RoundedFloat
            code = lib.regoInputFloat(handle, v)
        elif v is None:
            code = lib.regoInputNull(handle)
        else:
            raise _Unbuilt
        if code:
            raise _Unbuilt

    made = regopy.Input.__new__(regopy.Input)
    made._impl = handle  # freed by Input.__del__, as regopy's own
    try:
        add(value)
    except (_Unbuilt, TypeError, OverflowError, ctypes_error()):
        return regopy.Input(_faithful_copy(value))
    return made


def _faithful_copy(value: Any) -> Any:
    if isinstance(value, str):
        return faithful(value)
    if isinstance(value, int) and not isinstance(value, bool) and not _INT64_MIN <= value <= _INT64_MAX:
        raise UnreadableInput(out_of_range(value))
    if isinstance(value, float) and not _kept_by_builder(value):
        raise RoundedFloat
    if isinstance(value, dict):
        return {faithful(k) if isinstance(k, str) else k: _faithful_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_faithful_copy(v) for v in value]
    return value


class _Unbuilt(Exception):
    pass


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class UnreadableInput(Exception):
    """A value the Rego engine cannot be given as it is: an integer outside the 64-bit range, which
    rego-cpp's input builder (and ctypes) would silently wrap (2**64 is read as 0, so ``size:
    18446744073709551616`` would pass ``input.size > 100``). The document is an error, never judged."""


class RoundedFloat(Exception):
    """A float rego-cpp's input builder would round: it reads a double as its ``%f`` text, six
    decimals (``1e-7`` is read as 0, so ``input.error_rate > 0`` would not hold: a silent pass).
    ``set_input`` gives such a document as JSON text instead, which rego-cpp reads exactly."""


def _kept_by_builder(value: float) -> bool:
    """Whether rego-cpp's builder reads this float as it is (``_rego_input.c``: the same test)."""
    return not math.isfinite(value) or float(f"{value:f}") == value


def set_input(interp: Any, value: Any) -> None:
    """``interp``'s input is ``value``: built by ``make_input``, or, for a document holding a float
    the builder would round, given as JSON text (rego-cpp reads numbers there exactly: floats, and
    integers of any size). rego-cpp keeps a JSON string's escapes, so that text is used only when no
    string or key needs one; otherwise ``UnreadableInput`` (the document is an error, never judged
    with a rounded number)."""
    try:
        interp.set_input(make_input(value))
    except RoundedFloat:
        interp.set_input_term(exact_text(value))


def exact_text(value: Any) -> str:
    """``value`` as JSON text rego-cpp reads exactly as it is, or ``UnreadableInput``."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str:
            if any(c in v for c in '"\\') or any(ord(c) < 0x20 for c in v):
                raise UnreadableInput(_ROUNDED_AND_ESCAPED)
        elif t is dict:
            for k in v:
                if type(k) is not str:
                    raise UnreadableInput(_ROUNDED_AND_ESCAPED)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif t is list:
            stack.extend(v)
        elif t is float:
            if not math.isfinite(v):
                raise UnreadableInput(_ROUNDED_AND_ESCAPED)
        elif v is not None and t not in (bool, int):
            raise UnreadableInput(_ROUNDED_AND_ESCAPED)
    return json.dumps(value, ensure_ascii=False)


_ROUNDED_AND_ESCAPED = (
    "the input holds a number with more than six decimals (which the Rego engine's input builder "
    "rounds: 1e-7 is read as 0) beside a string or key it can only be given escaped (a quote, a "
    "backslash or a control character), so it cannot be read exactly; round the number or move it "
    "to another document"
)


def out_of_range(value: int) -> str:
    """The message for an integer outside int64 (its size, not its digits: a huge one has 100,000)."""
    return (
        f"the input holds an integer outside the 64-bit range ({value.bit_length()} bits), which the Rego "
        "engine cannot read exactly; write it as a string (quoted) if a policy must see it"
    )


def ctypes_error() -> type[Exception]:
    import ctypes

    return ctypes.ArgumentError


BATCH_SIZE = 32  # documents per query with the batch bundle (rego-cpp slows down on big inputs)
RULE_INDEXING = True  # batch.py's rule indexing in batch bundles (the tests compare with and without it)


def batch_input(compiled: CompiledSet, documents: Sequence[Any]) -> Any:
    """The batch bundle's input for ``documents``: the array itself, or with rule indexing
    (``batch.py``) ``{"d": documents, "s": {guard id: indexes of the documents it lets through}}``
    (when every rule is indexed, a document no guard lets through is sent as ``null``)."""
    docs = list(documents)
    if compiled.batch_guards is None:
        return docs
    from deployforge.policy.batch import clean

    clean_docs = [clean(d) for d in docs]
    everything = list(range(len(docs)))
    selected: dict[str, list[int]] = {}
    every = False  # a rule without tests iterates every document
    for guard, selector in _selectors(compiled.batch_guards):
        if selector is None:
            every = True
            continue
        try:
            selected[guard.id] = selector(docs, clean_docs)
        except Exception:  # a value the guard cannot judge: the engine sees every document (never an error here)
            selected[guard.id] = everything
    if not every:  # every rule iterates its own indexes: a document none lets through is never looked at
        wanted = set().union(*selected.values()) if selected else set()
        docs = [doc if i in wanted else None for i, doc in enumerate(docs)]
    return {"d": docs, "s": selected}


_last_selectors: tuple[Any, list[tuple[Any, Any]]] = (None, [])


def _selectors(guards: list[Any]) -> list[tuple[Any, Any]]:
    """(guard, its selector, or None for a guard without tests) for each guard, made once per
    compiled set rather than once per batch (the last set's are kept: one is in use at a time)."""
    global _last_selectors
    if _last_selectors[0] is not guards:
        _last_selectors = (guards, [(g, g.selector() if g.tests else None) for g in guards])
    return _last_selectors[1]


def _evaluate_range(compiled: CompiledSet, documents: Sequence[Any], lo: int, hi: int) -> tuple[list[Any], str]:
    """Slot values for documents[lo:hi] (None where the engine raised an error), and what print() wrote.

    With a batch bundle, ``BATCH_SIZE`` documents go in one query; a batch that fails (an engine
    error in one document) or whose answer is in doubt is evaluated again one document at a time,
    so an error is pinned on its document and never drops another document's findings."""
    import regopy

    interp = regopy.Interpreter()
    interp.strict_built_in_errors = True
    out: list[Any] = []
    with captured_fd1() as printed:
        start = lo
        while start < hi:
            end = min(hi, start + BATCH_SIZE)
            if compiled.batch_bundle is not None and end - start > 1:
                try:
                    interp.set_input(make_input(batch_input(compiled, documents[start:end])))
                    ok, text = raw_query(interp, bundle=compiled.batch_bundle)
                except (UnreadableInput, RoundedFloat):  # one document at a time below
                    ok, text = False, ""
                if ok:
                    try:
                        out.extend(_read_batch(text, compiled.slots, end - start, compiled.batch_names))
                        start = end
                        continue
                    except (ValueError, _Doubt, AttributeError, KeyError, TypeError):
                        pass
            _evaluate_each(interp, compiled, documents, start, end, out)
            start = end
    return out, "".join(printed)


def _evaluate_each(
    interp: Any, compiled: CompiledSet, documents: Sequence[Any], lo: int, hi: int, out: list[Any]
) -> None:
    """documents[lo:hi] one query each (fast bundle, then the safe one when the answer is in doubt)."""
    for i in range(lo, hi):
        try:
            set_input(interp, documents[i])
        except UnreadableInput:
            out.append(None)  # _interpret asks each rule, and reports the unreadable value as its error
            continue
        ok, text = raw_query(interp, bundle=compiled.bundle)
        if not ok:
            out.append(None)  # an engine error: the caller finds which rule, one by one
            continue
        try:
            out.append(_read_fast(text, compiled.slots))
            continue
        except (ValueError, _Doubt, UnreadableValue, AttributeError, KeyError, TypeError):
            pass
        ok, text = raw_query(interp, bundle=compiled.safe_bundle)
        try:
            out.append(_read_safe(text) if ok else None)
        except (ValueError, UnreadableValue, AttributeError, KeyError, TypeError):
            out.append(None)


def evaluate_documents(
    compiled: CompiledSet, documents: Sequence[Any], workers: int | None = None, limits: Any = None
) -> tuple[list[Any], str]:
    """Each document's slot values (None where the engine raised an error), in order, and print() output.

    Large batches are split over forked workers (``isolate.run_parallel``: each with the limits,
    default signal handlers, and a crash of one reported, never a hang)."""
    from deployforge.policy.isolate import Crash, Limits, run_parallel, usable_cpus

    n = len(documents)
    cpus = workers or usable_cpus()
    if n < PARALLEL_THRESHOLD or cpus < 2 or sys.platform == "win32":
        return _evaluate_range(compiled, documents, 0, n)
    size = -(-n // cpus)
    chunks = [(i, min(n, i + size)) for i in range(0, n, size)]
    from functools import partial

    parts = run_parallel(
        [partial(_evaluate_range, compiled, documents, lo, hi) for lo, hi in chunks],
        limits or Limits(),
    )
    values: list[Any] = []
    printed: list[str] = []
    for part in parts:
        if isinstance(part, Crash):
            raise EngineCrash(part)
        values.extend(part[0])
        printed.append(part[1])
    return values, "".join(printed)


class EngineCrash(Exception):
    def __init__(self, crash: Any):
        super().__init__(crash.kind)
        self.crash = crash


def dump_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
