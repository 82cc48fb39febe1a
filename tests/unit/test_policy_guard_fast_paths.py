"""Rule indexing's compiled tests (``batch._compiled``) answer exactly as ``batch.may_match``.

The compiled forms are quick paths (a lookup unrolled per path length, small integers compared
without ``_close``, each operator's checks bound once); a guard that said "cannot match" where
``may_match`` says "may" would drop a document the engine should judge: a silent pass.
"""

from __future__ import annotations

import itertools
from typing import Any

from deployforge.policy.batch import Guard, _compiled, may_match
from deployforge.policy.batch import Test as RuleTest

PATHS = [(), ("a",), ("a", "b"), ("a", "b", "c")]
OPS = ["==", "!=", "<", "<=", ">", ">=", "startswith", "endswith", "contains", "in", "not"]
LITERALS: list[Any] = [
    "x", "", "gold", "0.0.0.0/0", 0, 1, -1, 2, 22, 999_999_999, 1_000_000_000, -1_000_000_000, 10**30,
    1.5, 0.0, -0.0, 1e-12, 1e400, float("nan"), True, False, None,
]  # fmt: skip
VALUES: list[Any] = [
    *LITERALS, 3, 22.0, 21.999999999999, 1_000_000_001, 999_999_999.0000001, -(10**400), 10**400,
    "xy", "ax", "é", "gold\u00e9", [], ["x"], ["0.0.0.0/0", 1], {}, {"x": 1}, {"k": "x"}, 7.25,
]  # fmt: skip


def _documents() -> list[Any]:
    docs: list[Any] = [None, "a", 1, [], {}, {"a": None}, {"a": []}, {"a": {"b": None}}, {"b": {"a": 1}}]
    for v in VALUES:
        docs += [v, {"a": v}, {"a": {"b": v}}, {"a": {"b": {"c": v}}}, {"a": {"c": v}}]
    return docs


def test_every_compiled_test_answers_as_may_match() -> None:
    docs = _documents()
    checked = 0
    for path, op, literal, count in itertools.product(PATHS, OPS, LITERALS, (False, True)):
        if op in ("startswith", "endswith", "contains") and type(literal) is not str:
            continue  # the parser makes these only with a string
        test = RuleTest(path, op, literal, count)
        fast = _compiled(test)
        for doc in docs:
            assert fast(doc) is may_match(test, doc), (test, doc)
            checked += 1
    assert checked > 100_000


def test_a_guard_selects_as_its_tests_do() -> None:
    tests = (RuleTest(("a", "b"), ">", 2), RuleTest(("a", "c"), "!=", "x"), RuleTest(("a",), "not"))
    guard = Guard("g0", tests[:2])
    docs = _documents()
    clean = [i % 5 != 0 for i in range(len(docs))]  # a document that is not clean is always selected
    want = [i for i, d in enumerate(docs) if not clean[i] or all(may_match(t, d) for t in tests[:2])]
    assert guard.selector()(docs, clean) == want
    single = Guard("g1", tests[2:])
    assert single.selector()(docs, clean) == [i for i, d in enumerate(docs) if not clean[i] or may_match(tests[2], d)]
