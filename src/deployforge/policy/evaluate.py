"""The policy use case: policies + inputs -> ``PolicyReport``.

Front doors (``deployforge validate --policy``, ``plan``/``run`` through ``gate.check_plan``)
call ``evaluate``; nothing here prints or exits.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployforge.policy.inputs import InputDoc, InputProblem, expand_paths, read_inputs
from deployforge.policy.model import Check, Finding, Outcome, PolicyReport, normalize_severity

DATA_SUFFIXES = (".json", ".yaml", ".yml")  # --data files
UNREADABLE_PREFIX = "the input holds "  # engine.UnreadableInput's messages: the document's fault, not the rule's


@dataclass(frozen=True)
class PolicyOptions:
    policies: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    data: tuple[str, ...] = ()
    fail_on_warn: bool = False
    rego_version: str = "v1"  # v0: conftest's --rego-version v0 (deny[msg] { ... } partial sets)
    timeout_s: float = 120.0  # the Rego engine's time limit (issue 12: never a hang)
    memory_mb: int = 2048  # the Rego engine's memory limit, per engine process


def engine_settings(flags: Mapping[str, Any], entries: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """rego_version / timeout_s / memory_mb: a flag wins, else the first ``policies:`` entry that sets it."""
    out: dict[str, Any] = {}
    keys = {"rego_version": "rego_version", "timeout_s": "timeout", "memory_mb": "memory_mb"}
    for key, config_key in keys.items():
        value = flags.get(key)
        if value is None:
            value = next((e[config_key] for e in entries if e.get(config_key) is not None), None)
        if value is not None:
            out[key] = value
    return out


def evaluate_paths(paths: Sequence[str], options: PolicyOptions) -> PolicyReport:
    """Read the input files (files, folders, globs) and evaluate the policies against them.

    One large multi-document YAML file is read by the engine's workers themselves, a slice each
    (``YamlSlices``): its documents never travel between processes, and the engine phase starts
    without waiting for the whole file to be read and sent back (measured: 0.1 s of 1.7 s for
    5,000 documents)."""
    files, problems = expand_paths(list(paths))
    slices = _yaml_slices(files, options) or _tf_slices(files, options)
    if slices is not None:
        return evaluate(slices, options, problems, inputs=files)
    docs, read_problems = read_inputs(files)
    return evaluate(docs, options, problems + read_problems, inputs=files)


@dataclass(frozen=True)
class YamlSlices:
    """A large multi-document YAML file, for the engine's workers to read a slice each."""

    path: str
    text: str
    bounds: tuple[tuple[int, int], ...]  # inputs.slice_bounds
    checks: tuple[bool, bool, bool]  # inputs.unreadable_checks

    @property
    def file(self) -> str:
        return self.path


def _yaml_slices(files: Sequence[str], options: PolicyOptions) -> YamlSlices | None:
    from deployforge.policy.inputs import PARALLEL_YAML_CHARS, slice_bounds, unreadable_checks

    if len(files) != 1 or not files[0].endswith((".yaml", ".yml")) or not options.policies:
        return None
    try:
        if os.path.getsize(files[0]) < PARALLEL_YAML_CHARS:
            return None
        text = Path(files[0]).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # read_inputs reports it
    bounds = slice_bounds(text) if len(text) >= PARALLEL_YAML_CHARS else None
    if bounds is None:
        return None
    return YamlSlices(files[0], text, tuple(bounds), unreadable_checks(text))


@dataclass(frozen=True)
class TfSlices:
    """A large ``.tf`` file, for the engine's workers to read a slice each (``policy/tfslices.py``)."""

    path: str
    text: str
    plan: Any  # tfslices.TfPlan


def _tf_slices(files: Sequence[str], options: PolicyOptions) -> TfSlices | None:
    """The slices of one large ``.tf`` file when every package the policies may select sees one
    resource at a time (a package over the whole file needs it read whole)."""
    from deployforge.policy.tfslices import PARALLEL_TF_CHARS, slices_for

    if len(files) != 1 or not files[0].endswith(".tf") or not options.policies:
        return None
    try:
        if os.path.getsize(files[0]) < PARALLEL_TF_CHARS or _may_select_a_file_package(options):
            return None
        text = Path(files[0]).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # read_inputs reports it
    tf_plan = slices_for(text)
    return TfSlices(files[0], text, tf_plan) if tf_plan is not None else None


_PACKAGE_LINE = re.compile(r"^package[ \t]+([A-Za-z_][\w.]*)", re.M)


def _may_select_a_file_package(options: PolicyOptions) -> bool:
    """Whether a package that sees a whole file could be selected (its package line, read without
    the engine: a guess on the safe side; the workers check what the engine selects)."""
    from deployforge.policy.engine import RESOURCE_PACKAGE, is_resource_package

    policy_files, _missing = expand_paths(list(options.policies), suffixes=(".rego",))
    patterns = list(options.namespaces) or ["main", RESOURCE_PACKAGE, RESOURCE_PACKAGE + ".*"]
    for path in policy_files:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return True
        for m in _PACKAGE_LINE.finditer(text):
            name = m.group(1)
            selected = options.all_namespaces or any(fnmatch.fnmatchcase(name, p) for p in patterns)
            if selected and not is_resource_package(name):
                return True
    return False


def evaluate(
    docs: Sequence[InputDoc] | YamlSlices | TfSlices,
    options: PolicyOptions,
    input_problems: Sequence[InputProblem] = (),
    inputs: Sequence[str] = (),
) -> PolicyReport:
    """Evaluate the policies over the documents.

    The cyclic garbage collector is paused meanwhile: parsed inputs (HCL parse trees) make the heap
    large, and full collections triggered by the many small findings cost more than the evaluation
    itself (measured: 1.4 s of pauses against 0.03 s of work for 5,000 resources). Nothing built
    here forms cycles that must be freed before the call returns.
    """
    import gc

    paused = gc.isenabled()
    gc.disable()
    try:
        return _evaluate(docs, options, input_problems, inputs)
    finally:
        if paused:
            gc.enable()


def _evaluate(
    docs: Sequence[InputDoc] | YamlSlices | TfSlices,
    options: PolicyOptions,
    input_problems: Sequence[InputProblem],
    inputs: Sequence[str],
) -> PolicyReport:
    started = time.perf_counter()
    findings: list[Finding] = [
        Finding("input", "high", Outcome.ERROR, p.message, p.file, p.line, remediation=p.hint) for p in input_problems
    ]
    policy_files, policy_missing = expand_paths(list(options.policies), suffixes=(".rego",))
    for p in policy_missing:
        findings.append(Finding("policy.load", "high", Outcome.ERROR, p.message, p.file, p.line, remediation=p.hint))
    data_docs, data_problems = _read_data(options.data)
    for p in data_problems:
        findings.append(Finding("policy.data", "high", Outcome.ERROR, p.message, p.file, p.line, remediation=p.hint))
    if not options.policies:
        findings.append(
            Finding(
                "policy.load",
                "high",
                Outcome.ERROR,
                "no policy given",
                remediation="pass --policy FILE_OR_FOLDER (or list policies: in the config)",
            )
        )
    from deployforge.policy.isolate import Crash, Limits

    limits = Limits(options.timeout_s, options.memory_mb)
    checks: list[Check] = []
    selected: list[str] = []
    printed = ""
    if options.policies:

        def phase(files: list[str]) -> Any:
            return _run_phase(files, data_docs, docs, options, limits)

        result = phase(policy_files)
        if isinstance(result, Crash):
            culprits = _culprits(policy_files, result, phase, limits)
            for path, crash in culprits:
                findings.append(
                    Finding(
                        "policy.engine",
                        "high",
                        Outcome.ERROR,
                        f"{crash.describe(limits)} evaluating {path}",
                        file=path,
                        line=0,
                        remediation=crash.hint(limits),
                    )
                )
            good = [f for f in policy_files if f not in {p for p, _c in culprits}]
            result = phase(good) if good and len(good) < len(policy_files) else None
            if isinstance(result, Crash):
                result = None
        if result is not None:
            engine_findings, checks, selected, printed, read_problems = result
            findings[len(input_problems) : len(input_problems)] = [
                Finding("input", "high", Outcome.ERROR, p.message, p.file, p.line, remediation=p.hint)
                for p in read_problems
            ]
            findings.extend(engine_findings)
    return PolicyReport(
        findings=tuple(findings),
        checks=tuple(checks),
        policies=tuple(policy_files),
        inputs=tuple(
            dict.fromkeys(
                inputs or ([docs.path] if isinstance(docs, YamlSlices | TfSlices) else [d.file for d in docs])
            )
        ),
        namespaces=tuple(selected),
        fail_on_warn=options.fail_on_warn,
        duration_ms=(time.perf_counter() - started) * 1000,
        prints=tuple(ln for ln in printed.splitlines() if ln.strip()),
        bundle_hash=bundle_hash(policy_files, expand_paths(list(options.data), suffixes=DATA_SUFFIXES)[0]),
    )


def bundle_hash(policy_files: Sequence[str], data_files: Sequence[str] = ()) -> str | None:
    """sha256 over the policy bundle: each policy and data file's path (as given, sorted) and the
    sha256 of its bytes, one line each; None without a policy file. The audit record keeps it
    (``policy_bundle_hash``), so a record names the exact policies a run was judged by."""
    if not policy_files:
        return None
    lines = []
    for kind, files in (("policy", policy_files), ("data", data_files)):
        for path in sorted(set(files)):
            try:
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError:
                digest = "unreadable"
            lines.append(f"{kind}\t{path}\t{digest}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _culprits(files: list[str], crash: Any, phase: Any, limits: Any) -> list[tuple[str, Any]]:
    """Which policy files crash (or exhaust) the engine: each tried alone, in its own process(es)."""
    from deployforge.policy.isolate import Crash

    if crash.kind in ("address-space", "error") or len(files) <= 1:
        return [(f, crash) for f in files[:1]] if len(files) == 1 else [("(policies)", crash)]
    out = []
    for f in files:
        alone = phase([f])
        if isinstance(alone, Crash):
            out.append((f, alone))
    return out or [("(policies)", crash)]


def _run_phase(
    policy_files: list[str],
    data_docs: list[Any],
    docs: Sequence[InputDoc] | YamlSlices | TfSlices,
    options: PolicyOptions,
    limits: Any,
) -> Any:
    """The engine phase in isolated children: (findings, checks, selected packages, print output,
    problems met reading ``YamlSlices``) or a ``Crash``.

    ``YamlSlices`` are read by the workers, a slice each (``_fused_phase``); when that does not go
    as planned (a slice that does not read on its own, a document count other than foreseen, a
    crash) the file is read here as any other and evaluated the usual way, which gives the error
    or the crash exactly as before.

    Many documents (``engine.PARALLEL_THRESHOLD`` or more) are split over one child per CPU, each
    loading the policies itself and evaluating and interpreting its part of the documents, so the
    findings come back in one hop and are read in parallel (measured for 5,000 documents: one
    engine process forking evaluation workers spent about 1 s reading their answers alone, and
    0.4 s passing 7 MB of findings twice). The parts are joined in document order: the report is
    the one a single process gives (tests/unit/test_policy_batch.py)."""
    from functools import partial

    from deployforge.policy.engine import PARALLEL_THRESHOLD
    from deployforge.policy.isolate import Crash, preload_engine, run_isolated, run_parallel, usable_cpus

    preload_engine()
    import deployforge.policy.batch
    import deployforge.policy.rewrite  # noqa: F401  (the workers' modules, loaded once, as rego-cpp)

    read_problems: list[InputProblem] = []
    if isinstance(docs, YamlSlices):
        fused = _fused_phase(policy_files, data_docs, docs, options, limits)
        if fused is not None:
            return fused
        docs, read_problems = read_inputs([docs.path])
    elif isinstance(docs, TfSlices):
        fused = _tf_phase(policy_files, data_docs, docs, options, limits)
        if fused is not None:
            return fused
        docs, read_problems = read_inputs([docs.path])
    items = sum(1 + len(d.resources) for d in docs)
    cpus = usable_cpus()
    parts = min(cpus, 8) if items >= PARALLEL_THRESHOLD and hasattr(os, "fork") else 1

    if parts <= 1:
        result = run_isolated(partial(_engine_phase, policy_files, data_docs, docs, options, limits), limits)
    else:
        fns: list[Callable[[], Any]] = [
            partial(_engine_phase, policy_files, data_docs, docs, options, limits, (i, parts)) for i in range(parts)
        ]
        results = run_parallel(fns, limits)
        result = next((r for r in results if isinstance(r, Crash)), None) or _join(results)
    if isinstance(result, Crash):
        return result
    return (*_rebuilt(result), read_problems)


def _rebuilt(result: Any) -> tuple[list[Finding], list[Check], list[str], str]:
    """The joined answer of the engine's workers as findings, checks, packages and print output."""
    pre, per_set, selected = result
    findings = list(pre)
    checks: list[Check] = []
    printed: list[str] = []
    for set_findings, set_checks, set_printed in per_set:
        findings.extend(Finding(*fields) for fields in set_findings)
        checks.extend(map(Check._make, set_checks))
        printed.append(set_printed)
    return findings, checks, selected, "".join(printed)


def _fused_phase(
    policy_files: list[str], data_docs: list[Any], slices: YamlSlices, options: PolicyOptions, limits: Any
) -> Any:
    """Each worker reads its slice of the file and evaluates its documents; None when the slices
    did not read as foreseen (the caller then reads the file whole)."""
    from functools import partial

    from deployforge.policy.inputs import predicted_documents
    from deployforge.policy.isolate import Crash, run_parallel

    text = slices.text
    counts = [predicted_documents(text[a:b], first=i == 0) for i, (a, b) in enumerate(slices.bounds)]
    offsets = [sum(counts[:i]) for i in range(len(counts))]
    fns: list[Callable[[], Any]] = [
        partial(
            _fused_part,
            policy_files,
            data_docs,
            slices.path,
            text[a:b],
            text.count("\n", 0, a),
            offsets[i],
            slices.checks,
            options,
            limits,
        )
        for i, (a, b) in enumerate(slices.bounds)
    ]
    results = run_parallel(fns, limits)
    if any(r is None or isinstance(r, Crash) or isinstance(r[2], Crash) for r in results):
        return None
    if [r[0] for r in results] != counts:  # another count than foreseen: the indexes would be wrong
        return None
    read_problems = [p for r in results for p in r[1]]
    return (*_rebuilt(_join([r[2] for r in results])), read_problems)


def _fused_part(
    policy_files: list[str],
    data_docs: list[Any],
    path: str,
    text: str,
    line_offset: int,
    index_offset: int,
    checks: tuple[bool, bool, bool],
    options: PolicyOptions,
    limits: Any,
) -> Any:
    """In a worker: (the slice's document count, its read problems, the engine phase's answer for
    its documents), or None when the slice does not read on its own."""
    from deployforge.policy.inputs import read_yaml_slice

    read = read_yaml_slice(path, text, line_offset, index_offset, checks)
    if read is None:
        return None
    docs, count, problems = read
    return count, problems, _engine_phase(policy_files, data_docs, docs, options, limits, nested=False)


def _tf_phase(
    policy_files: list[str], data_docs: list[Any], slices: TfSlices, options: PolicyOptions, limits: Any
) -> Any:
    """Each worker reads its slice of the ``.tf`` file and evaluates its resources; None when a slice
    did not read as planned or a package over the whole file was selected (the caller then reads
    the file whole)."""
    from functools import partial

    from deployforge.policy.isolate import Crash, run_parallel

    parts = len(slices.plan.bounds)
    fns: list[Callable[[], Any]] = [
        partial(_tf_part, policy_files, data_docs, slices, k, options, limits) for k in range(parts)
    ]
    results = run_parallel(fns, limits)
    if any(r is None or isinstance(r, Crash) for r in results):
        return None
    return (*_rebuilt(_join(results)), [])


def _tf_part(
    policy_files: list[str], data_docs: list[Any], slices: TfSlices, k: int, options: PolicyOptions, limits: Any
) -> Any:
    """In a worker: the engine phase's answer for part k of the file's resources, or None."""
    from deployforge.policy.tfslices import read_slice

    doc = read_slice(slices.path, slices.text, slices.plan, k)
    if doc is None:
        return None
    parts = len(slices.plan.bounds)
    return _engine_phase(policy_files, data_docs, [doc], options, limits, (k, parts), nested=False, sliced=True)


def _join(results: list[Any]) -> Any:
    """The parts' answers as one: the first part's load/compile findings, then each set's parts in order."""
    pre, first_sets, selected = results[0]
    per_set = []
    for k in range(len(first_sets)):
        findings: list[Finding] = []
        checks: list[Any] = []
        printed: list[str] = []
        for _pre, sets, _selected in results:
            findings.extend(sets[k][0])
            checks.extend(sets[k][1])
            printed.append(sets[k][2])
        per_set.append((findings, checks, "".join(printed)))
    return pre, per_set, selected


def _part(items: list[Any], part: tuple[int, int]) -> list[Any]:
    index, count = part
    size = -(-len(items) // count)
    return items[index * size : (index + 1) * size]


def _engine_phase(
    policy_files: list[str],
    data_docs: list[Any],
    docs: Sequence[InputDoc],
    options: PolicyOptions,
    limits: Any,
    part: tuple[int, int] = (0, 1),
    nested: bool = True,
    sliced: bool = False,
) -> Any:
    """Everything that touches rego-cpp; runs in an isolated child (see isolate.py), for ``part``
    (index, count) of the documents (``nested``: it may fork evaluation workers of its own, when it
    is the only engine process).

    Returns (load/compile findings, [(findings, checks, print output) per rule set], selected
    packages) or a ``Crash`` from a worker. ``sliced``: the documents hold this part's resources
    only (``_tf_part``): None when a package over the whole file is selected."""
    from deployforge.policy.engine import Engine, EngineCrash, evaluate_documents

    findings: list[Finding] = []
    engine = Engine.load(policy_files, data_docs, rego_version=options.rego_version)
    selected = engine.select(options.namespaces, options.all_namespaces)
    file_pkgs = [p for p in selected if not _per_resource(p)]
    res_pkgs = [p for p in selected if _per_resource(p)]
    file_items = [(doc, None) for doc in docs]
    res_items = [(doc, res) for doc in docs for res in doc.resources]
    conftest_data = any("data.conftest" in engine._texts.get(pf.path, "") for pf in engine.files)
    if sliced and file_pkgs:
        return None
    if part[1] > 1:  # data.conftest.file needs one bundle per file: the first part evaluates them all
        if not conftest_data or sliced:
            file_items, res_items = _part(file_items, part), _part(res_items, part)
        elif part[0] > 0:
            file_items, res_items = [], []
    compiled = _compile(engine, file_pkgs, False, findings)
    compiled_r = _compile(engine, res_pkgs, True, findings)
    for prob in engine.problems:
        findings.append(
            Finding(prob.rule_id, "high", Outcome.ERROR, prob.message, prob.file, prob.line, remediation=prob.hint)
        )
    selected = [p for p in selected if p in engine.packages()]
    usable = [pf for pf in engine.files if pf.path not in engine._broken]
    if not selected and usable:  # zero checks must never read as a pass (broken files are errors already)
        loaded = ", ".join(sorted(engine.packages())) or "none"
        wanted = ", ".join(options.namespaces) if options.namespaces else "main, deployforge.policies(.*)"
        findings.append(
            Finding(
                "policy.select",
                "high",
                Outcome.ERROR,
                f"no policy package with rules matches {wanted}: nothing was checked (packages loaded: {loaded})",
                remediation="pass --namespace PACKAGE (globs allowed) or --all-namespaces; by default DeployForge "
                "evaluates package main (conftest) and deployforge.policies (per resource)",
            )
        )
    per_set: list[tuple[list[Finding], list[Any], list[str]]] = []
    try:
        for compiled_set, items, packages, per_resource in (
            (compiled, file_items, file_pkgs, False),
            (compiled_r, res_items, res_pkgs, True),
        ):
            set_findings: list[Finding] = []
            checks: list[Any] = []
            printed: list[str] = []
            per_set.append((set_findings, checks, printed))
            if compiled_set is None or not items:
                continue
            groups: list[tuple[str | None, list[Any]]]
            if not conftest_data:
                groups = [(None, list(items))]
            else:  # data.conftest.file differs per file: one bundle per file
                by_file: dict[str, list[Any]] = {}
                for item in items:
                    by_file.setdefault((item[1] or item[0]).file, []).append(item)
                groups = [(f, group) for f, group in by_file.items()]
            for file, group in groups:
                current = compiled_set
                if file is not None:
                    engine.data.append({"conftest": {"file": {"name": file, "dir": os.path.dirname(file) or "."}}})
                    engine._interp = engine._fresh_interpreter()
                    engine.data.pop()
                    current = _compile(engine, packages, per_resource, set_findings)
                    if current is None:
                        continue
                documents = [(res.document if res is not None else doc.document) for doc, res in group]
                values, out = evaluate_documents(
                    current,
                    documents,
                    workers=1 if (part[1] > 1 and not conftest_data) or not nested else None,
                    limits=limits,
                )
                printed.append(out)
                for (doc, res), value in zip(group, values, strict=True):
                    document = res.document if res is not None else doc.document
                    set_findings.extend(_interpret(engine, current.slots, document, value, doc, res, checks))
    except EngineCrash as exc:
        return exc.crash
    # findings and checks travel to the parent as plain tuples (``_run_phase`` rebuilds them): pickling
    # thousands of dataclasses cost as much as a fifth of the evaluation
    return findings, [([_fields(x) for x in f], c, "".join(p)) for f, c, p in per_set], selected


_FINDING_FIELDS = tuple(f.name for f in dataclasses.fields(Finding))


def _fields(finding: Finding) -> tuple[Any, ...]:
    """A finding as the tuple of its fields, in order (``Finding(*fields)`` rebuilds it)."""
    return tuple(getattr(finding, name) for name in _FINDING_FIELDS)


def _compile(engine: Any, packages: list[str], per_resource: bool, findings: list[Finding]) -> Any:
    from deployforge.policy.engine import PolicyCompileError

    if not packages:
        return None
    try:
        return engine.compile(packages, per_resource=per_resource)
    except PolicyCompileError as exc:
        p = exc.problem
        findings.append(
            Finding(
                "policy.compile",
                "high",
                Outcome.ERROR,
                f"the policies of {', '.join(packages)} do not compile together: {p.message}",
                remediation=p.hint,
            )
        )
        return None


def _per_resource(package: str) -> bool:
    from deployforge.policy.engine import is_resource_package

    return is_resource_package(package)


def _read_data(paths: Sequence[str]) -> tuple[list[Any], list[InputProblem]]:
    """--data files (JSON/YAML), merged into ``data`` like conftest does."""
    files, problems = expand_paths(list(paths), suffixes=DATA_SUFFIXES)
    docs, read_problems = read_inputs(files)
    out = []
    for d in docs:
        if isinstance(d.document, dict):
            out.append(d.document)
        else:
            problems.append(InputProblem(d.file, d.line, "a data file must hold an object at its top level"))
    return out, problems + read_problems


def _rule_kind(rule: str) -> str:
    return rule.split("_", 1)[0]


def _interpret(
    engine: Any,
    slots: dict[str, tuple[str, str]],
    document: Any,
    value: dict[str, Any] | None,
    doc: InputDoc,
    res: Any | None,
    checks: list[tuple[str, str, str | None, str | None]],
) -> list[Finding]:
    """The findings of one document's answer; its checks are appended to ``checks`` as plain
    tuples (``Check``'s fields: cheap to send from a worker)."""
    out: list[Finding] = []
    where_file = res.file if res is not None else doc.file
    where_line = res.line if res is not None else doc.line
    address = res.address if res is not None else None
    target = f"{address} ({where_file})" if address else doc.label
    values: dict[tuple[str, str], Any] = {}
    errors: dict[tuple[str, str], str] = {}
    if value is None:  # the bundle raised: find which rule, one at a time
        for _slot, key in slots.items():
            ok, v = engine.query_rule(document, *key)
            if ok:
                values[key] = v
            elif str(v).startswith(UNREADABLE_PREFIX):  # the document, not the rule (engine.UnreadableInput)
                errors[key] = str(v)
            else:
                errors[key] = f"the Rego engine raised an error evaluating this rule: {v}"
    else:
        for slot, key in slots.items():
            values[key] = value.get(slot)

    # exceptions: conftest's `exception contains rules` with rule-name suffixes
    excepted: dict[str, set[str]] = {}
    for (package, rule), v in values.items():
        if rule == "exception" and v:
            names: set[str] = set()
            for item in v if isinstance(v, list) else [v]:
                if isinstance(item, list):
                    names.update(str(x) for x in item)
                elif isinstance(item, str):
                    names.add(item)
            excepted.setdefault(package, set()).update(names)

    for key in list(values) + [k for k in errors if k not in values]:
        package, rule = key
        if rule == "exception":
            continue
        base_id = sys.intern(f"{package}.{rule}")  # one string for every document: pickled once
        if key in errors:
            file, line = engine.rule_file(package, rule)
            out.append(
                Finding(
                    base_id,
                    "high",
                    Outcome.ERROR,
                    f"{errors[key]} (input {target})"
                    + (
                        ""
                        if errors[key].startswith(UNREADABLE_PREFIX)
                        else "; strict builtin errors are on, so a builtin given a bad "
                        "argument or missing from the engine stops the rule instead of passing it"
                    ),
                    file=file or where_file,
                    line=line,
                    resource=address,
                    namespace=package,
                    rule=rule,
                    subject=target,
                )
            )
            checks.append((base_id, target, where_file, address))
            continue
        v = values[key]
        if v == [] and rule != "allow":  # the common case: a set rule with nothing found
            checks.append((base_id, target, where_file, address))
            continue
        if rule == "allow":
            checks.append((base_id, target, where_file, address))
            if v is not True:
                label = address or doc.label
                from deployforge.policy.explain import why_false  # the condition that failed (explain.py)

                why = why_false(engine, package, rule, document)
                out.append(
                    Finding(
                        base_id,
                        "high",
                        Outcome.FAILURE,
                        f"{label} is not allowed by policy {package} (allow is {json.dumps(v)})"
                        + (f": {why}" if why else ""),
                        where_file,
                        where_line,
                        address,
                        namespace=package,
                        rule=rule,
                        subject=target,
                    )
                )
            continue
        kind = _rule_kind(rule)
        outcome = Outcome.WARNING if kind == "warn" else Outcome.FAILURE
        suffix = rule.split("_", 1)[1] if "_" in rule else ""
        is_excepted = suffix in excepted.get(package, set()) or (not suffix and "" in excepted.get(package, set()))
        if isinstance(v, dict):
            if v:
                file, line = engine.rule_file(package, rule)
                out.append(
                    Finding(
                        base_id,
                        "high",
                        Outcome.ERROR,
                        f"rule '{rule}' yields an object, not a set of messages (written as '{rule}[msg] {{...}}'?)",
                        file,
                        line,
                        namespace=package,
                        rule=rule,
                        remediation=f"write '{rule} contains msg if {{ ... }}' (Rego v1, add 'import rego.v1')",
                        subject=target,
                    )
                )
            checks.append((base_id, target, where_file, address))
            continue
        items: list[Any]
        if v is None or v is False:
            items = []
        elif isinstance(v, list):
            items = v
        else:
            items = [v]
        ids_here: set[str] = set()
        for item in items:
            meta: dict[str, Any] = {}
            if isinstance(item, dict):
                meta = {k: val for k, val in item.items() if k != "msg"}
                message = str(item.get("msg", "")) or json.dumps(item, sort_keys=True)
            elif item is True:
                message = f"{rule} is true"
            else:
                message = str(item)
            rule_id = str(meta.get("rule_id") or meta.get("id") or base_id)
            finding_outcome = Outcome.EXCEPTION if is_excepted else outcome
            res_addr = address or _meta_address(meta)
            line = where_line
            if res is None:
                line, found = doc.line_for(message, res_addr or "")
                res_addr = res_addr or found
                if res_addr and not found:
                    line, _ = doc.line_for(res_addr)
            ids_here.add(rule_id)
            out.append(
                Finding(
                    rule_id,
                    normalize_severity(meta.get("severity"), outcome),
                    finding_outcome,
                    message,
                    where_file,
                    line,
                    res_addr,
                    remediation=_opt(meta.get("remediation") or meta.get("fix")),
                    namespace=package,
                    rule=rule,
                    metadata=meta,
                    subject=target,
                )
            )
        for rule_id in ids_here or {base_id}:
            checks.append((rule_id, target, where_file, address))
    return out


def _meta_address(meta: dict[str, Any]) -> str | None:
    for key in ("resource", "address"):
        v = meta.get(key)
        if isinstance(v, str) and v:
            return v
    return None


def _opt(v: Any) -> str | None:
    return str(v) if v else None


def read_data_file(path: str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
