"""Turn files into the documents policies see as ``input``.

Two shapes, both documented in docs/policies.md:

- **per-file** (conftest's): one document per file (per YAML document in a multi-document file, per
  element of a JSON file holding an array at its top, ``null`` for an empty or comment-only YAML
  file). Terraform is given the way conftest (hcl2json) gives it: ``input.resource.<type>.<name>``
  is a LIST of block bodies (``some b in input.resource.aws_s3_bucket[name]``), nested blocks are
  lists, ``input.provider.<name>`` is a list. CloudFormation/SAM tags (``!Ref x``, ``!Sub ...``,
  ``!GetAtt a.b``) are read as their plain values, as conftest reads them.
- **per-resource** (the product page's ``production.rego``): one document per resource,
  ``input.resource`` holding the resource's attributes plus ``region`` (resolved from its provider
  block or DeployForge target) and ``tags`` (``{}`` when absent); ``input.type``, ``input.name``,
  ``input.address``, ``input.file``, ``input.line`` say which resource it is.

Reading a file never stops the others: a broken file becomes an ``InputProblem`` with its line.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

INPUT_SUFFIXES = (".tf", ".tfvars", ".yaml", ".yml", ".json", ".hcl")


@dataclass(frozen=True)
class ResourceDoc:
    address: str
    file: str
    line: int
    document: dict[str, Any]


@dataclass(frozen=True)
class InputDoc:
    file: str
    kind: str  # terraform | yaml | json | deployforge | plan
    document: Any
    line: int = 1  # where this document starts (multi-document YAML)
    index: int | None = None  # the document's position in a multi-document file
    resources: tuple[ResourceDoc, ...] = ()
    anchors: dict[str, int] = field(default_factory=dict, hash=False, compare=False)  # name -> line

    @property
    def label(self) -> str:
        return f"{self.file}#{self.index}" if self.index is not None else self.file

    def line_for(self, *texts: str) -> tuple[int, str | None]:
        """The line (and resource address) a finding's message or metadata points at, if any.

        A name counts where it stands alone: not preceded by a word character or ``-`` (nor ``.``
        for an address) and not followed by a word character or ``-`` (``mentions``; no regular
        expression is compiled per name: with thousands of documents each name is new, and
        compiling them cost more than the rest of reading the engine's answers)."""
        texts = tuple(t for t in texts if t)
        for res in self.resources:
            for text in texts:
                if mentions(text, res.address, "."):
                    return res.line, res.address
        for res in self.resources:
            name = res.address.rsplit(".", 1)[-1]
            for text in texts:
                if mentions(text, name):
                    return res.line, res.address
        for name, line in self.anchors.items():
            for text in texts:
                if len(name) > 2 and mentions(text, name):
                    return line, None
        return self.line, None


def _wordish(ch: str) -> bool:
    """``re``'s ``\\w`` for a str pattern: ``str.isalnum()`` or ``_`` (here with ``-`` too)."""
    return ch.isalnum() or ch == "_" or ch == "-"


def mentions(text: str, name: str, also_before: str = "") -> bool:
    """Whether ``name`` occurs in ``text`` standing alone: what
    ``re.search(rf"(?<![\\w{also_before}-]){re.escape(name)}(?![\\w-])", text)`` finds."""
    if not name:  # an empty name: as the expression does (rare: no need to be quick)
        return re.search(rf"(?<![\w{re.escape(also_before)}-])(?![\w-])", text) is not None
    start = text.find(name)
    end_limit = len(text)
    while start != -1:
        end = start + len(name)
        if (start == 0 or not (_wordish(text[start - 1]) or text[start - 1] in also_before)) and (
            end == end_limit or not _wordish(text[end])
        ):
            return True
        start = text.find(name, start + 1)
    return False


@dataclass(frozen=True)
class InputProblem:
    file: str
    line: int
    message: str
    hint: str | None = None


# -- finding the files ----------------------------------------------------------


def expand_paths(
    patterns: list[str] | tuple[str, ...], suffixes: tuple[str, ...] = INPUT_SUFFIXES
) -> tuple[list[str], list[InputProblem]]:
    """Files, folders (recursively, by suffix) and globs (quoted or already expanded by the shell)."""
    files: list[str] = []
    problems: list[InputProblem] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                problems.append(
                    InputProblem(
                        pattern, 0, f"no files match '{pattern}'", "check the pattern and the working directory"
                    )
                )
            for match in matches:
                files.extend(_expand_one(match, suffixes))
            continue
        path = Path(pattern)
        if not path.exists():
            problems.append(InputProblem(pattern, 0, f"'{pattern}' not found", "pass an existing file, folder or glob"))
        elif path.is_dir():
            found = _expand_one(pattern, suffixes)
            if not found:
                problems.append(
                    InputProblem(pattern, 0, f"folder '{pattern}' holds no {'/'.join(suffixes)} files", None)
                )
            files.extend(found)
        else:
            files.append(pattern)
    return list(dict.fromkeys(files)), problems


def _expand_one(path: str, suffixes: tuple[str, ...]) -> list[str]:
    if not os.path.isdir(path):
        return [path]
    out: list[str] = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(os.path.join(root, n) for n in sorted(names) if n.endswith(suffixes) and not n.startswith("."))
    return out


# -- reading --------------------------------------------------------------------


def read_inputs(files: list[str]) -> tuple[list[InputDoc], list[InputProblem]]:
    """The documents of ``files`` and the problems found reading them.

    The cyclic garbage collector is paused meanwhile: a 5,000-document YAML file or a 20,000-block
    ``.tf`` is hundreds of thousands of new objects, none in a cycle, and the collections they
    trigger grew the time worse than linearly (a 20,000-block ``.tf``: 1.6-1.9 s with them)."""
    import gc

    paused = gc.isenabled()
    gc.disable()
    try:
        return _read_inputs(files)
    finally:
        if paused:
            gc.enable()


def _read_inputs(files: list[str]) -> tuple[list[InputDoc], list[InputProblem]]:
    docs: list[InputDoc] = []
    problems: list[InputProblem] = []
    tf_files = [f for f in files if f.endswith((".tf", ".tfvars", ".hcl"))]
    parsed_tf: dict[str, dict[str, Any]] = {}
    tf_lines: dict[str, dict[str, int]] = {}
    # per file, which values the engine cannot read exactly its text may hold (unreadable_checks;
    # its documents are then looked through: _without_unreadable)
    checks: dict[str, tuple[bool, bool, bool]] = {}
    for f in tf_files:
        try:
            tf_text = Path(f).read_text(encoding="utf-8")
            parsed = parse_hcl_with_lines(tf_text)
            parsed_tf[f], tf_lines[f] = parsed.data, parsed.lines
            checks[f] = unreadable_checks(tf_text)
        except OSError as exc:
            problems.append(InputProblem(f, 0, f"cannot read: {exc.strerror}"))
        except UnicodeDecodeError:
            problems.append(InputProblem(f, 0, "not a UTF-8 text file"))
        except HclSyntaxError as exc:
            problems.append(
                InputProblem(f, exc.line, f"invalid HCL: {exc.message}", "fix the syntax; terraform fmt helps")
            )
    variables = _tf_variables(parsed_tf)
    for f in files:
        if f in tf_files:
            if f in parsed_tf:
                try:
                    docs.append(terraform_doc(f, parsed_tf, variables, tf_lines.get(f)))
                except MixedBlocks as exc:
                    problems.append(InputProblem(f, exc.line, str(exc), "rename the attribute"))
            continue
        try:
            text = Path(f).read_text(encoding="utf-8")
        except OSError as exc:
            problems.append(InputProblem(f, 0, f"cannot read: {exc.strerror}"))
            continue
        except UnicodeDecodeError:
            problems.append(InputProblem(f, 0, "not a UTF-8 text file"))
            continue
        checks[f] = unreadable_checks(text)
        if f.endswith(".json"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append(InputProblem(f, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})"))
                continue
            except RecursionError:  # Python's reader gives up near its recursion limit (~1,000 levels)
                problems.append(
                    InputProblem(
                        f,
                        0,
                        "the JSON nests arrays and objects too deeply to be read (about 1,000 levels)",
                        "no configuration nests that deep: flatten it (YAML input stops at 1,000 levels too)",
                    )
                )
                continue
            docs.extend(json_docs(f, data))
        elif f.endswith((".yaml", ".yml")):
            ydocs, problem = yaml_docs(f, text)
            docs.extend(ydocs)
            if problem:
                problems.append(problem)
        else:
            problems.append(
                InputProblem(
                    f, 0, "unsupported input type", "policy inputs are .tf, .tfvars, .hcl, .yaml, .yml or .json"
                )
            )
    if any(any(c) for c in checks.values()):
        docs = _without_unreadable(docs, checks, problems)
    return docs, problems


# escapes that make a NUL in JSON, YAML or HCL strings (a raw NUL is checked on its own)
_NUL_ESCAPES = ("\\x00", "\\0", "\\u0000", "\\U00000000")


# an integer outside 64 bits is written with at least 16 characters of these, starting with a digit
# (19 decimal digits, 0x and 16 hex digits, 0o and 21 octal, 0b and 63 binary, YAML 1.1's 1_000_...
# or sexagesimal 1:20:...): a file without such a run cannot hold one, and is not walked
_LONG_NUMBER = re.compile(r"[0-9][0-9A-Fa-f_:xXoObB]{15,}")


# a float with more than six decimals is written with seven digits after its point, or an exponent
_SEVEN_DECIMALS = re.compile(r"\.[0-9]{7}")
_EXPONENT = re.compile(r"[0-9][eE][-+]?[0-9]")  # searched apart: one alternation scans 2x slower


def _may_hold_fine_number(text: str) -> bool:
    return _SEVEN_DECIMALS.search(text) is not None or _EXPONENT.search(text) is not None


def _may_hold_big_int(text: str) -> bool:
    return _LONG_NUMBER.search(text) is not None


def _may_hold_nul(text: str) -> bool:
    return "\x00" in text or any(m in text for m in _NUL_ESCAPES)


def _unreadable(value: Any, nul: bool, big: bool, fine: bool = False) -> str | None:
    """Why the policy engine cannot be given ``value`` as it is: "nul" (a string or key holding a
    NUL), "int" (an integer outside the 64-bit range), "float" (a float with more than six decimals,
    which its builder rounds, beside what JSON text cannot give it as it is: a string needing an
    escape, a key that is not a string, NaN or an infinity; see ``engine.exact_text``), or None.
    Iterative: documents may nest deep."""
    stack = [value]
    rounded = escaped = False
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str:
            if nul and "\x00" in v:
                return "nul"
            if fine and not escaped and ('"' in v or "\\" in v or any(ord(c) < 0x20 for c in v)):
                escaped = True
        elif t is dict:
            if fine and not escaped and any(type(k) is not str for k in v):
                escaped = True
            stack.extend(v.keys())
            stack.extend(v.values())
        elif t is list:
            stack.extend(v)
        elif big and t is int and not _INT64_MIN <= v <= _INT64_MAX:
            return "int"
        elif fine and t is float:
            if not math.isfinite(v):
                escaped = True  # not JSON either
            elif float(f"{v:f}") != v:
                rounded = True
    return "float" if rounded and escaped else None


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_UNREADABLE = {
    "nul": (
        "a string holds a NUL character, which the policy engine would read as the end of the string",
        "remove the NUL (\\0, \\u0000): no configuration value needs one",
    ),
    "float": (
        "a number has more than six decimals, which the policy engine's input builder rounds (1e-7 is "
        "read as 0), and a string beside it holds a quote, backslash or control character (or a key is "
        "not a string, or a number is NaN or infinite), so the document cannot be given to the engine "
        "exactly either way",
        "round the number to six decimals, or move it or the string to another document",
    ),
    "int": (
        "a number is an integer outside the 64-bit range, which the policy engine would read wrapped "
        "around (2^64 as 0)",
        "write it as a string (quoted) if a policy must see it",
    ),
}


def _without_unreadable(
    docs: list[InputDoc], checks: dict[str, tuple[bool, bool, bool]], problems: list[InputProblem]
) -> list[InputDoc]:
    """The documents the policy engine can read exactly; each one it cannot is an input error at its
    line, refused and never judged.

    rego-cpp reads a string only up to a NUL (``"private\\u0000x" == "private"`` holds there, not
    in OPA), and its input builder takes 64-bit integers, wrapping bigger ones (``size:
    18446744073709551616`` is read as 0 and would pass ``input.size > 100``, which OPA, reading it
    exactly, fails): evaluating such a document could pass a policy OPA fails. (The engine refuses
    such an integer from any other source too: ``engine.UnreadableInput``.)"""
    kept = []
    for doc in docs:
        nul, big, fine = checks.get(doc.file, (False, False, False))
        why = _unreadable(doc.document, nul, big, fine) if nul or big or fine else None
        if why is None:
            kept.append(doc)
            continue
        message, hint = _UNREADABLE[why]
        problems.append(
            InputProblem(doc.file, doc.line, f"{doc.label}: {message}; this document was not evaluated", hint)
        )
    return kept


class HclSyntaxError(Exception):
    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.message = message
        self.line = line


def parse_hcl(text: str) -> dict[str, Any]:
    """python-hcl2's document for ``text`` (see ``policy/hcl.py``: a fast reader, python-hcl2 for the rest)."""
    return parse_hcl_with_lines(text).data


def parse_hcl_with_lines(text: str) -> Any:
    """``hcl.Parsed``: the document and each top-level block's first line, read in one pass."""
    from deployforge.policy.hcl import HclError, parse

    try:
        return parse(text)
    except HclError as exc:
        raise HclSyntaxError(exc.message, exc.line) from None
    except RecursionError:
        raise HclSyntaxError("the file nests values too deeply", 0) from None


def _tf_variables(parsed: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per folder: variable defaults, overridden by .tfvars values (for resolving ${var.x} in regions)."""
    out: dict[str, dict[str, Any]] = {}
    for f, data in parsed.items():
        folder = os.path.dirname(os.path.abspath(f))
        values = out.setdefault(folder, {})
        for block in _blocks(data, "variable"):
            for name, body in block.items():
                if isinstance(body, dict) and "default" in body:
                    values.setdefault(name, body["default"])
    for f, data in parsed.items():
        if f.endswith(".tfvars"):
            folder = os.path.dirname(os.path.abspath(f))
            out.setdefault(folder, {}).update({k: v for k, v in data.items() if not isinstance(v, list | dict)})
    return out


_BLOCK_KINDS = {"resource": 2, "data": 2, "provider": 1, "variable": 1, "output": 1, "module": 1}


class MixedBlocks(ValueError):
    """An attribute and blocks of one name in a ``.tf`` file."""

    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = line


def _labelled_blocks(value: Any, labels: int) -> bool:
    """Whether ``value`` is blocks as the HCL reader gives them: a list of {label: ...} objects,
    ``labels`` deep (``resource "t" "n" {}``: 2)."""
    if not isinstance(value, list):
        return False
    level = value
    for _ in range(labels):
        if not all(isinstance(b, dict) for b in level):
            return False
        level = [v for b in level for v in b.values()]
    return True


def _blocks(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The ``kind`` blocks of a parsed file (an attribute of that name, ``provider = 1``, holds none)."""
    value = data.get(kind)
    return [b for b in value if isinstance(b, dict)] if isinstance(value, list) else []


_VAR_RE = re.compile(r"^\$\{var\.([A-Za-z0-9_-]+)\}$")


def _resolve(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, str):
        m = _VAR_RE.match(value)
        if m and m.group(1) in variables:
            return variables[m.group(1)]
    return value


def terraform_doc(
    path: str,
    parsed: dict[str, dict[str, Any]],
    variables: dict[str, dict[str, Any]],
    block_lines: dict[str, int] | None = None,
) -> InputDoc:
    data = parsed[path]
    lines = block_lines if block_lines is not None else parse_hcl_with_lines(Path(path).read_text("utf-8")).lines
    for kind, labels in _BLOCK_KINDS.items():
        value = data.get(kind)
        if (
            isinstance(value, list)
            and not _labelled_blocks(value, labels)
            and any(_labelled_blocks([b], labels) for b in value)
        ):  # `resource = [1]` beside `resource "t" "n" {}`: neither can be read as written
            raise MixedBlocks(f"'{kind}' is both an attribute and blocks (Terraform and conftest refuse it)", 0)
    doc: dict[str, Any] = {}
    folder_vars = variables.get(os.path.dirname(os.path.abspath(path)), {})
    for key, value in data.items():
        # blocks (an attribute of the same name, `resource = [1]`, is kept as it is written)
        if key in ("resource", "data") and _labelled_blocks(value, 2):
            # conftest's (hcl2json's) shape: input.resource.<type>.<name> is a LIST of block bodies
            merged: dict[str, dict[str, list[Any]]] = {}
            for block in value:
                for rtype, named in block.items():
                    for name, body in named.items():
                        merged.setdefault(rtype, {}).setdefault(name, []).append(body)
            doc[key] = merged
        elif key in ("provider", "variable", "output", "module") and _labelled_blocks(value, 1):
            merged_list: dict[str, list[Any]] = {}
            for block in value:
                for name, body in block.items():
                    merged_list.setdefault(name, []).append(body)
            doc[key] = merged_list
        else:
            doc[key] = value
    # Providers of every .tf file in the same folder (Terraform merges a module's files).
    folder = os.path.dirname(os.path.abspath(path))
    providers: dict[str, dict[str, Any]] = {}
    same_folder = [f for f in parsed if os.path.dirname(os.path.abspath(f)) == folder]
    for f in sorted(same_folder, key=lambda f: f != path):  # this file's own providers first
        other = parsed[f]
        for block in _blocks(other, "provider"):
            for pname, body in block.items():
                if not isinstance(body, dict):
                    continue
                alias = body.get("alias")
                providers.setdefault(f"{pname}.{alias}" if alias else pname, body)
    resources = []
    declared: dict[str, dict[str, list[Any]]] = doc["resource"] if _labelled_blocks(data.get("resource"), 2) else {}
    for rtype, named in declared.items():
        for name, bodies in named.items():
            body = bodies[0] if bodies else {}
            attrs = dict(body) if isinstance(body, dict) else {}
            address = f"{rtype}.{name}"
            region = _resolve(attrs.get("region"), folder_vars)
            if not region:
                ref = attrs.get("provider")
                pkey = ref[2:-1] if isinstance(ref, str) and ref.startswith("${") else ref
                provider = providers.get(str(pkey)) if pkey else providers.get(rtype.split("_", 1)[0])
                region = _resolve((provider or {}).get("region"), folder_vars)
            attrs["region"] = region if isinstance(region, str) else None
            tags = attrs.get("tags")
            attrs["tags"] = tags if isinstance(tags, dict) else {}
            line = lines.get(address, 1)
            resources.append(
                ResourceDoc(
                    address,
                    path,
                    line,
                    {
                        "resource": attrs,
                        "type": rtype,
                        "name": name,
                        "address": address,
                        "file": path,
                        "line": line,
                        "kind": "terraform",
                    },
                )
            )
    # in file order (each address at its first block): a finding follows the file, and the file's
    # resources can be read in slices, one per worker (policy/tfslices.py), in the same order
    resources.sort(key=lambda r: r.line)
    return InputDoc(path, "terraform", doc, 1, None, tuple(resources), anchors=dict(lines))


def json_doc(path: str, data: Any) -> InputDoc:
    return InputDoc(path, "json", data, 1)


def json_docs(path: str, data: Any) -> list[InputDoc]:
    """conftest splits a JSON file holding an array at its top into one document per element."""
    if isinstance(data, list):
        return [InputDoc(path, "json", item, 1, i) for i, item in enumerate(data)]
    return [json_doc(path, data)]


def _tolerant_loader() -> Any:
    """A safe YAML loader that reads unknown local tags (CloudFormation's ``!Ref``, ``!Sub``, ``!GetAtt``,
    SAM's...) as the plain value they tag, as conftest does, instead of refusing the file."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    scalar = yaml.ScalarNode
    cached = _LOADERS.get(base)
    if cached is not None:
        return cached

    class Tolerant(base):  # type: ignore[valid-type,misc]
        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            # PyYAML's tag of a plain scalar, remembered per value for the file being read: the
            # composer asks for every scalar (a quarter of reading a large file, for values that
            # repeat: ``true``, ``private``, ``80``). Without path resolvers (none are registered
            # here) that tag depends on the value alone, so it is the same answer.
            self._df_tags: dict[str, str] | None = None if self.yaml_path_resolvers else {}
            if not self.yaml_path_resolvers:
                # the composer calls these for every node, and without path resolvers they do
                # nothing: built-in no-ops instead of Python frames (4% of reading a large file)
                self.descend_resolver: Any = {}.get  # (parent, index) -> None
                self.ascend_resolver = [].clear  # () -> None

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            tags = self._df_tags
            if kind is not scalar or not implicit[0]:
                return super().resolve(kind, value, implicit)
            if tags is None:
                return _go_yaml_tag(value, super().resolve(kind, value, implicit))
            tag = tags.get(value)
            if tag is None:
                tag = tags[value] = _go_yaml_tag(value, super().resolve(kind, value, implicit))
            return tag

    def untagged(loader: Any, _suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_mapping(node, deep=True)

    def as_written(loader: Any, node: Any) -> Any:
        return loader.construct_scalar(node)

    Tolerant.add_multi_constructor("!", untagged)
    # A date or time (`2024-01-02`, `2024-01-02T03:04:05Z`) stays the string written, as conftest's
    # YAML reader gives it (go-yaml keeps timestamps as strings when decoding into interface{}).
    # PyYAML's datetime could not even be handed to the engine: the whole run failed.
    Tolerant.add_constructor("tag:yaml.org,2002:timestamp", as_written)
    _LOADERS[base] = Tolerant
    return Tolerant


_LOADERS: dict[Any, Any] = {}

# go-yaml v2 (conftest's YAML reader, through sigs.k8s.io/yaml) reads a plain scalar as a float when
# it matches this (after removing "_"): 1e3 and 1.0e3 are numbers there, strings to PyYAML (whose
# YAML 1.1 floats need a dot and a signed exponent); and it has no sexagesimal numbers (80:80 stays
# the string "80:80", PyYAML's int 4880).
_GO_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


def _go_yaml_tag(value: str, tag: str) -> str:
    """PyYAML's tag for a plain scalar, corrected where go-yaml v2 reads it otherwise."""
    if tag in (_INT_TAG, _FLOAT_TAG):
        return "tag:yaml.org,2002:str" if ":" in value else tag
    if tag == "tag:yaml.org,2002:str" and value[:1] in "0123456789+-." and _GO_FLOAT.match(value.replace("_", "")):
        return _FLOAT_TAG
    return tag


def _json_key(key: Any) -> Any:
    """A mapping key as sigs.k8s.io/yaml writes it to JSON: 80 -> "80", true -> "true", 1.5 -> "1.5"."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return format(key, "g")
    return key


def _string_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_json_key(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


# A YAML file this large is read in slices by forked workers, one slice per CPU (see _yaml_in_slices).
PARALLEL_YAML_CHARS = 512 * 1024
_DOC_START = re.compile(r"^---(?=[ \t\r\n]|$)", re.M)


def yaml_docs(path: str, text: str) -> tuple[list[InputDoc], InputProblem | None]:
    """Each document of a (multi-document) YAML file on its own, with its first line."""
    if len(text) >= PARALLEL_YAML_CHARS:
        sliced = _yaml_in_slices(path, text)
        if sliced is not None:
            return _finish_yaml(path, sliced[0], sliced[1]), None
    found, count, problem = _read_yaml(path, text)
    if problem is not None:
        return found, problem
    return _finish_yaml(path, found, count), None


def _read_yaml(path: str, text: str, line_offset: int = 0) -> tuple[list[InputDoc], int, InputProblem | None]:
    """(the documents that are not empty, how many documents the text holds, the first error)."""
    import yaml

    loader_cls = _tolerant_loader()
    docs: list[InputDoc] = []
    loader = loader_cls(text)
    index = 0
    try:
        # one pass: compose each document (C), construct it from its node (no serialize/reload)
        while loader.check_node():
            node = loader.get_node()
            i, index = index, index + 1
            if node is None:
                continue
            try:
                data = _construct_plain(loader, node, {}, set())
            except (_NotPlain, RecursionError):  # PyYAML builds deep documents without recursing
                data = loader.construct_document(node)
                try:
                    data = _string_keys(data)
                except RecursionError:
                    pass
            # an empty or null document is evaluated with input = null, as conftest evaluates each part
            # of a file it splits at '---' lines (a trailing '---' gives one)
            anchors: dict[str, int] = {}
            _anchor_lines(node, anchors, 0, line_offset)
            docs.append(InputDoc(path, "yaml", data, node.start_mark.line + 1 + line_offset, i, anchors=anchors))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 + line_offset if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc)
        return docs, index, InputProblem(path, line, f"invalid YAML: {problem}")
    finally:
        loader.dispose()
    return docs, index, None


_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_STR = "tag:yaml.org,2002:str"
_PLAIN_SCALARS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}


class _NotPlain(Exception):
    """The node needs PyYAML's own constructor (a tag, a merge key, a recursive alias...)."""


def _construct_plain(loader: Any, node: Any, made: dict[int, Any], busy: set[int]) -> Any:
    """What ``loader.construct_document(node)`` gives, built directly for plain documents (maps,
    sequences and the core scalar tags), which is most of the cost of reading a large file (PyYAML's
    generic constructor spends about half of its time on bookkeeping). Scalars other than strings
    go through the loader's own constructor for their tag; an alias gives the same object, as in
    PyYAML. Anything else raises ``_NotPlain`` and the document is built by PyYAML instead
    (tests/unit/test_policy_inputs_parallel.py compares the two)."""
    key = id(node)
    if key in made:
        return made[key]
    tag = node.tag
    if tag == _STR and node.id == "scalar":
        return node.value
    if key in busy:
        raise _NotPlain("recursive")
    if tag == _MAP and node.id == "mapping":
        busy.add(key)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.id != "scalar" or key_node.tag not in _PLAIN_SCALARS:
                raise _NotPlain("a merge key, a tagged or composite key")
            k = _construct_plain(loader, key_node, made, busy)
            if not isinstance(k, str):
                k = _json_key(k)
            mapping[k] = _construct_plain(loader, value_node, made, busy)
        busy.discard(key)
        made[key] = mapping
        return mapping
    if tag == _SEQ and node.id == "sequence":
        busy.add(key)
        items = [_construct_plain(loader, item, made, busy) for item in node.value]
        busy.discard(key)
        made[key] = items
        return items
    if tag in _PLAIN_SCALARS and node.id == "scalar":
        value = loader.yaml_constructors[tag](loader, node)
        made[key] = value
        return value
    raise _NotPlain(tag)


def _finish_yaml(path: str, docs: list[InputDoc], count: int) -> list[InputDoc]:
    if count <= 1 and len(docs) == 1 and isinstance(docs[0].document, list):
        # a single document whose top is a list: one document per element, as conftest (and as a JSON
        # file holding an array); a list inside a multi-document file stays one document, as there
        only = docs[0]
        items = enumerate(only.document)
        return [InputDoc(path, "yaml", item, only.line, i, anchors=only.anchors) for i, item in items]
    if count <= 1:  # a single-document file: no #index in labels
        docs = [InputDoc(d.file, d.kind, d.document, d.line, None, anchors=d.anchors) for d in docs]
    if not docs:  # an empty or comment-only file: conftest evaluates it with input = null
        docs.append(InputDoc(path, "yaml", None, 1))
    return docs


def _yaml_in_slices(path: str, text: str) -> tuple[list[InputDoc], int] | None:
    """A large multi-document file read in slices cut at document starts (``---`` at a line's start),
    one forked worker per CPU; None (read it whole) when it cannot be cut or a slice fails.

    libyaml ends every scalar and collection at a ``---`` line (inside a quoted scalar or a flow
    collection it is an error), so the documents of the slices are those of the whole file; a slice
    that fails or a crash of a worker means the whole file is read again in one piece, which gives
    the error exactly as before. Directives (``%YAML``, ``%TAG``) belong to the next document: a
    file with one is read whole."""
    from deployforge.policy.isolate import Crash, Limits, run_parallel

    bounds = slice_bounds(text)
    if bounds is None:
        return None
    from functools import partial

    results = run_parallel(
        [partial(_read_slice, path, text[a:b], text.count("\n", 0, a)) for a, b in bounds],
        Limits(timeout_s=300.0, memory_mb=4096),
    )
    docs: list[InputDoc] = []
    count = 0
    for result in results:
        if isinstance(result, Crash) or result[2] is not None:
            return None
        found, n, _problem = result
        docs.extend(replace(d, index=d.index + count) if d.index is not None else d for d in found)
        count += n
    return docs, count


def _read_slice(path: str, text: str, line_offset: int) -> tuple[list[InputDoc], int, InputProblem | None]:
    return _read_yaml(path, text, line_offset)


def slice_bounds(text: str) -> list[tuple[int, int]] | None:
    """Where to cut a multi-document YAML text for one reader per CPU: (start, end) of each slice,
    each but the first starting at a document start (``---`` at a line's start); None when it
    cannot be cut (one CPU, no fork, a directive, too few documents)."""
    from deployforge.policy.isolate import usable_cpus

    cpus = usable_cpus()
    if cpus < 2 or not hasattr(os, "fork") or re.search(r"^%", text, re.M):
        return None
    starts = [m.start() for m in _DOC_START.finditer(text)]
    cuts: list[int] = [0]
    parts = min(cpus, 8)
    for k in range(1, parts):
        target = len(text) * k // parts
        cut = next((s for s in starts if s >= target and s > cuts[-1]), None)
        if cut is None:
            break
        cuts.append(cut)
    if len(cuts) < 2:
        return None
    return list(zip(cuts, [*cuts[1:], len(text)], strict=True))


def predicted_documents(text: str, first: bool) -> int:
    """How many documents libyaml reads in a slice from ``slice_bounds``: one per document start,
    plus, in the first slice, one for what comes before its first start (when it holds more than
    comments). A guess the caller checks against what was read (``read_yaml_slice``)."""
    starts = [m.start() for m in _DOC_START.finditer(text)]
    head = text[: starts[0]] if starts else text
    implicit = first and any(ln.strip() and not ln.lstrip().startswith("#") for ln in head.splitlines())
    return len(starts) + (1 if implicit else 0)


def read_yaml_slice(
    path: str, text: str, line_offset: int, index_offset: int, checks: tuple[bool, bool, bool]
) -> tuple[list[InputDoc], int, list[InputProblem]] | None:
    """One slice's documents (indexes counted from ``index_offset``), how many documents it held,
    and the problems of those refused (``checks``: whether the file may hold a NUL, an integer
    outside 64 bits, a float with more than six decimals); None when the slice does not read on
    its own (the caller reads the whole file, which gives the error as it always has)."""
    found, count, problem = _read_yaml(path, text, line_offset)
    if problem is not None:
        return None
    docs = [
        InputDoc(d.file, d.kind, d.document, d.line, d.index + index_offset, d.resources, anchors=d.anchors)
        if d.index is not None
        else d
        for d in found
    ]
    problems: list[InputProblem] = []
    if any(checks):
        docs = _without_unreadable(docs, {path: checks}, problems)
    return docs, count, problems


def unreadable_checks(text: str) -> tuple[bool, bool, bool]:
    """Which of the engine's unreadable values a file's text may hold: a NUL, an integer outside
    64 bits, a float with more than six decimals (each then looked for in its documents)."""
    return _may_hold_nul(text), _may_hold_big_int(text), _may_hold_fine_number(text)


def _anchor_lines(node: Any, out: dict[str, int], depth: int, line_offset: int = 0) -> None:
    """The line of each key (and of a ``name:``'s value) of a mapping, its mappings' and theirs."""
    from yaml import MappingNode, ScalarNode

    if depth > 2 or not isinstance(node, MappingNode):
        return
    for key, value in node.value:
        if isinstance(key, ScalarNode):
            out.setdefault(str(key.value), key.start_mark.line + 1 + line_offset)
            if key.value == "name" and isinstance(value, ScalarNode):
                out.setdefault(str(value.value), value.start_mark.line + 1 + line_offset)
        if depth < 2 and isinstance(value, MappingNode):  # the only nodes a call would read
            _anchor_lines(value, out, depth + 1, line_offset)


# -- DeployForge's own documents ---------------------------------------------------


def config_docs(config: Any, plan: Any | None = None) -> list[InputDoc]:
    from deployforge.secrets.properties import display_properties

    """The config file (per-file: the YAML as written) and its resources (per-resource, with the
    target's region); with a plan, the plan document and each resource's ``action``/``changes``."""
    docs: list[InputDoc] = []
    path = config.path
    try:
        text = Path(path).read_text(encoding="utf-8")
        ydocs, _problem = yaml_docs(path, text)
    except OSError:
        ydocs = []
    raw = ydocs[0].document if ydocs else {}
    anchors = ydocs[0].anchors if ydocs else {}
    planned = {rp.name: rp for rp in plan.resources} if plan is not None else {}
    resources = []
    for name, res in config.resources.items():
        target = config.targets.get(res.target)
        # a vault:// value is seen as its reference, "(secret: vault://PATH#KEY)", never read for a policy
        attrs = display_properties(res.properties)
        attrs.setdefault("region", getattr(target, "region", None))
        attrs["tags"] = display_properties(res.tags) or dict(attrs.get("tags") or {})
        line = res.location.line if res.location else anchors.get(name, 1)
        document: dict[str, Any] = {
            "resource": attrs,
            "type": res.type,
            "name": name,
            "address": res.address,
            "target": res.target,
            "provider": getattr(target, "provider", None),
            "environment": config.environment,
            "file": path,
            "line": line,
            "kind": "deployforge",
        }
        rp = planned.get(name)
        if rp is not None:
            document["action"] = rp.action.value
            document["changes"] = [c.to_json() for c in rp.changes]
        resources.append(ResourceDoc(res.address, path, line, document))
    docs.append(
        InputDoc(
            path,
            "deployforge",
            {**raw, "environment": config.environment} if isinstance(raw, dict) else raw,
            1,
            None,
            tuple(resources),
            anchors=anchors,
        )
    )
    if plan is not None:
        plan_doc = plan.to_json()
        docs.append(
            InputDoc(
                path,  # findings on the plan point at the config's resource blocks
                "plan",
                {**plan_doc, "kind": "plan"},
                1,
                None,
                (),
                anchors={res.address: res.line for res in resources},
            )
        )
    return docs
