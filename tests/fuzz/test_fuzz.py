"""The bounded fuzz run of the suite: a few hundred seeded cases (``scripts/fuzz.py`` runs thousands).

Every mutated config and .tf file is either accepted or refused with a DeployForge error (exit 2
on the command line, with a location); never another exception, never a hang.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.harness import check_config, check_rego, check_tf
from tests.fuzz.mutate import cases, injection_corpus


def _failures(results: list[tuple[str, object]]) -> list[str]:
    return [f"{name}: {o.kind}: {o.detail}" for name, o in results if o.kind in ("crash", "hang")]  # type: ignore[attr-defined]


@pytest.mark.parametrize("chunk", range(4))
def test_fuzzed_configs_never_crash_or_hang(tmp_path: Path, chunk: int) -> None:
    all_cases = cases("config", 300, seed=12)
    results = [(name, check_config(text, tmp_path)) for name, text in all_cases[chunk::4]]
    assert _failures(results) == []
    kinds = {o.kind for _, o in results}
    assert "error" in kinds  # the mutations do reach the error paths
    errors = [o for _, o in results if o.kind == "error"]
    assert sum(o.located for o in errors) >= 0.9 * len(errors)  # nearly all name file:line


def test_fuzzed_terraform_never_crashes_or_hangs(tmp_path: Path) -> None:
    results = [(name, check_tf(text, tmp_path)) for name, text in cases("tf", 100, seed=12)]
    assert _failures(results) == []


def test_fuzzed_rego_through_the_cli_never_crashes_or_hangs(tmp_path: Path) -> None:
    """A handful through the real CLI (a subprocess each); the script runs more."""
    results = [(name, check_rego(text, tmp_path)) for name, text in cases("rego", 6, seed=12)]
    assert _failures(results) == []


def test_the_injection_corpus_is_committed_and_decoded() -> None:
    corpus = injection_corpus()
    assert len(corpus) >= 40 and "ok\r::stop-commands::tok" in corpus and "\u2028::error::ls" in corpus
