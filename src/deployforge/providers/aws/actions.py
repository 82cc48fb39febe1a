"""AWS workflow actions: ``rds.create`` (+ wait), ``s3.export``, ``lambda.invoke``.

Each is ``handler(ctx, params) -> outputs`` over the step's ``AwsProvider`` (``ctx.provider``),
whose boto3 clients are shared and counted; botocore errors are translated at the provider's
boundary. Parameters missing from ``with:`` get defaults (the chain form passes none).
"""

from __future__ import annotations

import json
import re
from typing import Any

from deployforge.errors import ProviderError, UsageError
from deployforge.text import clip


def _slug(text: str, limit: int = 63) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    if not slug or not slug[0].isalpha():
        slug = "df-" + slug
    return re.sub(r"-+", "-", slug)[:limit].rstrip("-")


def _boundary(ctx: Any, action: str) -> Any:
    return ctx.provider._boundary(f"step '{ctx.step.id}'", action)


def rds_create(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """create_db_instance, then wait until it is available (an existing instance is adopted).

    Without ``master_password`` RDS manages the master password itself, in Secrets Manager
    (``ManageMasterUserPassword``): the output ``master_user_secret_arn`` names the secret, so the
    password is never generated here, never lost, and rotates with RDS. A ``master_password`` given
    in ``with:`` (for example a ``vault://`` reference) is used as is and masked.
    """
    from deployforge.secrets import masking

    rds = ctx.provider.client("rds")
    identifier = _slug(str(params.get("identifier") or f"{ctx.workflow}-db"))
    username = str(params.get("master_username") or "deployforge")
    password = params.get("master_password")
    if password is not None:
        masking.register(str(password))
    with _boundary(ctx, "rds.create"):
        existing = None
        try:
            existing = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        except rds.exceptions.DBInstanceNotFoundFault:
            pass
        if existing is None:
            request: dict[str, Any] = {
                "DBInstanceIdentifier": identifier,
                "Engine": str(params.get("engine") or "postgres"),
                "DBInstanceClass": str(params.get("instance_class") or "db.t3.micro"),
                "AllocatedStorage": int(params.get("allocated_storage") or 20),
                "MasterUsername": username,
                "Tags": [{"Key": str(k), "Value": str(v)} for k, v in dict(params.get("tags") or {}).items()]
                + [{"Key": "deployforge:workflow", "Value": ctx.workflow}],
            }
            if password is None:
                request["ManageMasterUserPassword"] = True
            else:
                request["MasterUserPassword"] = str(password)
            if params.get("db_name"):
                request["DBName"] = str(params["db_name"])
            rds.create_db_instance(**request)
            ctx.log(f"creating RDS instance {identifier}")
        if params.get("wait", True):
            while True:
                instance = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
                status = instance.get("DBInstanceStatus")
                if status == "available":
                    break
                if status in ("failed", "incompatible-parameters", "incompatible-network", "storage-full"):
                    raise ProviderError(f"RDS instance {identifier} is {status}", code=status)
                ctx.sleep(5)
        instance = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    endpoint = instance.get("Endpoint") or {}
    return {
        "identifier": identifier,
        "endpoint": endpoint.get("Address"),
        "port": endpoint.get("Port"),
        "arn": instance.get("DBInstanceArn"),
        "status": instance.get("DBInstanceStatus"),
        "engine": instance.get("Engine"),
        "master_username": instance.get("MasterUsername", username),
        # where RDS keeps the managed master password (None when with: gave the password)
        "master_user_secret_arn": (instance.get("MasterUserSecret") or {}).get("SecretArn"),
    }


def _split_s3(url: str, what: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise UsageError(f"{what} must be s3://bucket/prefix, not '{url}'")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise UsageError(f"{what} names no bucket: '{url}'")
    return bucket, prefix


def s3_export(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Copy ``source`` objects, or write ``content`` (default: earlier steps' outputs) to ``bucket``."""
    from deployforge.secrets import masking

    s3 = ctx.provider.client("s3")
    bucket = str(params.get("bucket") or _slug(f"deployforge-{ctx.workflow}-exports"))
    prefix = str(params.get("prefix") or "").strip("/")
    keys: list[str] = []
    with _boundary(ctx, "s3.export"):
        if params.get("create_bucket", True):
            try:
                s3.head_bucket(Bucket=bucket)
            except Exception:
                region = ctx.provider.region
                config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
                s3.create_bucket(Bucket=bucket, **config)
        if params.get("source"):
            src_bucket, src_prefix = _split_s3(str(params["source"]), f"step '{ctx.step.id}': source")
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=src_bucket, Prefix=src_prefix):
                for obj in page.get("Contents") or ():
                    ctx.check()
                    rest = obj["Key"][len(src_prefix) :].lstrip("/") if src_prefix else obj["Key"]
                    key = f"{prefix}/{rest}" if prefix else rest
                    s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": src_bucket, "Key": obj["Key"]})
                    keys.append(key)
        else:
            content = params.get("content")
            if content is None:  # the outputs of the steps before this one, masked
                content = {"workflow": ctx.workflow, "run_id": ctx.run_id, "steps": dict(ctx.outputs)}
            body = content if isinstance(content, str) else json.dumps(content, indent=2, default=str)
            body = masking.mask(body)
            key = str(params.get("key") or f"{ctx.workflow}/{ctx.run_id}.json")
            key = f"{prefix}/{key}" if prefix else key
            s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
            keys.append(key)
    uri = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    return {"bucket": bucket, "keys": keys, "count": len(keys), "uri": uri}


def lambda_invoke(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Invoke a function (RequestResponse by default); a function error fails the step."""
    client = ctx.provider.client("lambda")
    request: dict[str, Any] = {
        "FunctionName": str(params["function_name"]),
        "InvocationType": str(params.get("invocation_type") or "RequestResponse"),
    }
    payload = params.get("payload")
    if payload is not None:
        request["Payload"] = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
    if params.get("qualifier"):
        request["Qualifier"] = str(params["qualifier"])
    with _boundary(ctx, "lambda.invoke"):
        response = client.invoke(**request)
        raw = response["Payload"].read() if response.get("Payload") is not None else b""
    text = raw.decode("utf-8", "replace")
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = text
    if response.get("FunctionError"):
        raise ProviderError(
            f"Lambda {request['FunctionName']} failed ({response['FunctionError']}): {clip(text)}",
            code="FunctionError",
        )
    return {
        "status_code": response.get("StatusCode"),
        "payload": body,
        "function_error": response.get("FunctionError"),
        "executed_version": response.get("ExecutedVersion"),
    }
