"""The AWS workflow actions against moto's server: rds.create (+ wait), s3.export, lambda.invoke."""

from __future__ import annotations

import io
import json
import urllib.request
import zipfile

import boto3
import pytest

from deployforge.model.config import Target
from deployforge.providers.aws.actions import lambda_invoke, rds_create, s3_export
from deployforge.providers.registry import provider_for_target
from deployforge.secrets import masking
from deployforge.workflow.parse import compile_workflow
from deployforge.workflow.runner import ActionContext


def _provider(endpoint):
    return provider_for_target(
        "aws",
        "aws_prod",
        {"region": "us-west-2", "endpoint_url": endpoint, "access_key_id": "testing", "secret_access_key": "t"},
    )


def _ctx(provider, uses, params=None, outputs=None):
    wf = compile_workflow("etl", [{"uses": uses, "with": params or {}}], {"aws_prod": Target("aws_prod", "aws")})
    return ActionContext(workflow="etl", step=wf.steps[0], run_id="run-1", provider=provider, outputs=outputs or {})


def test_rds_create_creates_waits_and_adopts_an_existing_instance(moto_endpoint):
    p = _provider(moto_endpoint)
    params = {"identifier": "Warehouse DB", "master_password": "Sup3r-Secret-pw", "db_name": "wh"}
    out = rds_create(_ctx(p, "aws_prod.rds.create", params), params)
    assert out["identifier"] == "warehouse-db" and out["status"] == "available"
    assert out["endpoint"] and out["port"] == 5432 and out["engine"] == "postgres"
    assert masking.mask("Sup3r-Secret-pw") == "***"  # a password given in with: is masked too
    again = rds_create(_ctx(p, "aws_prod.rds.create", params), params)
    assert again["arn"] == out["arn"]  # re-running the workflow adopts it
    rds = boto3.client("rds", endpoint_url=moto_endpoint, region_name="us-west-2")
    assert len(rds.describe_db_instances()["DBInstances"]) == 1


def test_s3_export_writes_the_outputs_manifest_masked_and_copies_objects(moto_endpoint):
    p = _provider(moto_endpoint)
    masking.register("manifest-secret-value")
    outputs = {"db": {"endpoint": "db.example", "token": "manifest-secret-value"}}
    out = s3_export(_ctx(p, "aws_prod.s3.export", {}, outputs), {})
    assert out["bucket"] == "deployforge-etl-exports" and out["keys"] == ["etl/run-1.json"]
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-west-2")
    body = s3.get_object(Bucket=out["bucket"], Key="etl/run-1.json")["Body"].read().decode()
    assert json.loads(body)["steps"]["db"] == {"endpoint": "db.example", "token": "***"}
    for key in ("raw/a.csv", "raw/b.csv", "other/c.csv"):
        s3.put_object(Bucket=out["bucket"], Key=key, Body=b"1")
    params = {"bucket": "archive-bucket", "source": f"s3://{out['bucket']}/raw/", "prefix": "2026"}
    copied = s3_export(_ctx(p, "aws_prod.s3.export", params), params)
    assert sorted(copied["keys"]) == ["2026/a.csv", "2026/b.csv"] and copied["uri"] == "s3://archive-bucket/2026"
    with pytest.raises(Exception, match="must be s3://"):
        bad = {"source": "gs://x/y"}
        s3_export(_ctx(p, "aws_prod.s3.export", bad), bad)


def _lambda_zip(code: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", code)
    return buf.getvalue()


def test_lambda_invoke_returns_the_payload(moto_endpoint):
    req = urllib.request.Request(
        f"{moto_endpoint}/moto-api/config",
        data=json.dumps({"lambda": {"use_docker": False}}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=10).read()
    iam = boto3.client("iam", endpoint_url=moto_endpoint, region_name="us-west-2")
    role = iam.create_role(
        RoleName="lambda-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    lam = boto3.client("lambda", endpoint_url=moto_endpoint, region_name="us-west-2")
    lam.create_function(
        FunctionName="notify",
        Runtime="python3.11",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": _lambda_zip("def handler(event, context):\n    return event\n")},
    )
    p = _provider(moto_endpoint)
    params = {"function_name": "notify", "payload": {"job": "j-1"}}
    out = lambda_invoke(_ctx(p, "aws_prod.lambda.invoke", params), params)
    assert out["status_code"] == 200 and out["function_error"] is None
    assert out["payload"] == {"job": "j-1"}  # moto without Docker echoes the event back


def test_rds_create_without_a_password_lets_rds_manage_it_in_secrets_manager(moto_endpoint):
    """No password is generated and lost: RDS keeps it, and the step says where."""
    p = _provider(moto_endpoint)
    params = {"identifier": "managed-db"}
    out = rds_create(_ctx(p, "aws_prod.rds.create", params), params)
    arn = out["master_user_secret_arn"]
    assert arn and arn.startswith("arn:aws:secretsmanager:us-west-2:")
    sm = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="us-west-2")
    assert sm.describe_secret(SecretId=arn)["ARN"] == arn
    rds = boto3.client("rds", endpoint_url=moto_endpoint, region_name="us-west-2")
    [db] = rds.describe_db_instances(DBInstanceIdentifier="managed-db")["DBInstances"]
    assert db["MasterUserSecret"]["SecretArn"] == arn
    given = {"identifier": "given-db", "master_password": "Sup3r-Secret-pw"}
    assert rds_create(_ctx(p, "aws_prod.rds.create", given), given)["master_user_secret_arn"] is None
