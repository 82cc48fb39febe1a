"""``deployforge policy test`` runs its tests in processes of their own, several at a time: the
report keeps the tests' order, and a runaway or failing test changes no other test's result."""

from __future__ import annotations

from pathlib import Path

from deployforge.policy.isolate import Limits
from deployforge.policy.testing import run_tests

POLICY = """package main
import rego.v1

deny contains "public" if input.acl == "public-read"
"""

TESTS = """package main
import rego.v1

test_public_is_denied if "public" in deny with input as {"acl": "public-read"}

test_private_is_denied if "public" in deny with input as {"acl": "private"}

test_runaway if {
    count([1 | some i in numbers.range(1, 3000); some j in numbers.range(1, 3000)]) > 1
}

todo_test_later if false

test_error if to_number("x") == 1

test_private_passes if count(deny) == 0 with input as {"acl": "private"}

test_again_public if "public" in deny with input as {"acl": "public-read"}
"""


def test_tests_run_side_by_side_and_keep_their_order_and_their_own_results(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text(POLICY)
    (tmp_path / "p_test.rego").write_text(TESTS)
    report = run_tests([str(tmp_path)], limits=Limits(timeout_s=2.0, memory_mb=4096))
    got = [(r.name.split(".")[-1], r.outcome) for r in report.results]
    assert got == [
        ("test_public_is_denied", "pass"),
        ("test_private_is_denied", "fail"),
        ("test_runaway", "error"),
        ("todo_test_later", "skip"),
        ("test_error", "error"),
        ("test_private_passes", "pass"),
        ("test_again_public", "pass"),
    ]
    runaway = report.results[2]
    assert "time limit (2 s)" in runaway.message
    # a test's duration is its own, not its wave's (the runaway's wave-mates took far less)
    assert report.results[0].duration_ms < 1500 and report.results[1].duration_ms < 1500
    assert report.exit_code == 1
