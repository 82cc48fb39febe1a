"""Secrets never reach audit records: every log the project opens masks through the secrets registry."""

from __future__ import annotations

import pytest

from deployforge.audit import trace
from deployforge.errors import ProviderError
from deployforge.secrets import masking
from deployforge.usecases.audit import audit_log, record_audit
from deployforge.usecases.workspace import Options, Workspace

SECRET = "hunter2-Pa55w0rd-ZX81"


@pytest.fixture
def registered():
    masking.register(SECRET)
    yield SECRET
    masking.clear()


def test_registered_secret_is_masked_in_run_and_step_records(tmp_path, registered):
    config = tmp_path / "deployforge.yaml"
    config.write_text("targets: {}\nresources: {}\n", encoding="utf-8")
    ws = Workspace(Options(config=str(config), environ={"USER": "ada"}))
    log = audit_log(ws)
    with trace.recording(log, ws.run_id), trace.step("hook", command=f"curl -u admin:{SECRET} x") as step:
        step.set(output={"password": SECRET, f"key-{SECRET}": 1})
    record_audit(
        ws,
        command="apply",
        argv=["apply", f"--token={SECRET}"],
        result=None,
        error=ProviderError(f"denied for {SECRET}"),
        exit_code=1,
        started=0.0,
    )
    text = log.path.read_text(encoding="utf-8")
    assert SECRET not in text
    records = list(log.records())
    assert records[0]["fields"]["command"] == "curl -u admin:*** x"
    assert records[0]["fields"]["output"] == {"password": "***", "key-***": 1}
    assert records[1]["argv"] == ["apply", "--token=***"] and records[1]["error"] == "denied for ***"
    assert log.verify().ok


def test_without_a_registered_value_nothing_is_masked(tmp_path):
    config = tmp_path / "deployforge.yaml"
    config.write_text("targets: {}\nresources: {}\n", encoding="utf-8")
    ws = Workspace(Options(config=str(config), environ={}))
    record = audit_log(ws).append({"argv": ["--token=plain-value-1234"]})
    assert record["argv"] == ["--token=plain-value-1234"]
