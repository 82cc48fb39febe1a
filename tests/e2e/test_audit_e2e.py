"""The audit trail through the real CLI: trace ids, lineage, `audit trace`, `audit log`, bad input."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import sys
from pathlib import Path

from tests.e2e.conftest import Project, stack

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden" / "audit"))
from test_audit_golden import check_flowchart

TRACE = re.compile(r"^trace (DF-TRC-[0-9A-Z]{10}) · deployforge ", re.MULTILINE)


def _records(project: Project) -> list[dict]:
    log = project.dir / ".deployforge" / "audit" / "audit.jsonl"
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def test_every_command_prints_its_trace_id_first_and_records_lineage(project: Project):
    project.write(stack(1))
    validate = project.run("validate", "-v")
    assert validate.returncode == 0, validate.stderr
    parent = TRACE.match(validate.stderr)
    assert parent, validate.stderr
    parent_id = parent.group(1)
    plan = project.run(
        "plan",
        DEPLOYFORGE_PARENT_TRACE=parent_id,
        GITHUB_ACTIONS="true",
        GITHUB_ACTOR="octocat",
        GITHUB_REPOSITORY="acme/infra",
        GITHUB_RUN_ID="77",
        GITHUB_SHA="a" * 40,
        GITHUB_REF="refs/pull/12/merge",
    )
    assert plan.returncode == 2, plan.stderr
    child = TRACE.match(plan.stderr)
    assert child and f"parent {parent_id}" in plan.stderr.splitlines()[0]
    child_id = child.group(1)
    first, second = _records(project)
    assert first["trace_id"] == parent_id and first["kind"] == "run" and first["parent_trace_id"] is None
    assert second["trace_id"] == child_id and second["parent_trace_id"] == parent_id
    context = second["context"]
    assert context["actor"] == "octocat" and context["repository"] == "acme/infra" and context["pr"] == 12
    assert context["run_url"] == "https://github.com/acme/infra/actions/runs/77" and context["commit"] == "a" * 40
    assert second["environment"] == "default"
    assert second["config_file_sha256"] == hashlib.sha256(project.config.read_bytes()).hexdigest()
    assert len(second["config_hash"]) == 64 and len(second["plan_hash"]) == 64
    assert sum(second["api_calls"]["aws"].values()) >= 1, second["api_calls"]  # at least the preflight call
    assert second["cpu_ms"] > 0 and second["peak_memory_mb"] > 0 and second["duration_ms"] > 0
    # the JSON result of a command names its trace
    as_json = project.run("plan", "--format", "json", CI="true")
    assert json.loads(as_json.stdout)["trace_id"] == TRACE.match(as_json.stderr).group(1)

    # the product page's command, with the short form of the id
    short = "DF-TRC-" + parent_id[-4:]
    drawn = project.run("audit", "trace", short, "--format=mermaid")
    assert drawn.returncode == 0, drawn.stderr
    assert check_flowchart(drawn.stdout) == []
    assert f"deployforge validate · {parent_id}" in drawn.stdout
    assert f"deployforge plan · {child_id}" in drawn.stdout
    text = project.run("audit", "trace", parent_id)
    assert text.stdout.splitlines()[0].startswith(f"trace {parent_id} · deployforge validate · ok")
    assert f"deployforge plan (DF-TRC-{child_id[-4:]})" in text.stdout
    as_json = json.loads(project.run("audit", "trace", parent_id, "--format", "json").stdout)
    assert [n["id"] for n in as_json["nodes"]] == [parent_id, child_id]

    shown = project.run("audit", "log", "--trace", parent_id, "--format", "json")
    assert [r["trace_id"] for r in json.loads(shown.stdout)] == [parent_id, child_id]


def test_the_trace_header_shows_on_failure_with_v_and_in_ci_logs_only(project: Project):
    """Issue 17 point 12: a local command that succeeded prints no `trace DF-TRC-...` line; a failure
    ends with it (after the error, so the id to look it up by is the last thing read); -v and a CI log
    (GitHub Actions, Jenkins, CI=true) print it first, as before."""
    project.write(stack(0))
    quiet = project.run("validate")
    assert quiet.returncode == 0 and "DF-TRC-" not in quiet.stderr + quiet.stdout, quiet.stderr
    assert project.run("validate", CI="false").stderr.count("DF-TRC-") == 0
    for how in (
        {"args": ("-v",)},
        {"env": {"DEPLOYFORGE_VERBOSE": "1"}},
        {"env": {"CI": "true"}},
        {"env": {"GITHUB_ACTIONS": "true"}},
        {"env": {"JENKINS_URL": "https://jenkins.example.com/"}},
    ):
        shown = project.run("validate", *how.get("args", ()), **how.get("env", {}))
        assert shown.returncode == 0, shown.stderr
        first = TRACE.match(shown.stderr)
        assert first, (how, shown.stderr)
        assert _records(project)[-1]["trace_id"] == first.group(1)
    failed = project.run("plan", "-e", "nope")
    assert failed.returncode == 1, failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert lines[0].startswith("error: environment 'nope' is not defined"), lines
    last = TRACE.match(lines[-1])
    assert last and lines[-1].endswith("· deployforge plan"), lines
    assert failed.stderr.count("DF-TRC-") == 1
    assert _records(project)[-1]["trace_id"] == last.group(1) and _records(project)[-1]["outcome"] == "error"
    # a finding is not a failure: plan's "changes" (exit 2) stays quiet
    project.write(stack(1))
    changes = project.run("plan")
    assert changes.returncode == 2 and "DF-TRC-" not in changes.stderr, changes.stderr
    # -v before the failure: the header once, first
    verbose_failure = project.run("plan", "-e", "nope", "-v")
    assert TRACE.match(verbose_failure.stderr) and verbose_failure.stderr.count("DF-TRC-") == 1


def test_steps_of_a_run_appear_in_its_trace(project: Project):
    """A `run` records steps with deployforge.audit.trace.step; the commands it starts are its children."""
    from deployforge.audit import AuditLog, trace

    project.write(stack(0))
    assert project.run("validate").returncode == 0
    log = AuditLog(project.dir / ".deployforge" / "audit" / "audit.jsonl")
    run_id = "DF-TRC-2QBB3T9B12"
    with trace.recording(log, run_id), trace.step("deploy", strategy="canary"), trace.step("end"):
        child = project.run("validate", **trace.child_environ({}, run_id))
    assert child.returncode == 0
    log.append({"kind": "run", "trace_id": run_id, "run_id": run_id, "command": "run", "outcome": "ok"})
    drawn = project.run("audit", "trace", "DF-TRC-9B12", "--format=mermaid")
    assert drawn.returncode == 0, drawn.stderr
    assert check_flowchart(drawn.stdout) == []
    assert '["end<br/>ok · ' in drawn.stdout and "deployforge validate · DF-TRC-" in drawn.stdout
    assert project.run("audit", "verify").returncode == 0


def test_unknown_trace_and_corrupt_line_give_clear_errors(project: Project):
    project.write(stack(0))
    assert project.run("validate").returncode == 0
    unknown = project.run("audit", "trace", "DF-TRC-ZZZZ")
    assert unknown.returncode == 2 and "no trace DF-TRC-ZZZZ in the audit log" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    log = project.dir / ".deployforge" / "audit" / "audit.jsonl"
    assert len(log.read_bytes().splitlines()) == 1  # `audit trace` read the log; it did not append to it
    log.write_bytes(log.read_bytes() + b'{"format": 1, "seq": 2, oops\n')
    shown = project.run("audit", "log", "--all-environments")
    assert shown.returncode == 1, shown.stderr
    assert "audit.jsonl:2: this line of the audit log is not a record: not valid JSON" in shown.stderr
    verify = project.run("audit", "verify")
    assert verify.returncode == 1 and "audit.jsonl:2: record ?: not valid JSON" in verify.stdout
    assert "Traceback" not in verify.stderr + shown.stderr


def test_audit_log_in_s3_with_object_lock_through_the_cli(project: Project):
    import boto3

    client = boto3.client("s3", endpoint_url=project.endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="team-audit", ObjectLockEnabledForBucket=True)
    project.write(
        stack(0)
        + "audit:\n  storage: s3\n  url: s3://team-audit/infra\n  endpoint_url: $AWS_ENDPOINT\n"
        + "  region: us-east-1\n  retention_days: 1\n  lock_mode: compliance\n"
    )
    first = project.run("validate", JENKINS_URL="https://ci.example.com/")
    assert first.returncode == 0, first.stderr
    trace_id = TRACE.match(first.stderr).group(1)
    assert project.run("plan").returncode == 0
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="team-audit", Prefix="infra/records/")["Contents"]]
    assert keys == ["infra/records/000000000001.json", "infra/records/000000000002.json"]
    assert client.head_object(Bucket="team-audit", Key=keys[0])["ObjectLockMode"] == "COMPLIANCE"
    assert not (project.dir / ".deployforge" / "audit").exists()  # nothing written locally
    verify = project.run("audit", "verify")
    assert verify.returncode == 0 and "s3://team-audit/infra: 2 records, chain intact" in verify.stdout
    drawn = project.run("audit", "trace", trace_id, "--format=mermaid")
    assert drawn.returncode == 0 and f"deployforge validate · {trace_id}" in drawn.stdout


def test_export_in_toto_provenance_signed_and_unsigned(project: Project):
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from deployforge.audit.provenance import PAYLOAD_TYPE, pae

    project.write(stack(1))
    plan = project.run("plan", "--pipeline", "deployforge.yaml")
    assert plan.returncode == 2 and "DF-TRC-" not in plan.stderr  # a local success: no trace header
    trace_id = _records(project)[-1]["trace_id"]  # the audit log names it
    exported = project.run("audit", "export", trace_id, "--format=in-toto")
    assert exported.returncode == 0, exported.stderr
    statement = json.loads(exported.stdout)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    config_digest = hashlib.sha256(project.config.read_bytes()).hexdigest()
    assert {"name": "deployforge.yaml", "digest": {"sha256": config_digest}} in statement["subject"]
    params = statement["predicate"]["buildDefinition"]["externalParameters"]
    assert params["pipeline"] == "deployforge.yaml" and params["flags"] == ["plan", "--pipeline", "deployforge.yaml"]
    assert statement["predicate"]["runDetails"]["metadata"]["invocationId"] == trace_id

    key = ed25519.Ed25519PrivateKey.generate()
    (project.dir / "signing.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    signed = project.run("audit", "export", trace_id, "--key", "signing.pem", "-o", "provenance.json")
    assert signed.returncode == 0, signed.stderr
    env = json.loads((project.dir / "provenance.json").read_text())
    payload = base64.b64decode(env["payload"])
    key.public_key().verify(base64.b64decode(env["signatures"][0]["sig"]), pae(PAYLOAD_TYPE, payload))
    assert json.loads(payload)["subject"] == statement["subject"]
    bad = project.run("audit", "export", trace_id, "--key", "missing.pem")
    assert bad.returncode == 2 and "cannot read the signing key missing.pem" in bad.stderr


def test_audit_storage_without_a_url_is_a_config_error_on_its_line(project: Project):
    project.write(stack(0) + "audit:\n  storage: gcs\n")
    out = project.run("validate")
    assert out.returncode == 2, out.stderr
    line = project.config.read_text().splitlines().index("  storage: gcs") + 1
    assert f"deployforge.yaml:{line}:12: audit storage gcs needs url: gs://BUCKET/PREFIX" in out.stderr
    assert "add url: under audit:" in out.stderr and "Traceback" not in out.stderr


def test_audit_log_time_filters_take_rfc3339_or_a_duration_ago(project: Project):
    project.write(stack(0))
    assert project.run("validate").returncode == 0
    recent = json.loads(project.run("audit", "log", "--since", "1h", "--format", "json").stdout)
    assert [r["command"] for r in recent] == ["validate"]
    assert json.loads(project.run("audit", "log", "--until", "1h", "--format", "json").stdout) == []
    assert json.loads(project.run("audit", "log", "--since", "2020-01-01", "--format", "json").stdout)
    bad = project.run("audit", "log", "--since", "yesterday")
    assert bad.returncode == 2 and "'yesterday' is not a time" in bad.stderr and "24h" in bad.stderr
    assert project.run("audit", "log", "-n", "0").returncode == 2


def test_each_record_says_what_the_command_amounted_to(project: Project):
    project.write(stack(1))
    assert project.run("validate").returncode == 0
    assert project.run("plan").returncode == 2
    assert project.run("plan", "-e", "nope").returncode == 1
    records = json.loads(project.run("audit", "log", "--format", "json").stdout)
    assert [(r["command"], r["outcome"]) for r in records] == [
        ("validate", "ok"),
        ("plan", "changes"),  # a finding, not an error
        ("plan", "error"),
    ]


def test_audit_log_has_column_headers_over_aligned_records(project: Project):
    project.write(stack(0))
    assert project.run("validate").returncode == 0
    assert project.run("plan").returncode == 0
    lines = project.run("audit", "log").stdout.splitlines()
    header, *rows = lines
    assert header.split() == ["SEQ", "TIME", "COMMAND", "ENV", "RESULT", "TRACE"]
    assert len(rows) == 2 and rows[0].split()[2] == "validate" and rows[1].split()[2] == "plan"
    # every column starts where its header does
    for title in ("COMMAND", "ENV", "RESULT", "TRACE"):
        at = header.index(title)
        assert all(row[at - 1] == " " and row[at] != " " for row in rows), (title, rows)


def test_a_runs_trace_has_its_hooks_plan_apply_and_canary_steps_in_the_order_they_ran(project: Project):
    """Issue 17 point 11: hooks, plan, policy gate, apply and the canary (each canary step nested) are
    steps of the `run` trace, in order; the Mermaid flow follows that order; `steps:` counts them all."""
    import yaml

    from tests.e2e.test_run_canary import make_stack

    make_stack(project.endpoint)
    (project.dir / "tags.rego").write_text(
        'package deployforge.tags\nimport rego.v1\n\ndeny contains msg if {\n  input.resource.tags.owner == "x"\n'
        '  msg := "no"\n}\n',
        encoding="utf-8",
    )
    hook = [sys.executable, "-c", "print('ok')"]
    doc = yaml.safe_load(stack(1))
    doc.update(
        policies=[{"path": "tags.rego"}],
        hooks=[
            {"phase": "pre_plan", "name": "lint", "command": hook},
            {"phase": "pre_deploy", "name": "migrate", "command": hook},
            {"phase": "pre_deploy", "name": "warm cache", "command": hook},
            {"phase": "post_deploy", "name": "smoke", "command": hook},
        ],
        deploy={
            "strategy": "linear-50pct-every-30ms",
            "shifter": {
                "type": "aws_alb_listener",
                "target": "main",
                "load_balancer": "web",
                "port": 80,
                "stable_target_group": "blue",
                "canary_target_group": "green",
            },
        },
    )
    project.write(yaml.safe_dump(doc, sort_keys=False))
    out = project.run("run", "--no-confirm")
    assert out.returncode == 0, out.stdout + out.stderr
    records = _records(project)
    [run] = [r for r in records if r.get("kind") == "run" and r["command"] == "run"]
    trace_id = run["trace_id"]
    steps = [r for r in records if r.get("trace_id") == trace_id and r.get("kind") in ("step", "deploy.step")]
    canary_steps = [r for r in steps if r["kind"] == "deploy.step"]
    assert len(canary_steps) >= 2  # every canary step joined the trace
    assert run["steps"] == len(steps)  # the run record counts every step record

    as_json = json.loads(project.run("audit", "trace", trace_id, "--format", "json").stdout)
    nodes = as_json["nodes"]
    top = [n["name"] for n in nodes if n["parent"] == trace_id]
    assert top == [
        "pre_plan hooks",
        "plan",
        "policy gate",
        "pre_deploy hooks",
        "preflight",
        "apply",
        "canary",
        "post_deploy hooks",
    ], top
    by_name = {n["name"]: n for n in nodes}
    assert [n["name"] for n in nodes if n["parent"] == by_name["pre_deploy hooks"]["id"]] == [
        "pre_deploy hook: migrate",
        "pre_deploy hook: warm cache",
    ]
    assert by_name["plan"]["details"]["changes"] == {"create": 1}
    assert by_name["apply"]["details"]["results"] == {"created": 1} or by_name["apply"]["outcome"] == "ok"
    in_canary = [n for n in nodes if n["parent"] == by_name["canary"]["id"]]
    assert len(in_canary) == len(canary_steps) and in_canary[0]["name"].startswith("canary step 1: ")
    assert [n["name"].split(":")[0] for n in in_canary] == [f"canary step {i}" for i in range(1, len(in_canary) + 1)]
    assert sum(1 for n in nodes if n["kind"] == "step") == run["steps"]
    # `audit log --steps` names each of them, the canary's steps too
    listed = project.run("audit", "log", "--trace", trace_id, "--steps").stdout
    assert "step canary step 1: " in listed and "step pre_deploy hook: migrate (" in listed, listed
    assert "None" not in listed
    assert len(re.findall(r"^ *\d+ +\S+ +step ", listed, re.MULTILINE)) == run["steps"]

    drawn = project.run("audit", "trace", trace_id, "--format=mermaid").stdout
    assert check_flowchart(drawn) == []
    ids = dict(re.findall(r'^    (n\d+_\w*|n\d+)\["([^<"]*)', drawn, re.MULTILINE))
    name_to_id = {name.split(" · ")[0]: node for node, name in ids.items()}
    edges = re.findall(r"^    (\w+) --> (\w+)$", drawn, re.MULTILINE)
    root = name_to_id["deployforge run"]
    chain = [name_to_id[name] for name in ["deployforge run", *top]]
    for before, after in itertools.pairwise(chain):
        assert (before, after) in edges, (before, after, drawn)  # each step follows the previous one
    assert sum(1 for before, _ in edges if before == root) == 1  # not every step hanging off the root
    canary_ids = [name_to_id[n["name"]] for n in in_canary]
    assert (name_to_id["canary"], canary_ids[0]) in edges
    assert all((a, b) in edges for a, b in itertools.pairwise(canary_ids))


def test_a_plain_applys_trace_has_its_hooks_plan_and_apply_in_order(project: Project):
    """`apply` runs the lifecycle hooks (issue 17 point 1) and records them, the plan and the apply as
    steps of its trace, as `run` does; `run`, which calls the same apply inside its own step, does
    not record them twice."""
    import yaml

    doc = yaml.safe_load(stack(1))
    doc["hooks"] = [
        {"phase": "pre_deploy", "name": "migrate", "command": "echo migrating"},
        {"phase": "post_deploy", "name": "smoke", "command": "echo smoke"},
    ]
    project.write(yaml.safe_dump(doc, sort_keys=False))
    done = project.run("apply", "--auto-approve")
    assert done.returncode == 0, done.stdout + done.stderr
    records = _records(project)
    [run] = [r for r in records if r.get("kind") == "run" and r["command"] == "apply"]
    steps = [r for r in records if r.get("trace_id") == run["trace_id"] and r.get("kind") == "step"]
    top = [s["name"] for s in steps if s["parent_id"] == run["trace_id"]]
    assert top == ["plan", "pre_deploy hooks", "apply", "post_deploy hooks"], top
    [phase] = [s for s in steps if s["name"] == "pre_deploy hooks"]
    assert [s["name"] for s in steps if s["parent_id"] == phase["step_id"]] == ["pre_deploy hook: migrate"]
    assert run["steps"] == len(steps)


def test_the_record_names_the_policy_bundle_a_run_was_judged_by(project: Project, monkeypatch):
    """policy_bundle_hash: sha256 over each policy and data file's path and bytes; a changed policy
    (or data file) is a different bundle, and a run without policies records none."""
    from deployforge.policy.evaluate import bundle_hash

    project.write(stack(1))
    policies = project.dir / "policy"
    policies.mkdir()
    rego = policies / "tags.rego"
    rego.write_text('package main\nimport rego.v1\ndeny contains "no owner" if not input.owner\n', encoding="utf-8")
    (project.dir / "data.json").write_text('{"owners": ["ada"]}', encoding="utf-8")
    (project.dir / "x.json").write_text('{"owner": "ada"}', encoding="utf-8")
    args = ("validate", "--policy", "policy", "--data", "data.json", "x.json", "--format", "json")
    first = project.run(*args)
    assert first.returncode == 0, first.stderr
    monkeypatch.chdir(project.dir)
    expected = bundle_hash([str(Path("policy") / "tags.rego")], ["data.json"])
    assert json.loads(first.stdout)["policy"]["bundle_hash"] == expected
    rego.write_text(rego.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")
    second = project.run(*args)
    assert second.returncode == 0, second.stderr
    (project.dir / "data.json").write_text('{"owners": ["grace"]}', encoding="utf-8")
    third = project.run(*args)
    plain = project.run("validate")
    records = _records(project)
    hashes = [r["policy_bundle_hash"] for r in records]
    assert hashes[0] == expected and len(set(hashes[:3])) == 3, hashes
    assert hashes[3] is None  # no policy evaluated, no bundle
    assert third.returncode == 0 and plain.returncode == 0
