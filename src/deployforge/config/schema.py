"""The JSON Schema of ``deployforge.yaml``.

One schema serves three purposes: ``deployforge schema`` prints it for editors
(YAML language servers complete and check the file with it), the config
validator (``deployforge.config.validate``) checks documents against it with
located, did-you-mean errors, and the tests check that it is itself a valid
JSON Schema (draft 2020-12) and that every product-page snippet satisfies it.

Resource ``properties`` are checked per resource type with the fragments the
providers publish (``TypeInfo.properties_schema``).
"""

from __future__ import annotations

from typing import Any

from deployforge.providers.registry import TYPE_ALIASES, resource_type_infos

SCHEMA_ID = "https://deployforge.dev/schema/deployforge.schema.json"

# A string that is a reference: resolved later, so it may stand where any type is expected.
REFERENCE_PATTERN = r"^(\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*|vault://.+)$"

_duration = {
    "description": "Seconds (300) or a duration with a unit: 300s, 30m, 1h, 1h30m.",
    "anyOf": [
        {"type": "integer", "minimum": 0},
        {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$|^\d+$"},
    ],
}

_string_map = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}

_target = {
    "type": "object",
    "description": "Where resources live: an AWS account+region or a Google Cloud project.",
    "properties": {
        "provider": {"enum": ["aws", "google"], "description": "Which cloud."},
        "region": {"type": "string", "description": "AWS region or Google Cloud region."},
        "project": {"type": "string", "description": "Google Cloud project id."},
        "auth": {"type": "string", "description": "AWS: a profile name (e.g. $DEPLOYFORGE_AWS_PROFILE)."},
        "credentials": {
            "type": "string",
            "description": "Google: a service-account JSON path or a vault://path#key reference.",
        },
        "endpoint_url": {"type": "string", "description": "Override the API endpoint (emulators)."},
        "description": {"type": "string"},
    },
    "required": ["provider"],
    "additionalProperties": False,
}

_target_override = {**_target, "required": []}

_environment = {
    "type": "object",
    "description": "An environment chosen with --environment: variable and target overrides.",
    "properties": {
        "description": {"type": "string"},
        "variables": _string_map,
        "targets": {"type": "object", "additionalProperties": _target_override},
        "require_confirmation": {
            "type": "boolean",
            "description": "Deploys to this environment need --confirm (production).",
        },
        "protected": {"type": "boolean", "description": "Alias of require_confirmation."},
    },
    "additionalProperties": False,
}

_hook = {
    "type": "object",
    "properties": {
        "phase": {"enum": ["pre_plan", "pre_deploy", "post_deploy", "post_success", "on_failure"]},
        "command": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "timeout": _duration,
        "run_on": {"type": "array", "items": {"type": "string"}, "description": "Target names."},
        "shell": {"type": "boolean"},
        "env": _string_map,
        "working_directory": {"type": "string"},
        "name": {"type": "string"},
        "continue_on_error": {"type": "boolean"},
    },
    "required": ["phase", "command"],
    "additionalProperties": False,
}

_healing_action = {
    "type": "object",
    "properties": {
        "type": {"enum": ["rolling_restart", "reapply", "rollback", "notify_slack"]},
        "channel": {"type": "string", "description": "notify_slack: e.g. #infra-alerts"},
        "webhook_url": {"type": "string", "description": "notify_slack: $SLACK_WEBHOOK_URL or vault://path#key"},
        "message": {"type": "string"},
    },
    "required": ["type"],
    "additionalProperties": False,
}

_healing_rule = {
    "type": "object",
    "properties": {
        "resource_type": {
            "type": "string",
            "description": "e.g. aws_autoscaling_group (or aws_auto_scaling_group)",
        },
        "max_deviation": {
            "description": "Allowed deviation before healing: a percentage from 0% to 100%, e.g. 15% "
            "(of the baseline value).",
            "anyOf": [
                {"type": "string", "pattern": r"^(100(\.0+)?|\d{1,2}(\.\d+)?)%$"},
                {"type": "number", "minimum": 0, "maximum": 100},
            ],
        },
        "severity": {"enum": ["security-critical", "performance-impacting", "informational"]},
        "environments": {"type": "array", "items": {"type": "string"}},
        "auto_approve": {"type": "boolean"},
        "allow_security_critical": {"type": "boolean"},
        "actions": {"type": "array", "items": _healing_action, "minItems": 1},
    },
    "required": ["resource_type", "actions"],
    "additionalProperties": False,
}

_workflow_step = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "uses": {"type": "string", "description": "<target>.<service>.<action>"},
        "with": {"type": "object"},
        "needs": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "retries": {"type": "integer", "minimum": 0},
        "timeout": _duration,
        "continue_on_failure": {"type": "boolean"},
    },
    "required": ["uses"],
    "additionalProperties": False,
}

_workflow = {
    "description": "A chain ('aws.rds.create -> gcp.dataflow.start -> aws.s3.export') or steps.",
    "anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"anyOf": [{"type": "string"}, _workflow_step]}},
        {
            "type": "object",
            "properties": {
                "description": {"type": "string"},
                "steps": {
                    "anyOf": [
                        {"type": "array", "items": {"anyOf": [{"type": "string"}, _workflow_step]}},
                        {"type": "object", "additionalProperties": _workflow_step},
                    ]
                },
            },
            "required": ["steps"],
            "additionalProperties": False,
        },
    ],
}

_policy = {
    "anyOf": [
        {"type": "string", "description": "A .rego file or folder."},
        {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "namespace": {"type": "string"},
                "data": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                "fail_on_warn": {"type": "boolean"},
                "rego_version": {"enum": ["v0", "v1"], "description": "Rego syntax of the policies (default v1)."},
                "timeout": {"type": "number", "exclusiveMinimum": 0, "description": "Engine time limit, s (120)."},
                "memory_mb": {"type": "integer", "minimum": 64, "description": "Engine memory limit, MB (2048)."},
            },
            "required": ["path"],
            "additionalProperties": False,
        },
    ]
}

_state = {
    "type": "object",
    "description": "Where state and locks live. Default: local .deployforge/ next to the config.",
    "properties": {
        "backend": {"enum": ["local", "s3"]},
        "path": {"type": "string", "description": "local: the folder (default .deployforge)."},
        "url": {"type": "string", "pattern": r"^s3://[^/]+(/.*)?$", "description": "s3://bucket/prefix"},
        "region": {"type": "string"},
        "endpoint_url": {"type": "string"},
        "profile": {"type": "string"},
    },
    "additionalProperties": False,
}

_audit = {
    "type": "object",
    "properties": {
        "enabled": {"type": "boolean"},
        "path": {
            "type": "string",
            "description": "The audit log file (default .deployforge/audit/audit.jsonl).",
        },
        "storage": {
            "type": "string",
            "enum": ["local", "s3", "gcs"],
            "description": "Where the log lives: local file (default), S3 with Object Lock, GCS with retention.",
        },
        "url": {"type": "string", "description": "s3://BUCKET/PREFIX or gs://BUCKET/PREFIX (storage s3 / gcs)."},
        "region": {"type": "string"},
        "endpoint_url": {"type": "string", "description": "An S3- or GCS-compatible endpoint (emulators)."},
        "profile": {"type": "string"},
        "retention_days": {
            "type": "integer",
            "minimum": 1,
            "description": "S3: Object Lock retention of every record (the bucket must have Object Lock).",
        },
        "lock_mode": {"type": "string", "enum": ["governance", "compliance"]},
        "require_retention": {
            "type": "boolean",
            "description": "GCS: refuse a bucket without a retention policy (default true).",
        },
        "signing": {
            "type": "object",
            "description": "Sign a checkpoint of the log at every append (docs/audit.md). One of key_file, "
            "kms_key_id, key.",
            "properties": {
                "key_file": {
                    "type": "string",
                    "description": "A PEM private key (Ed25519 or ECDSA P-256/P-384) kept outside the log's folder.",
                },
                "kms_key_id": {
                    "type": "string",
                    "description": "An AWS KMS asymmetric key (ECC_NIST_P256, SIGN_VERIFY): id, ARN or alias.",
                },
                "key": {
                    "type": "string",
                    "pattern": "^vault://.+$",
                    "description": "vault://PATH#KEY: a PEM private key stored in Vault.",
                },
                "public_key": {
                    "type": "string",
                    "description": "A PEM public key file `audit verify` checks the signatures with.",
                },
            },
            "additionalProperties": False,
        },
        "witness": {
            "type": "string",
            "pattern": r"^s3://[^/]+(/.*)?$",
            "description": "s3://BUCKET/PREFIX with Object Lock (compliance): every command publishes its signed "
            "checkpoint there.",
        },
    },
    "additionalProperties": False,
}

_notifications = {
    "type": "object",
    "properties": {
        "slack": {
            "type": "object",
            "properties": {
                "webhook_url": {"type": "string"},
                "channel": {"type": "string"},
                "on": {"type": "array", "items": {"type": "string"}},
            },
            "additionalProperties": False,
        }
    },
    "additionalProperties": False,
}

_deploy = {
    "type": "object",
    "description": "The canary deploy stage (strategy, traffic shifter, health gates).",
    "properties": {
        "strategy": {"type": "string"},
        "timeout": _duration,
        "interval": {**_duration, "description": "Bake time per step (default 60s)."},
        "check_interval": {**_duration, "description": "How often gates are checked during a bake (default 10s)."},
        "failure_threshold": {"type": "integer", "minimum": 1, "description": "Failed checks before abort (3)."},
        "shifter": {
            "type": "object",
            "description": "What moves traffic: type aws_alb_listener or aws_lambda_alias, target, and its settings.",
            "properties": {"type": {"type": "string"}, "target": {"type": "string"}},
            "required": ["type"],
        },
        "gates": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "type": {"enum": ["cloudwatch_alarm", "cloudwatch_metric", "http"]},
                    "target": {"type": "string"},
                },
                "required": ["name", "type"],
            },
        },
        "steps": {"type": "array", "items": {"type": "object", "minProperties": 1, "maxProperties": 1}},
    },
    "additionalProperties": False,
}


def _resource_schema(infos: dict[str, Any]) -> dict[str, Any]:
    branches = []
    for rtype in sorted(infos):
        info = infos[rtype]
        if info.properties_schema:
            names = [rtype, *(alias for alias, canonical in TYPE_ALIASES.items() if canonical == rtype)]
            for name in names:
                branches.append(
                    {
                        "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                        "then": {"properties": {"properties": dict(info.properties_schema)}},
                    }
                )
    return {
        "type": "object",
        "properties": {
            "target": {"type": "string", "description": "A name under targets:"},
            "type": {"enum": sorted([*infos, *TYPE_ALIASES]), "description": "The resource type."},
            "properties": {"type": "object"},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            "depends_on": {"type": "array", "items": {"type": "string"}},
            "description": {"type": "string"},
        },
        "required": ["type"],
        "additionalProperties": False,
        "allOf": branches,
    }


def config_schema() -> dict[str, Any]:
    infos = {name: info for name, (_kind, info) in resource_type_infos().items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "DeployForge configuration (deployforge.yaml)",
        "type": "object",
        "properties": {
            "version": {"enum": [1, "1"]},
            "name": {"type": "string"},
            "variables": _string_map,
            "targets": {"type": "object", "additionalProperties": _target},
            "environments": {
                "type": "object",
                "propertyNames": {"pattern": r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,62}$"},
                "additionalProperties": _environment,
            },
            "default_environment": {
                "type": "string",
                "description": "The environment commands use when none is chosen (-e / DEPLOYFORGE_ENVIRONMENT)",
            },
            "resources": {
                "type": "object",
                "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_-]*$"},
                "additionalProperties": _resource_schema(infos),
            },
            "workflows": {"type": "object", "additionalProperties": _workflow},
            "deploy": _deploy,
            "hooks": {"type": "array", "items": _hook},
            "self_healing_rules": {"type": "array", "items": _healing_rule},
            "policies": {"type": "array", "items": _policy},
            "state": _state,
            "audit": _audit,
            "notifications": _notifications,
        },
        "additionalProperties": False,
    }
