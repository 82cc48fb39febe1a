"""The workflow actions each provider offers: pure metadata, importable without any cloud SDK.

A step ``<target>.<service>.<action>`` names one entry here by its target's provider kind. The
handler (``"module:function"``) is imported only when the step runs; it is called as
``handler(ctx: ActionContext, params: dict) -> dict`` of outputs, and raises
``deployforge.errors`` exceptions. Parameters missing from ``with:`` get defaults from the handler
(the chain shorthand ``aws.rds.create -> ...`` passes none).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionInfo:
    provider: str
    service: str
    action: str
    handler: str
    description: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.service}.{self.action}"

    @property
    def params(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)


_AWS = "deployforge.providers.aws.actions"
_GOOGLE = "deployforge.providers.google.actions"

_ALL = (
    ActionInfo(
        "aws",
        "rds",
        "create",
        f"{_AWS}:rds_create",
        "Create an RDS DB instance (create_db_instance) and wait until it is available.",
        optional=(
            "identifier",
            "engine",
            "instance_class",
            "allocated_storage",
            "master_username",
            "master_password",
            "db_name",
            "wait",
            "tags",
        ),
        outputs=(
            "identifier",
            "endpoint",
            "port",
            "arn",
            "status",
            "engine",
            "master_username",
            "master_user_secret_arn",
        ),
    ),
    ActionInfo(
        "aws",
        "s3",
        "export",
        f"{_AWS}:s3_export",
        "Copy objects (source: s3://bucket/prefix) or write content (default: the outputs of the "
        "steps before it, as JSON) to a bucket, creating the bucket if needed.",
        optional=("bucket", "key", "prefix", "source", "content", "create_bucket"),
        outputs=("bucket", "keys", "count", "uri"),
    ),
    ActionInfo(
        "aws",
        "lambda",
        "invoke",
        f"{_AWS}:lambda_invoke",
        "Invoke a Lambda function and return its response; a function error fails the step.",
        required=("function_name",),
        optional=("payload", "qualifier", "invocation_type"),
        outputs=("status_code", "payload", "function_error", "executed_version"),
    ),
    ActionInfo(
        "google",
        "dataflow",
        "start",
        f"{_GOOGLE}:dataflow_start",
        "Launch a Dataflow job from a classic template (gcsPath) and wait for a state "
        "(default JOB_STATE_DONE; a failed or cancelled job fails the step).",
        optional=("template", "job_name", "parameters", "environment", "location", "wait_for", "poll_interval"),
        outputs=("job_id", "job_name", "state", "location"),
    ),
    ActionInfo(
        "google",
        "storage",
        "copy",
        f"{_GOOGLE}:storage_copy",
        "Copy objects between Cloud Storage locations (source: gs://bucket/prefix, destination: gs://bucket/prefix).",
        required=("source", "destination"),
        outputs=("count", "objects", "destination"),
    ),
)

ACTIONS: dict[tuple[str, str], ActionInfo] = {(a.provider, a.name): a for a in _ALL}


def lookup(provider: str, name: str) -> ActionInfo | None:
    return ACTIONS.get((provider, name))


def actions_for(provider: str) -> list[str]:
    return sorted(a.name for a in _ALL if a.provider == provider)
