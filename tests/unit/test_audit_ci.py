"""The audit checkpoint in CI reports: the job summary / PR comment footer carries the signed line."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from deployforge.audit.ci import checkpoint_line, footer_part
from deployforge.audit.log import AuditLog
from deployforge.audit.signing import signer_from_pem
from deployforge.audit.witness import parse_checkpoint_line
from deployforge.model.result import RunResult
from deployforge.render.markdown import RenderContext, footer, render_comment


def _line(tmp_path: Path) -> str:
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    log = AuditLog(tmp_path / "audit.jsonl", signer=signer_from_pem(pem, "k"))
    log.append({"kind": "run"})
    line = checkpoint_line(log.head_checkpoint())
    assert line is not None
    return line


def test_the_footer_carries_the_checkpoint_line_which_parses_back(tmp_path: Path):
    line = _line(tmp_path)
    result = RunResult("plan", "prod", "DF-TRC-2QBB3T9B12", 0, extra={"audit_checkpoint": line})
    (rendered,) = footer(result, RenderContext())
    assert f"audit <code>{line}</code>" in rendered and rendered.endswith("</sub>")
    assert line in render_comment(result, RenderContext())
    checkpoint = parse_checkpoint_line(line)
    assert checkpoint.seq == 1 and checkpoint_line(checkpoint) == line


def test_nothing_but_a_checkpoint_line_reaches_the_footer(tmp_path: Path):
    line = _line(tmp_path)
    for bad in (
        None,
        "",
        line + "\n::set-output name=x::y",
        line.replace("seq=1", "seq=1 @octocat"),
        line + "</code></sub><img src=x>",
        "deployforge audit checkpoint log=x seq=1",
    ):
        result = RunResult("plan", "prod", "DF-TRC-2QBB3T9B12", 0, extra={"audit_checkpoint": bad})
        assert footer_part(result) is None
        assert "audit <code>" not in footer(result, RenderContext())[0]


def test_the_action_reads_the_line_from_the_configured_log(tmp_path: Path):
    from types import SimpleNamespace

    from deployforge.usecases.audit import current_checkpoint_line

    line = _line(tmp_path)
    ws = SimpleNamespace(config=SimpleNamespace(audit=SimpleNamespace(enabled=True)))
    assert current_checkpoint_line(ws, lambda _ws: AuditLog(tmp_path / "audit.jsonl")) == line
    assert current_checkpoint_line(ws, lambda _ws: AuditLog(tmp_path / "unsigned.jsonl")) is None
    off = SimpleNamespace(config=SimpleNamespace(audit=SimpleNamespace(enabled=False)))
    assert current_checkpoint_line(off, lambda _ws: AuditLog(tmp_path / "audit.jsonl")) is None


def test_a_pasted_line_with_markup_around_it_is_refused_not_misread(tmp_path: Path):
    import pytest

    from deployforge.errors import UsageError

    line = _line(tmp_path)
    assert parse_checkpoint_line(f"  {line}\n").seq == 1  # surrounding whitespace is fine
    for pasted in (f"audit <code>{line}</code>", f"{line}</code></sub>", line.replace("seq=1", "seq=one")):
        with pytest.raises(UsageError) as refused:
            parse_checkpoint_line(pasted)
        assert "paste the whole line" in (refused.value.hint or "")
