"""The product page's multi-cloud targets and workflow through the CLI (a subprocess), against
moto, fake-gcs-server + the Google fakes, and OpenBao; plus a scan of everything the runs wrote
for the secret values."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import boto3
import pytest

from tests.e2e.conftest import ROOT
from tests.fakes.gcp import gcp_fake_server  # noqa: F401
from tests.fakes.vault import openbao_server  # noqa: F401

EXAMPLE = ROOT / "examples" / "multicloud" / "deployforge.yaml"


@pytest.fixture
def multicloud(project, openbao, gcp_fake, tmp_path):
    """The example project, its Google key and a DB password in OpenBao, an AWS profile named prod."""
    shutil.copy(EXAMPLE, project.config)
    sa = gcp_fake.service_account()
    openbao.ensure_kv2("cloud-secrets")
    openbao.put("gcp-prod-key", mount="cloud-secrets", **sa)
    db_password = f"Db-{uuid.uuid4().hex}"
    openbao.put("analytics-db", password=db_password)
    aws_config = tmp_path / "aws-config"
    aws_config.write_text("[profile prod]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    env = {
        **openbao.env(),
        "DEPLOYFORGE_AWS_PROFILE": "prod",
        "AWS_CONFIG_FILE": str(aws_config),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws_config),
        "AWS_ENDPOINT_URL": project.endpoint,
        "GCP_ENDPOINT_URL": gcp_fake.url,
        "DEPLOYFORGE_ENVIRONMENT": "emulators",
    }
    secrets = [sa["private_key"], sa["private_key_id"], db_password]
    return project, env, secrets


def _s3(endpoint):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-west-2")


def _rds(endpoint):
    return boto3.client("rds", endpoint_url=endpoint, region_name="us-west-2")


def _leaks(secrets, texts):
    found = []
    for where, text in texts:
        for secret in secrets:
            for probe in {secret, *[line for line in secret.splitlines() if len(line) > 20]}:
                if probe in text:
                    found.append(where)
    return found


def test_product_page_workflow_runs_across_both_clouds_in_order(multicloud, gcp_fake):
    project, env, secrets = multicloud
    listed = project.run("workflow", "list", **env)
    assert listed.returncode == 0, listed.stderr
    assert "multi-cloud-etl" in listed.stdout and "rds_create (aws_prod.rds.create)" in listed.stdout
    graph = project.run("workflow", "graph", "multi-cloud-etl", "--format=mermaid", **env)
    assert graph.returncode == 0, graph.stderr
    assert "step_rds_create --> step_dataflow_start" in graph.stdout
    assert "step_dataflow_start --> step_s3_export" in graph.stdout

    jobs_before = set(gcp_fake.jobs)
    run = project.run("workflow", "run", "multi-cloud-etl", "--format", "json", **env)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)["workflow"]
    assert [(s["id"], s["status"]) for s in result["steps"]] == [
        ("rds_create", "succeeded"),
        ("dataflow_start", "succeeded"),
        ("s3_export", "succeeded"),
    ]
    db = _rds(project.endpoint).describe_db_instances(DBInstanceIdentifier="multi-cloud-etl-db")["DBInstances"][0]
    assert db["DBInstanceStatus"] == "available"
    (job_id,) = set(gcp_fake.jobs) - jobs_before
    assert gcp_fake.jobs[job_id]["currentState"] == "JOB_STATE_DONE"
    export = result["steps"][2]["outputs"]
    body = _s3(project.endpoint).get_object(Bucket=export["bucket"], Key=export["keys"][0])["Body"].read()
    manifest = json.loads(body)
    assert manifest["steps"]["dataflow_start"]["job_id"] == job_id  # GCP's output reached the AWS step
    assert manifest["steps"]["rds_create"]["endpoint"] == db["Endpoint"]["Address"]
    assert not gcp_fake.unauthorized or all("/token" in p for p in gcp_fake.unauthorized)
    assert not _leaks(secrets, [("stdout", run.stdout), ("stderr", run.stderr), ("export", body.decode())])


def test_a_failure_in_the_middle_skips_what_depends_on_it(multicloud):
    project, env, _ = multicloud
    text = project.config.read_text().replace(
        "template: gs://dataflow-templates/latest/Word_Count", "template: gs://templates/fail-nightly"
    )
    project.config.write_text(text)
    run = project.run("workflow", "run", "nightly-etl", **env)
    assert run.returncode == 1
    assert "failed    process" in run.stderr and "JOB_STATE_FAILED" in run.stderr
    assert "skipped   export" in run.stderr and "needs process, which failed" in run.stderr
    assert "workflow nightly-etl failed" in run.stdout
    buckets = [b["Name"] for b in _s3(project.endpoint).list_buckets().get("Buckets", [])]
    assert "analytics-exports-galaxy-1234" not in buckets  # the export never ran


def test_bad_input_is_refused_before_anything_runs(multicloud, dead_port):
    project, env, _ = multicloud
    text = project.config.read_text()
    project.config.write_text(text.replace("aws.s3.export\n", "aws.s3.exprt\n"))
    bad = project.run("workflow", "run", "multi-cloud-etl", **env)
    assert bad.returncode == 2
    assert "unknown aws action 's3.exprt'" in bad.stderr and "deployforge.yaml:22:3: " in bad.stderr
    project.config.write_text(text)
    unreachable = project.run(
        "workflow", "run", "multi-cloud-etl", **{**env, "VAULT_ADDR": f"http://127.0.0.1:{dead_port}"}
    )
    assert unreachable.returncode == 2
    assert "targets.gcp_analytics.credentials: vault://cloud-secrets/gcp-prod-key: cannot reach Vault" in (
        unreachable.stderr
    )
    project.config.write_text(text.replace("analytics-db#password", "analytics-db#pasword"))
    missing = project.run("workflow", "run", "nightly-etl", **env)
    assert missing.returncode == 2
    assert "workflow 'nightly-etl' step 'db' with.master_password" in missing.stderr
    assert "has no key 'pasword'" in missing.stderr and "keys of that secret: password" in missing.stderr
    with pytest.raises(Exception, match="DBInstanceNotFound"):
        _rds(project.endpoint).describe_db_instances(DBInstanceIdentifier="analytics-warehouse")
    with pytest.raises(Exception, match="DBInstanceNotFound"):
        _rds(project.endpoint).describe_db_instances(DBInstanceIdentifier="multi-cloud-etl-db")


def test_secret_values_never_reach_any_output_or_file(multicloud, gcp_fake, dead_port):
    project, env, secrets = multicloud
    outputs = []
    for args in (
        ("validate",),
        ("workflow", "run", "nightly-etl"),
        ("workflow", "run", "nightly-etl", "--format", "json"),
        ("workflow", "run", "multi-cloud-etl", "-e", "emulators"),
    ):
        run = project.run(*args, **env)
        assert run.returncode == 0, (args, run.stderr)
        outputs += [(f"{args} stdout", run.stdout), (f"{args} stderr", run.stderr)]
    # a failing run too: errors and tracebacks go through the same masking
    dead_google = {**env, "GCP_ENDPOINT_URL": f"http://127.0.0.1:{dead_port}"}
    broken = project.run("workflow", "run", "nightly-etl", **dead_google)
    assert broken.returncode == 1 and "cannot reach the Google API endpoint" in broken.stderr
    outputs += [("failing stdout", broken.stdout), ("failing stderr", broken.stderr)]
    files = [p for p in Path(project.dir).rglob("*") if p.is_file()]
    assert any("audit" in str(p) for p in files)  # the audit log was written, and is scanned
    for path in files:
        outputs.append((str(path), path.read_text(encoding="utf-8", errors="replace")))
    s3 = _s3(project.endpoint)
    for bucket in s3.list_buckets().get("Buckets", []):
        for obj in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
            body = s3.get_object(Bucket=bucket["Name"], Key=obj["Key"])["Body"].read().decode()
            outputs.append((f"s3://{bucket['Name']}/{obj['Key']}", body))
    for job in gcp_fake.jobs.values():
        outputs.append((f"dataflow job {job['id']}", json.dumps(job)))
    assert _leaks(secrets, outputs) == []
    # the secrets really were used: the DB made with the Vault password exists, Google calls were authenticated
    db = _rds(project.endpoint).describe_db_instances(DBInstanceIdentifier="analytics-warehouse")["DBInstances"][0]
    assert db["DBInstanceStatus"] == "available"
    assert gcp_fake.jobs


def test_a_step_timeout_cancels_its_dataflow_job_before_the_retry(multicloud, gcp_fake):
    """retries: 1 with a job that never finishes: each attempt's job is cancelled; never two running."""
    project, env, _ = multicloud
    text = project.config.read_text().replace(
        "template: gs://dataflow-templates/latest/Word_Count", "template: gs://templates/stream-events"
    )
    project.config.write_text(text.replace("timeout: 30m", "timeout: 3s"))
    before = set(gcp_fake.jobs)
    run = project.run("workflow", "run", "nightly-etl", **env)
    assert run.returncode == 1, run.stderr
    # the step's own deadline or the attempt's bound, whichever fires first under load
    assert "timed out after 3s" in run.stderr or "step 'process' timed out" in run.stderr
    assert "already an active job" not in run.stderr  # the retry was not refused for the first job
    launched = [j for jid, j in gcp_fake.jobs.items() if jid not in before]
    assert len(launched) == 2  # the first attempt and the retry
    assert {j["id"] for j in launched} <= set(gcp_fake.cancelled)
    assert all(j["currentState"] == "JOB_STATE_CANCELLED" for j in launched)


def test_sigterm_during_a_workflow_cancels_the_dataflow_job_it_started(multicloud, gcp_fake):
    import signal
    import time

    project, env, _ = multicloud
    text = project.config.read_text().replace(
        "template: gs://dataflow-templates/latest/Word_Count", "template: gs://templates/stream-events"
    )
    project.config.write_text(text)
    before = set(gcp_fake.jobs)
    proc = project.popen("workflow", "run", "nightly-etl", **env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with gcp_fake.lock:
            new = [
                j for jid, j in gcp_fake.jobs.items() if jid not in before and j["currentState"] == "JOB_STATE_RUNNING"
            ]
        if new:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    assert new, "the Dataflow job never started"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Interrupted." in err and "Traceback" not in err
    assert new[0]["id"] in gcp_fake.cancelled and gcp_fake.jobs[new[0]["id"]]["currentState"] == "JOB_STATE_CANCELLED"


def test_workflow_dry_run_lists_steps_and_checks_each_targets_credentials(multicloud, gcp_fake):
    project, env, secrets = multicloud
    ok = project.run("workflow", "run", "nightly-etl", "--dry-run", **env)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert lines[0] == "workflow nightly-etl: 3 steps, nothing will run (--dry-run)"
    assert lines[1].split() == ["STEP", "USES", "NEEDS", "CREDENTIALS", "CHECK"]
    rows = {line.split()[0]: line for line in lines[2:5]}
    assert "aws_prod.rds.create" in rows["db"] and "profile prod" in rows["db"] and rows["db"].endswith("ok")
    assert "secret vault://cloud-secrets/gcp-prod-key" in rows["process"] and rows["process"].endswith("ok")
    assert " process " in rows["export"]  # what it needs
    assert "every step's parameters and credentials resolve" in ok.stdout
    assert not _leaks(secrets, [("stdout", ok.stdout), ("stderr", ok.stderr)])
    with pytest.raises(Exception, match="DBInstanceNotFound"):  # nothing was created
        _rds(project.endpoint).describe_db_instances(DBInstanceIdentifier="analytics-warehouse")

    with gcp_fake.lock:
        email = list(gcp_fake.keys)[-1]  # the key the multicloud fixture just made
    gcp_fake.revoke(email)  # from now on Google refuses it
    down = project.run("workflow", "run", "nightly-etl", "--dry-run", "--format", "json", **env)
    assert down.returncode == 2, down.stderr
    doc = json.loads(down.stdout)
    checks = {r["step"]: r["credentials_check"] for r in doc["steps"]}
    assert checks["db"] == "ok" and checks["process"].startswith("FAILED: ")
    assert doc["ok"] is False


def test_the_page_workflow_runs_on_the_sandbox_alone(tmp_path):
    """No AWS profile, no Google project, no Vault: `--sandbox` stands in for all three."""
    import os
    import subprocess
    import sys

    from deployforge.providers import sandbox

    shutil.copy(EXAMPLE, tmp_path / "deployforge.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYFORGE_", "VAULT_", "GITHUB_", "AWS_"))}
    env.update(PYTHONPATH=str(ROOT / "src"), NO_COLOR="1")

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "deployforge", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    try:
        run = cli("workflow", "run", "multi-cloud-etl", "--sandbox", "-e", "prod", "--format", "json")
        assert run.returncode == 0, run.stderr
        doc = json.loads(run.stdout)
        steps = {s["id"]: s for s in doc["workflow"]["steps"]}
        assert [s["status"] for s in steps.values()] == ["succeeded"] * 3
        assert steps["dataflow_start"]["outputs"]["state"] == "JOB_STATE_DONE"
        assert "vault:// reference(s) resolve to generated sandbox values" in run.stderr
        info = sandbox.status(tmp_path / ".deployforge")
        assert info is not None and info.google_endpoint and info.vault_addr
        rds = boto3.client(
            "rds", endpoint_url=info.endpoint, region_name="us-west-2", aws_access_key_id="s", aws_secret_access_key="s"
        )
        [db] = rds.describe_db_instances()["DBInstances"]
        assert db["DBInstanceIdentifier"] == steps["rds_create"]["outputs"]["identifier"]
        # the stand-ins insist on a token their own token endpoint issued, as Google does
        import urllib.error
        import urllib.request

        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{info.google_endpoint}/v1b3/projects/p/locations/l/jobs/x", timeout=10)
        assert refused.value.code == 401
        status = cli("sandbox", "status")
        assert "Google stand-ins" in status.stdout and "OpenBao" in status.stdout
    finally:
        assert cli("sandbox", "down").returncode == 0
    # down stops every stand-in: their ports no longer answer
    for url in (info.google_endpoint, f"{info.vault_addr}/v1/sys/health"):
        with pytest.raises(OSError):
            urllib.request.urlopen(url, timeout=3)
