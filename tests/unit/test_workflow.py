"""Workflows: parsing (every form, every bad input), the scheduler, and the Mermaid rendering."""

from __future__ import annotations

import textwrap
import threading
import time

import pytest

from deployforge.config.load import load_config
from deployforge.errors import ConfigError, ProviderError, UsageError
from deployforge.workflow.graph import node_id, to_mermaid, to_text
from deployforge.workflow.model import FAILED, FAILED_ALLOWED, SKIPPED, SUCCEEDED
from deployforge.workflow.parse import compile_workflow, get_workflow
from deployforge.workflow.runner import ActionContext, run_workflow, substitute

TARGETS = """
targets:
  aws_prod:
    provider: aws
    region: us-west-2
    auth: $DEPLOYFORGE_AWS_PROFILE
  gcp_analytics:
    provider: google
    project: galaxy-1234
    credentials: vault://cloud-secrets/gcp-prod-key
"""


def load(tmp_path, body: str, env: dict | None = None):
    path = tmp_path / "deployforge.yaml"
    path.write_text(textwrap.dedent(TARGETS) + textwrap.dedent(body), encoding="utf-8")
    return load_config(str(path), environ={"DEPLOYFORGE_AWS_PROFILE": "prod", **(env or {})})


def problems(tmp_path, body: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, body)
    return [issue.render() for issue in info.value.issues]


def test_the_product_page_chain_in_its_own_top_level_form(tmp_path):
    config = load(tmp_path, 'workflow "multi-cloud-etl":\n  aws.rds.create → gcp.dataflow.start → aws.s3.export\n')
    wf = get_workflow(config.workflows, "multi-cloud-etl", config.targets)
    assert [(s.id, s.target, s.action_name, s.needs) for s in wf.steps] == [
        ("rds_create", "aws_prod", "rds.create", ()),
        ("dataflow_start", "gcp_analytics", "dataflow.start", ("rds_create",)),
        ("s3_export", "aws_prod", "s3.export", ("dataflow_start",)),
    ]


def test_ascii_arrows_and_target_names_work_too(tmp_path):
    config = load(tmp_path, "workflows:\n  etl: aws_prod.rds.create -> gcp_analytics.dataflow.start\n")
    wf = get_workflow(config.workflows, "etl", config.targets)
    assert [s.uses for s in wf.steps] == ["aws_prod.rds.create", "gcp_analytics.dataflow.start"]


def test_step_form_with_params_needs_and_output_references(tmp_path):
    config = load(
        tmp_path,
        """
        workflows:
          etl:
            description: nightly
            steps:
              db:
                uses: aws.rds.create
                with: {identifier: analytics}
                retries: 2
                timeout: 10m
              job:
                uses: gcp.dataflow.start
                with:
                  parameters: {db: "${steps.db.outputs.endpoint}"}
                continue_on_failure: true
              side:
                uses: aws.lambda.invoke
                with: {function_name: notify}
              export:
                uses: aws.s3.export
                needs: [job, side]
        """,
    )
    wf = get_workflow(config.workflows, "etl", config.targets)
    assert wf.description == "nightly"
    job = wf.step("job")
    assert job.needs == ("db",) and job.continue_on_failure
    assert wf.step("db").retries == 2 and wf.step("db").timeout == 600
    assert wf.step("export").needs == ("job", "side")
    ids = [s.id for s in wf.steps]
    assert ids.index("db") < ids.index("job") < ids.index("export")


def test_unknown_target_and_action_are_located_and_named(tmp_path):
    found = problems(
        tmp_path,
        """
        workflows:
          etl:
            - uses: aws_prd.rds.create
            - uses: aws.rds.creat
            - uses: gcp.dataflow.launch
        """,
    )
    text = "\n".join(found)
    assert "deployforge.yaml:14:13: " in found[0]  # the first step's uses: value
    assert "unknown target 'aws_prd'" in text and "did you mean 'aws_prod'" in text.lower()
    assert "unknown aws action 'rds.creat'" in text and "rds.create" in text
    assert "unknown google action 'dataflow.launch'" in text and "dataflow.start" in text


def test_cycles_unknown_needs_and_references(tmp_path):
    found = "\n".join(
        problems(
            tmp_path,
            """
            workflows:
              loop:
                steps:
                  a: {uses: aws.lambda.invoke, with: {function_name: f}, needs: b}
                  b: {uses: aws.lambda.invoke, with: {function_name: "${steps.a.outputs.payload}"}}
              refs:
                steps:
                  x: {uses: aws.lambda.invoke, with: {function_name: "${steps.nope.outputs.y}"}, needs: [ghost]}
                  y: {uses: aws.lambda.invoke, with: {function_name: "${steps.x.outputs.endpoint}"}}
            """,
        )
    )
    assert "workflow 'loop': steps form a cycle: a -> b -> a" in found
    assert "step 'x' needs unknown step 'ghost'" in found
    assert "refers to unknown step 'nope'" in found
    assert "lambda.invoke has no output 'endpoint'" in found


def test_parameters_are_checked(tmp_path):
    found = "\n".join(
        problems(
            tmp_path,
            """
            workflows:
              w:
                - uses: aws.lambda.invoke
                  with: {functon_name: f}
            """,
        )
    )
    assert "lambda.invoke has no parameter 'functon_name'" in found and "function_name" in found
    assert "needs the parameter 'function_name'" in found


def test_provider_kind_alias_is_ambiguous_with_two_targets_of_that_cloud(tmp_path):
    body = """
    workflows:
      w: aws.rds.create
    """
    path = tmp_path / "deployforge.yaml"
    path.write_text(
        textwrap.dedent(TARGETS) + "  aws_dr:\n    provider: aws\n    region: us-east-1\n" + textwrap.dedent(body),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(str(path), environ={"DEPLOYFORGE_AWS_PROFILE": "p"})
    assert "aws targets: aws_prod, aws_dr" in info.value.issues[0].message


def test_unknown_workflow_name_suggests():
    with pytest.raises(UsageError) as info:
        get_workflow({"multi-cloud-etl": "aws.rds.create"}, "multi-cloud-et", {})
    assert "did you mean" in (info.value.hint or "").lower()


# -- the scheduler --------------------------------------------------------------------------------


def _targets():
    from deployforge.model.config import Target

    return {"a": Target("a", "aws"), "g": Target("g", "google")}


def _wf(doc):
    return compile_workflow("w", doc, _targets())


def _ctx_factory(log):
    def make(step, outputs):
        return ActionContext(workflow="w", step=step, run_id="r", provider=None, outputs=outputs, log=log.append)

    return make


def test_independent_steps_run_in_parallel_and_dependents_wait():
    wf = _wf(
        {
            "steps": {
                "one": {"uses": "a.lambda.invoke", "with": {"function_name": "1"}},
                "two": {"uses": "a.lambda.invoke", "with": {"function_name": "2"}},
                "join": {"uses": "a.lambda.invoke", "with": {"function_name": "${steps.one.outputs.payload}-x"}},
            }
        }
    )
    barrier = threading.Barrier(2, timeout=5)  # one and two must be running at the same time
    seen: dict[str, dict] = {}

    def execute(step, params, ctx):
        seen[step.id] = params
        if step.id in ("one", "two"):
            barrier.wait()
        return {"payload": f"out-{step.id}"}

    result = run_workflow(wf, execute, _ctx_factory([]), parallelism=4)
    assert result.status == SUCCEEDED
    assert seen["join"] == {"function_name": "out-one-x"}
    assert result.step("join").outputs == {"payload": "out-join"}


def test_a_failure_skips_its_dependents_only_and_fails_the_run():
    wf = _wf("a.rds.create -> g.dataflow.start -> a.s3.export")
    wf2 = _wf(
        {
            "steps": {
                "db": {"uses": "a.rds.create"},
                "job": {"uses": "g.dataflow.start", "needs": "db"},
                "export": {"uses": "a.s3.export", "needs": "job"},
                "other": {"uses": "a.lambda.invoke", "with": {"function_name": "f"}},
            }
        }
    )

    def execute(step, params, ctx):
        if step.id == "dataflow_start" or step.id == "job":
            raise ProviderError("job failed: JOB_STATE_FAILED")
        return {"ok": True}

    result = run_workflow(wf, execute, _ctx_factory([]))
    assert [s.status for s in result.steps] == [SUCCEEDED, FAILED, SKIPPED]
    assert result.step("s3_export").skipped_because == ("dataflow_start",)
    assert result.status == FAILED and "JOB_STATE_FAILED" in result.step("dataflow_start").error
    result2 = run_workflow(wf2, execute, _ctx_factory([]))
    assert result2.step("other").status == SUCCEEDED  # independent of the failure
    assert result2.step("export").status == SKIPPED


def test_retries_and_continue_on_failure():
    wf = _wf(
        {
            "steps": {
                "flaky": {"uses": "a.lambda.invoke", "with": {"function_name": "f"}, "retries": 2},
                "broken": {
                    "uses": "a.lambda.invoke",
                    "with": {"function_name": "g"},
                    "continue_on_failure": True,
                },
                "after": {"uses": "a.s3.export", "needs": ["flaky", "broken"]},
            }
        }
    )
    calls: dict[str, int] = {}

    def execute(step, params, ctx):
        calls[step.id] = calls.get(step.id, 0) + 1
        if step.id == "flaky" and calls["flaky"] < 3:
            raise ProviderError("throttled")
        if step.id == "broken":
            raise ProviderError("always")
        return {}

    result = run_workflow(wf, execute, _ctx_factory([]), backoff=0.01)
    assert result.step("flaky").status == SUCCEEDED and result.step("flaky").attempts == 3
    assert result.step("broken").status == FAILED_ALLOWED
    assert result.step("after").status == SUCCEEDED
    assert result.status == SUCCEEDED


def test_timeout_abandons_the_attempt_and_cancels_it():
    wf = _wf({"steps": {"slow": {"uses": "a.lambda.invoke", "with": {"function_name": "f"}, "timeout": "0.3s"}}})
    cancelled = threading.Event()

    def execute(step, params, ctx):
        while not ctx.cancel.is_set():
            time.sleep(0.01)
        cancelled.set()
        return {}

    t0 = time.monotonic()
    result = run_workflow(wf, execute, _ctx_factory([]))
    assert time.monotonic() - t0 < 2
    assert result.step("slow").status == FAILED and "timed out after 0.3s" in result.step("slow").error
    assert cancelled.wait(2)


def test_a_bug_in_an_action_fails_that_step_with_a_message():
    wf = _wf("a.s3.export")
    result = run_workflow(wf, lambda s, p, c: {}["x"], _ctx_factory([]))
    assert result.steps[0].status == FAILED and "internal error: KeyError" in result.steps[0].error


def test_substitute_keeps_types_for_whole_references():
    outputs = {"db": {"port": 5432, "endpoint": "h", "nested": {"k": "v"}}}
    assert substitute({"p": "${steps.db.outputs.port}", "u": "${steps.db.outputs.endpoint}:x"}, outputs) == {
        "p": 5432,
        "u": "h:x",
    }
    assert substitute(["${steps.db.outputs.nested.k}"], outputs) == ["v"]


def test_result_json_masks_secrets_in_outputs_and_errors():
    from deployforge.secrets import masking

    masking.register("top-secret-output")
    wf = _wf("a.lambda.invoke -> a.s3.export".replace("a.lambda.invoke", "a.rds.create"))

    def execute(step, params, ctx):
        if step.id == "s3_export":
            raise ProviderError("could not use top-secret-output")
        return {"master_password": "top-secret-output"}

    data = run_workflow(wf, execute, _ctx_factory([])).to_json()
    text = str(data)
    assert "top-secret-output" not in text and "***" in text
    assert data["counts"] == {SUCCEEDED: 1, FAILED: 1}


# -- graph ---------------------------------------------------------------------------------------


def test_mermaid_sanitises_ids_and_escapes_labels():
    wf = _wf(
        {
            "steps": {
                "end": {"uses": "a.s3.export"},
                "db-1": {"uses": "a.rds.create"},
                "db_1": {"uses": "a.rds.create", "needs": ["end", "db-1"]},
            }
        }
    )
    text = to_mermaid(wf)
    assert text.startswith("%% workflow w\nflowchart LR\n")
    assert "    step_end[" in text  # never a bare `end` keyword
    assert node_id("db-1") != node_id("db_1") and node_id("db-1").startswith("step_db_1_")
    assert f"{node_id('end')} --> {node_id('db_1')}" in text
    assert node_id("数据 库").startswith("step_") and node_id("数据 库").isascii()
    quoted = node_id('a"b')
    assert '"' not in quoted


def test_mermaid_with_a_result_colours_nodes_and_text_lists_steps():
    wf = _wf("a.rds.create -> g.dataflow.start")

    def execute(step, params, ctx):
        raise ProviderError("no")

    result = run_workflow(wf, execute, _ctx_factory([]))
    text = to_mermaid(wf, result)
    assert f"class {node_id('rds_create')} failed" in text and f"class {node_id('dataflow_start')} skipped" in text
    expected = "workflow w\n  rds_create: a.rds.create\n  dataflow_start: g.dataflow.start  (after rds_create)\n"
    assert to_text(wf) == expected
