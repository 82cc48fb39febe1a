"""Issue 18 point 6: reading YAML faster gives exactly what PyYAML gives.

``inputs.yaml_docs`` cuts a file of ``PARALLEL_YAML_CHARS`` or more at document starts and reads
the slices in forked workers; documents, their lines, indexes and anchors, and errors (line and
message) must be those of reading the file whole. Plain documents are built by
``_construct_plain`` instead of PyYAML's generic constructor: the same values, PyYAML for the rest.
"""

from __future__ import annotations

import pytest

from deployforge.policy import inputs


def _pieces(n: int) -> str:
    parts = []
    for i in range(n):
        kind = i % 7
        if kind == 0:
            parts.append(f"---\nname: doc{i}\nspec:\n  size: {i}\n  tags: {{team: t{i}, env: dev}}\n")
        elif kind == 1:
            parts.append("---\n# only a comment\n")  # an empty document: counted, not evaluated
        elif kind == 2:
            parts.append(f"--- |\n  text {i}\n  --- not a document start (indented)\n")
        elif kind == 3:
            parts.append(f"---\nbase: &b {{x: {i}}}\nuse: *b\nlist:\n  - a\n  - 'quoted --- {i}'\n")
        elif kind == 4:
            tags = f"      Name: !Ref N{i}\n      Arn: !GetAtt B{i}.Arn\n"
            parts.append(f"---\nResources:\n  B{i}:\n    Properties:\n{tags}")
        elif kind == 5:
            parts.append(f"--- {{inline: {i}, flow: [1, 2]}}\n...\n")
        else:
            parts.append(f"---\nwhen: 2024-01-0{1 + i % 9}\nn: 0x{i:x}\nf: {i}.5\nb: yes\nempty:\nnull_: ~\n")
    return "".join(parts)


SLICED_FROM = 64 * 1024  # the tests lower the threshold: the same slicing on files 8 times smaller


@pytest.fixture(autouse=True)
def _small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputs, "PARALLEL_YAML_CHARS", SLICED_FROM)


def _whole(monkeypatch: pytest.MonkeyPatch, text: str) -> tuple[list[inputs.InputDoc], object]:
    monkeypatch.setattr(inputs, "PARALLEL_YAML_CHARS", 10**12)
    try:
        return inputs.yaml_docs("big.yaml", text)
    finally:
        monkeypatch.setattr(inputs, "PARALLEL_YAML_CHARS", SLICED_FROM)


def _compare(a: list[inputs.InputDoc], b: list[inputs.InputDoc]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x.document, x.line, x.index, x.anchors, x.label) == (y.document, y.line, y.index, y.anchors, y.label)


def test_sliced_reading_equals_whole_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "# leading comment\n" + _pieces(3000)
    assert len(text) > 2 * inputs.PARALLEL_YAML_CHARS
    assert inputs._yaml_in_slices("big.yaml", text) is not None  # it is read in slices here
    sliced, problem = inputs.yaml_docs("big.yaml", text)
    assert problem is None
    whole, whole_problem = _whole(monkeypatch, text)
    assert whole_problem is None
    _compare(sliced, whole)
    assert sliced[-1].line > 13000 and sliced[-1].index is not None and sliced[-1].index > 2500


def test_an_error_in_a_later_slice_is_the_error_of_the_whole_file(monkeypatch: pytest.MonkeyPatch) -> None:
    good = _pieces(3000)
    cut = good.index("\n---", len(good) * 3 // 4) + 1
    for bad in ('---\nkey: "unterminated\n', "---\nlist: [1, 2\n", "---\na: b\n c: d\n  - x\n"):
        text = good[:cut] + bad + good[cut:]
        sliced, problem = inputs.yaml_docs("big.yaml", text)
        whole, whole_problem = _whole(monkeypatch, text)
        assert problem == whole_problem and problem is not None, bad
        _compare(sliced, whole)


def test_a_file_with_a_directive_is_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "%YAML 1.1\n" + _pieces(3000)
    assert inputs._yaml_in_slices("big.yaml", text) is None
    docs, problem = inputs.yaml_docs("big.yaml", text)
    assert problem is None and len(docs) > 2200


EDGE_DOCUMENTS = [
    "a: 1\nb: [1, 2.5, true, null, ~, 'x', 0x1f, 0o17, 1_000, .inf, -.nan]\nc: {d: e}\n",
    "when: 2024-01-02\nat: 2024-01-02T03:04:05Z\nyes_: yes\nno_: Off\nempty:\n",
    "base: &b {x: 1, y: [1, 2]}\nuse: *b\nsame: *b\n",
    "base: &b {x: 1}\nmerged:\n  <<: *b\n  y: 2\n",  # a merge key: PyYAML's constructor
    "a: !Ref Thing\nb: !Sub '${A}-x'\nc: !GetAtt [A, Arn]\n",  # tags: PyYAML's constructor
    "s: !!set {a, b}\no: !!omap [{a: 1}, {b: 2}]\nbin: !!binary aGVsbG8=\nstr: !!str 12\n",
    "? [a, b]\n: complex key\n",
    "&r [1, *r]\n",  # recursive: PyYAML's constructor
    "k: 1\nk: 2\n1: int key\n1.5: float key\nfalse: bool key\n",  # keys as JSON strings (conftest's)
    "deep: " + "[" * 400 + "]" * 400 + "\n",
    "text: |\n  line one\n  line two\nfolded: >\n  a\n  b\n",
]


@pytest.mark.parametrize("text", EDGE_DOCUMENTS)
def test_plain_construction_gives_what_pyyaml_gives(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, _count, problem = inputs._read_yaml("e.yaml", text)

    def refuse(*_args: object) -> object:
        raise inputs._NotPlain("test")

    monkeypatch.setattr(inputs, "_construct_plain", refuse)
    slow, _count2, problem2 = inputs._read_yaml("e.yaml", text)
    assert problem == problem2
    assert len(fast) == len(slow)
    if not fast:  # an error (an unhashable key): the same one
        assert problem is not None
        return
    a, b = fast[0].document, slow[0].document
    assert repr(a) == repr(b) and type(a) is type(b)  # repr: nan == nan, types of keys and values
    if "use: *b" in text:  # an alias is the same object, as in PyYAML
        assert a["use"] is a["same"]
