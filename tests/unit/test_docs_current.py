"""The generated docs (resource types, JSON Schema) match the code: run scripts/gen_docs.py if this fails."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
gen_docs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen_docs)


@pytest.mark.parametrize("rel", sorted(gen_docs.OUTPUTS))
def test_generated_doc_is_current(rel):
    committed = (ROOT / rel).read_text(encoding="utf-8")
    assert committed == gen_docs.OUTPUTS[rel](), f"{rel} is out of date: run python scripts/gen_docs.py"
