"""rego-cpp's input built in C (``deployforge.policy._rego_input``) is the input the ctypes path builds.

``engine.make_input`` uses the C builder when it is built (``NATIVE_INPUT``) and the ctypes walk
otherwise (``_make_input_ctypes``), which also takes every value the C builder hands back (other
types, ints outside int64, lone surrogates, a failure code, nesting beyond ``MAX_DEPTH``). Each test
runs both paths and compares what rego-cpp reads, through the engine's base64 encoder (rego-cpp
does not escape the strings it prints).
"""

from __future__ import annotations

import collections
import ctypes
import enum
import gc
import json
import shutil
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import regopy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from regopy import rego_shared

from deployforge.policy import engine
from deployforge.policy.evaluate import PolicyOptions, evaluate_paths
from deployforge.policy.inputs import read_inputs

ROOT = Path(__file__).resolve().parents[2]


def _can_compile() -> bool:
    include = Path(sysconfig.get_paths()["include"]) / "Python.h"
    return include.exists() and any(shutil.which(cc) for cc in ("cc", "gcc", "clang"))


def test_the_extension_is_built_where_a_compiler_is() -> None:
    """``pip install -e`` / ``scripts/bootstrap.sh`` builds it wherever a C compiler and Python's
    headers exist (the extension is optional: without them the install still works)."""
    if _can_compile():
        assert engine.native_builder() is not None, "the C input builder was not built (see setup.py)"
        from deployforge.policy import _rego_input  # type: ignore[attr-defined]

        assert _rego_input.MAX_DEPTH == 2048
    else:  # no compiler: the ctypes path alone, still a working engine
        assert engine.native_builder() is None
        assert _read(engine.make_input({"a": [1]})) == {"a": [1]}


native_only = pytest.mark.skipif(engine.native_builder() is None, reason="the C input builder is not built")


class Tag(str):
    pass


class Level(enum.IntEnum):
    HIGH = 3


DEEP_OK: Any = []
for _ in range(2048 - 2):  # {"v": ...} at the top: 2,048 containers deep, the C builder's limit
    DEEP_OK = [DEEP_OK]

FLOATS = [0.0, -0.0, 1.5, -2.25, 1e308, -1e308, 123456.789, 0.000001]  # rego-cpp reads 0.0 as 0
# floats rego-cpp's builder rounds (it reads a double as its "%f" text): both paths hand them back
ROUNDED = [5e-324, 1e-300, 1e-7, 89.22541915, -0.0000005]

# Values the C builder takes exactly: rego-cpp must read each as it is (strings and keys included).
TAKEN: list[Any] = [
    {"acl": '"private"', '"spec"': True, "m": {'"k"': '""', '"': '"', "": ""}},
    ['""x""', 'a"b', '"', "", "\\", "\\n", "\n\t\r", "'", "`x`", '"\'"'],
    {"é ✓": "日本語", "emoji": "🎉🚀 👩‍💻", "rtl": "\u202eabc", "nbsp": "a\u00a0b", "bom": "\ufeff"},
    {"": {"": {"": []}}, "e": [], "o": {}, "n": [[], [[]], [{}], {"x": [[[1]]]}]},
    [0, 1, -1, 2**31, -(2**31), 2**53 + 1, 2**63 - 1, -(2**63), 10**18],
    FLOATS,
    [True, False, None, 1, 1.0, "1", "true", "null"],
    {"t": True, "f": False, "z": None, "i": 7, "x": 7.5},
    "just a string",
    '"quoted at the top"',
    42,
    -0.0,
    None,
    True,
    [],
    {},
    {"d": [{"i": i, "s": f"r{i}", "tags": {"k": f'"{i}"'}} for i in range(200)]},
]


def _cases() -> list[Any]:
    """TAKEN plus the benchmark's documents and every input the conformance cases read."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_policy
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return [*TAKEN, *(bench_policy.attrs(i) for i in range(0, 400, 37))]


def _encoder() -> Any:
    interp = regopy.Interpreter()
    interp.add_module(engine.ENCODER_PACKAGE, engine.ENCODER_MODULE)
    interp.add_module("read", f"package read\nvalue := data.{engine.ENCODER_PACKAGE}.enc(input)\n")
    return interp


_INTERP = None


def _read(made: Any) -> Any:
    """What rego-cpp reads from a built input, exactly (strings base64-encoded on the way back)."""
    global _INTERP
    if _INTERP is None:
        _INTERP = _encoder()
    _INTERP.set_input(made)
    ok, text = engine.raw_query(_INTERP, "x := data.read.value")
    assert ok, text
    try:
        parsed = json.loads(text)
        return engine.decode_value((parsed[0] if isinstance(parsed, list) else parsed)["bindings"]["x"])
    except engine.UnreadableValue:  # e.g. a set or an array as a key: compared as rego-cpp prints it
        ok, text = engine.raw_query(_INTERP, "x := input")
        return ("printed", ok, text)


@pytest.fixture
def ctypes_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "NATIVE_INPUT", False)


def _both(value: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """(what rego-cpp reads) built in C, and built through ctypes."""
    with monkeypatch.context() as m:
        m.setattr(engine, "NATIVE_INPUT", True)
        native = _read(engine.make_input(value))
    with monkeypatch.context() as m:
        m.setattr(engine, "NATIVE_INPUT", False)
        through_ctypes = _read(engine.make_input(value))
    return native, through_ctypes


def _same(a: Any, b: Any) -> bool:
    """Equal, with float signs and int/float kinds compared too (-0.0 is not 0, 1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return repr(a) == repr(b)
    return bool(a == b)


@native_only
@pytest.mark.parametrize("value", _cases(), ids=lambda v: repr(v)[:40])
def test_the_c_builder_takes_the_value_and_rego_reads_what_the_ctypes_path_gives_it(
    value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = engine.native_builder()
    handle = build(value)
    assert handle is not None  # taken in C, not handed back
    rego_shared.rego_free_input(handle)
    native, through_ctypes = _both(value, monkeypatch)
    assert _same(native, through_ctypes)
    if value is not FLOATS:
        assert native == value  # and it is the value itself: every string exactly (faithful)


@native_only
def test_conformance_inputs_read_the_same_on_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conformance.cases import CASES

    compared = 0
    for case in CASES:
        folder = tmp_path / case.id
        for name, text in case.files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
        for name in case.inputs:
            if not (folder / name).is_file():
                continue
            docs, _problems = read_inputs([str(folder / name)])
            for doc in docs:
                native, through_ctypes = _both(doc.document, monkeypatch)
                assert _same(native, through_ctypes), (case.id, name)
                compared += 1
    assert compared >= 20


class _Leaf:
    pass


# Values the C builder hands back: make_input then takes the ctypes path, whatever it does with them.
HANDED_BACK: list[Any] = [
    {"a": Tag('"x"')},  # a str subclass
    collections.OrderedDict(a=1),  # a dict subclass
    {"lvl": Level.HIGH},  # an int subclass (IntEnum)
    {"t": (1, "2", '"3"')},  # a tuple: regopy's own builder, as an array
    {"s": frozenset()},  # regopy's own builder: a set
    {(1, 2): "tuple key"},
    [1, 2, [3, {"deep": [Tag("late")]}]],  # the odd type found late: what was built is freed
]
OUTSIDE_INT64: list[Any] = [{"big": 2**63}, {"small": -(2**63) - 1}, {"huge": [10**30]}, {"h": (2**64,)}]


@native_only
@pytest.mark.parametrize("value", HANDED_BACK, ids=lambda v: repr(v)[:40])
def test_what_the_c_builder_does_not_take_goes_the_ctypes_way(value: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert engine.native_builder()(value) is None
    native, through_ctypes = _both(value, monkeypatch)
    assert _same(native, through_ctypes)


@pytest.mark.parametrize("value", ROUNDED, ids=repr)
def test_a_float_the_builder_would_round_is_handed_back_on_both_paths(
    value: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rego-cpp would read it as its six-decimal text (1e-7 as 0): engine.set_input gives such a
    document as JSON text instead (tests/unit/test_policy_faithful_input.py)."""
    assert not engine._kept_by_builder(value) and engine._kept_by_builder(float(f"{value:f}"))
    if engine.native_builder() is not None:
        assert engine.native_builder()({"v": [value]}) is None
    for flag in (True, False):
        monkeypatch.setattr(engine, "NATIVE_INPUT", flag)
        with pytest.raises(engine.RoundedFloat):
            engine.make_input({"v": [value]})


@pytest.mark.parametrize("value", OUTSIDE_INT64, ids=lambda v: repr(v)[:40])
def test_an_integer_outside_int64_is_refused_on_both_paths(value: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """ctypes (and regopy's own builder) would wrap it (2**64 read as 0: a silent pass of ``> 100``):
    the C builder hands it back and the ctypes path refuses it (``engine.UnreadableInput``)."""
    if engine.native_builder() is not None:
        assert engine.native_builder()(value) is None
    for flag in (True, False):
        monkeypatch.setattr(engine, "NATIVE_INPUT", flag)
        with pytest.raises(engine.UnreadableInput, match="64-bit"):
            engine.make_input(value)


def test_keys_that_are_not_strings_are_read_as_today(monkeypatch: pytest.MonkeyPatch) -> None:
    """An int, float, bool or None key is the same scalar call as a value (a later equal key wins)."""
    value = {1: "one", 2.5: "float", None: "none", False: "no", "1": "string one"}
    native, through_ctypes = _both(value, monkeypatch)
    assert _same(native, through_ctypes)
    if engine.native_builder() is not None:
        handle = engine.native_builder()({1: "one", False: "f", None: "n", 2.5: "x"})
        assert handle is not None
        rego_shared.rego_free_input(handle)


def test_a_nul_ends_a_string_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """rego-cpp reads a string up to a NUL whichever way it is handed over (``policy/inputs.py``
    refuses such documents before they get here: ``test_policy_faithful_input.py``)."""
    value = {"a": "private\x00-but-public", "k\x00ey": ["\x00", "é\x00x"]}
    native, through_ctypes = _both(value, monkeypatch)
    assert _same(native, through_ctypes)
    assert native == {"a": "private", "k": ["", "é"]}


def test_a_lone_surrogate_raises_as_it_always_has(monkeypatch: pytest.MonkeyPatch) -> None:
    """``str.encode`` refuses it on the ctypes path (the engine phase reports the error); the C
    builder hands it back, so the error is the same, never a crash."""
    for flag in (True, False):
        monkeypatch.setattr(engine, "NATIVE_INPUT", flag)
        with pytest.raises(UnicodeEncodeError):
            engine.make_input({"ok": "x", "bad": ["\ud800"]})
        with pytest.raises(UnicodeEncodeError):
            engine.make_input({"\udfff": 1})
    if engine.native_builder() is not None:
        assert engine.native_builder()("\ud800") is None


@native_only
def test_nesting_up_to_the_limit_is_built_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    """2,048 containers deep (beyond what the YAML, JSON and HCL readers produce): rego-cpp reads it;
    the ctypes path recurses in Python and gives up near 1,000 (RecursionError, as before)."""
    monkeypatch.setattr(engine, "NATIVE_INPUT", True)
    interp = regopy.Interpreter()
    interp.add_module("m", "package m\nimport rego.v1\nn := count([v | walk(input, [_, v])])\n")
    interp.set_input(engine.make_input({"v": DEEP_OK}))
    assert engine.raw_query(interp, "x := data.m.n") == (True, '{"expressions":[true], "bindings":{"x":2048}}')
    ok, text = engine.raw_query(interp, "x := input.v" + "[0]" * 2046)
    assert ok and text == '{"expressions":[true], "bindings":{"x":[]}}', text
    monkeypatch.setattr(engine, "NATIVE_INPUT", False)
    with pytest.raises(RecursionError):
        engine.make_input({"v": DEEP_OK})


@native_only
def test_nesting_beyond_the_limit_is_handed_back_and_a_very_deep_document_never_crashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    build = engine.native_builder()
    too_deep: Any = {"v": [DEEP_OK]}  # 2,049 containers
    assert build(too_deep) is None
    abyss: Any = []
    for _ in range(200_000):  # a pull request's document: no C recursion, no stack overflow
        abyss = {"k": abyss} if len(abyss) else [abyss]
    assert build(abyss) is None
    for flag in (True, False):  # the ctypes path recurses in Python: RecursionError, as today
        monkeypatch.setattr(engine, "NATIVE_INPUT", flag)
        with pytest.raises(RecursionError):
            engine.make_input(abyss)
    # deallocating 200,000 nested containers recurses in CPython's own trashcan: it copes
    del abyss


@native_only
def test_the_c_builder_holds_no_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    build = engine.native_builder()
    key, text, inner = "k" * 30, '"quoted"' * 3, ["x" * 40]
    value = {key: text, "l": inner, "n": 10**30}  # the big int: handed back after the rest was built
    before = [sys.getrefcount(o) for o in (value, key, text, inner)]
    for _ in range(1000):
        assert build(value) is None
        handle = build({key: text, "l": inner})
        rego_shared.rego_free_input(handle)
    assert [sys.getrefcount(o) for o in (value, key, text, inner)] == before


@pytest.fixture
def counting_builder() -> Iterator[dict[str, int]]:
    """The C builder configured with rego-cpp's own functions wrapped in ctypes callbacks that count
    the inputs made and freed, and fail regoInputString for the string "FAIL" (a failure code)."""
    from deployforge.policy import _rego_input  # type: ignore[attr-defined]

    lib = rego_shared.rego
    counts = {"new": 0, "free": 0}
    proto = ctypes.CFUNCTYPE
    new_t = proto(ctypes.c_void_p)
    free_t = proto(None, ctypes.c_void_p)
    string_t = proto(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_char_p)

    def new() -> int:
        counts["new"] += 1
        return int(lib.regoNewInput())

    def free(handle: int) -> None:
        counts["free"] += 1
        lib.regoFreeInput(handle)

    def string(handle: int, text: bytes) -> int:
        return 1 if text == b"FAIL" else int(lib.regoInputString(handle, text))

    callbacks = [new_t(new), free_t(free), string_t(string)]
    addresses = [ctypes.cast(c, ctypes.c_void_p).value for c in callbacks]
    rest = [ctypes.cast(getattr(lib, n), ctypes.c_void_p).value for n in engine._NATIVE_FUNCTIONS[3:]]
    _rego_input.configure(*addresses, *rest)
    try:
        yield counts
    finally:
        engine._native_build = None  # configured again with rego-cpp's own functions
        assert engine.native_builder() is not None
        del callbacks


@native_only
def test_a_failure_code_frees_the_half_built_input_and_goes_the_ctypes_way(
    counting_builder: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from deployforge.policy import _rego_input  # type: ignore[attr-defined]

    value = {"a": ["x" * 100 for _ in range(50)], "b": {"c": "FAIL"}, "d": 1}
    assert _rego_input.build(value) is None
    assert counting_builder == {"new": 1, "free": 1}  # the half-built input freed here
    handle = _rego_input.build({"a": "fine"})
    assert handle is not None and counting_builder == {"new": 2, "free": 1}  # the caller owns it
    rego_shared.rego_free_input(handle)
    # through make_input: the ctypes path builds it (its own calls, the real regoInputString)
    monkeypatch.setattr(engine, "NATIVE_INPUT", True)
    monkeypatch.setattr(engine, "_native_build", _rego_input.build)
    assert _read(engine.make_input(value)) == value
    assert counting_builder == {"new": 3, "free": 2}


@native_only
def test_a_built_input_is_freed_with_its_regopy_input(monkeypatch: pytest.MonkeyPatch) -> None:
    freed: list[int] = []
    original = rego_shared.rego_free_input
    monkeypatch.setattr("regopy.interpreter.rego_free_input", lambda h: (freed.append(h), original(h)))
    made = engine.make_input({"a": 1})
    handle = made._impl
    del made
    gc.collect()
    assert freed == [handle]


BENCH_KINDS = ("yaml", "tf")


@pytest.mark.parametrize("kind", BENCH_KINDS)
def test_the_benchmarks_findings_are_the_same_on_both_paths(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_policy
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    per_resource = kind == "tf"
    package = "deployforge.bench" if per_resource else "main"
    policy = tmp_path / "bench.rego"
    prefix, address = ("input.resource", "input.address") if per_resource else ("input.spec", "input.name")
    policy.write_text(bench_policy.make_policy(package, prefix, address))
    path = tmp_path / ("bench.yaml" if kind == "yaml" else "main.tf")
    path.write_text(bench_policy.make_yaml(450) if kind == "yaml" else bench_policy.make_tf(450))  # forked parts
    answers = []
    for flag in (True, False):
        monkeypatch.setattr(engine, "NATIVE_INPUT", flag)
        report = evaluate_paths([str(path)], PolicyOptions(policies=(str(policy),)))
        answers.append(sorted((f.outcome.value, f.file, f.line, f.rule_id, f.message) for f in report.findings))
    assert answers[0] == answers[1]
    assert len([a for a in answers[0] if a[0] == "failure"]) > 100


_scalars = (
    st.text(alphabet=st.sampled_from('ab"\\\n é🎉\u00a0\x7f'), max_size=6)
    | st.text(max_size=4)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False).map(lambda f: float(f"{f:f}"))  # what the builder keeps
    | st.booleans()
    | st.none()
)
_keys = st.text(alphabet=st.sampled_from('k"\\ é'), max_size=4) | st.integers(-3, 3)
_documents_strategy = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4), max_leaves=25
)


@native_only
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_documents_strategy)
def test_random_documents_read_the_same_on_both_paths(value: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    native, through_ctypes = _both(value, monkeypatch)
    assert _same(native, through_ctypes)
