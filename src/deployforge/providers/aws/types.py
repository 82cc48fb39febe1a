"""What the planner and the config schema need to know about each AWS resource type.

Pure data: importing this module imports neither boto3 nor botocore, so
``deployforge validate`` / ``deployforge schema`` stay fast.

Tags are not part of any ``properties_schema``: they are declared beside
``properties`` (``ResourceSpec.tags``) and every type supports them. Constrained
leaves (integers, booleans, enums, patterns) also accept a string holding a
reference (``${resources.x.id}``, ``${var.app}-logs``, ``$VAR``, ``vault://...``)
because the schema checks the document before references are resolved.
"""

from __future__ import annotations

from typing import Any

from deployforge.providers.base import TypeInfo

# A string holding a reference, whole ("${resources.sg.id}") or interpolated ("${var.app}-logs",
# "$$Latest"): resolved after validation, so it may stand where a constrained value is expected.
# The grammar of deployforge.config.schema.REFERENCE_PATTERN, unanchored (not imported: that module
# imports the provider registry, which imports this module).
_REFERENCE = {"type": "string", "pattern": r"\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*|vault://"}


def _or_ref(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema``, or a reference resolved later; the description stays on the outside."""
    inner = {k: v for k, v in schema.items() if k != "description"}
    wrapped: dict[str, Any] = {"anyOf": [inner, _REFERENCE]}
    if "description" in schema:
        wrapped["description"] = schema["description"]
    return wrapped


def _obj(
    properties: dict[str, Any], *, required: tuple[str, ...] = (), description: str = "", **extra: Any
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    schema.update(extra)
    return schema


def _str(description: str, **constraints: Any) -> dict[str, Any]:
    schema = {"type": "string", "description": description, **constraints}
    return _or_ref(schema) if constraints else schema


def _int(description: str, **constraints: Any) -> dict[str, Any]:
    return _or_ref({"type": "integer", "description": description, **constraints})


def _bool(description: str) -> dict[str, Any]:
    return _or_ref({"type": "boolean", "description": description})


def _enum(description: str, values: list[Any]) -> dict[str, Any]:
    return _or_ref({"enum": values, "description": description})


def _str_list(description: str, item: dict[str, Any] | None = None, **constraints: Any) -> dict[str, Any]:
    items = _or_ref(item) if item else {"type": "string"}
    return {"type": "array", "items": items, "description": description, **constraints}


# --- aws_s3_bucket ---------------------------------------------------------------------------

S3_BUCKET = "aws_s3_bucket"

_S3_SCHEMA = _obj(
    {
        "bucket": _str(
            "The bucket name (global across all AWS accounts). Defaults to the resource's key.",
            pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            **{
                "x-form": "3 to 63 characters: lowercase letters, digits, '.' and '-', starting and ending "
                "with a letter or digit, e.g. my-app-logs"
            },
        ),
        "versioning": _bool("Keep every version of every object (false = never enabled or suspended)."),
        "encryption": _obj(
            {
                "sse_algorithm": _enum("Default server-side encryption.", ["AES256", "aws:kms"]),
                "kms_key_id": _str("KMS key id or ARN (aws:kms only; omitted = the AWS-managed aws/s3 key)."),
            },
            required=("sse_algorithm",),
            description="Default encryption of new objects. Omitted = AES256 (S3 encrypts every bucket).",
        ),
        "public_access_block": _obj(
            {
                "block_public_acls": _bool("Reject requests that add public ACLs."),
                "ignore_public_acls": _bool("Ignore public ACLs on the bucket and its objects."),
                "block_public_policy": _bool("Reject bucket policies that grant public access."),
                "restrict_public_buckets": _bool("Restrict access to buckets with public policies."),
            },
            description="S3 Block Public Access flags of the bucket; undeclared flags keep their value.",
        ),
    },
    description="An S3 bucket.",
)

# --- aws_security_group ----------------------------------------------------------------------

SECURITY_GROUP = "aws_security_group"

PROTOCOL_NAMES = ["tcp", "udp", "icmp", "icmpv6", "all", "-1"]

_RULE_SCHEMA = _obj(
    {
        "protocol": {
            "description": "tcp, udp, icmp, icmpv6, all (= -1) or an IP protocol number.",
            "anyOf": [
                {"enum": PROTOCOL_NAMES},
                {"type": "string", "pattern": r"^[0-9]{1,3}$"},
                {"type": "integer", "minimum": -1, "maximum": 255},
                _REFERENCE,
            ],
        },
        "from_port": _int("First port (icmp: the type, -1 = all; protocol all: 0).", minimum=-1, maximum=65535),
        "to_port": _int("Last port (icmp: the code, -1 = all; protocol all: 0).", minimum=-1, maximum=65535),
        "cidr_blocks": _str_list(
            "IPv4 CIDR ranges the rule applies to (order does not matter).",
            {"type": "string", "pattern": r"^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$"},
            minItems=1,
        ),
        "description": _str("Describes the rule (applies to each of its CIDR ranges).", minLength=1, maxLength=255),
    },
    required=("protocol", "from_port", "to_port", "cidr_blocks"),
)

_SG_SCHEMA = _obj(
    {
        "name": _str(
            "The group name, unique within its VPC. Defaults to the resource's key.",
            pattern=r"^(?!sg-).{1,255}$",
            **{"x-form": "1 to 255 characters, not starting with sg-"},
        ),
        "description": _str("What the group is for (changing it replaces the group).", maxLength=255),
        "vpc_id": _str("The VPC (changing it replaces the group). Omitted = the default VPC."),
        "ingress": {
            "type": "array",
            "items": _RULE_SCHEMA,
            "description": "Inbound rules; the group gets exactly these (order does not matter).",
        },
        "egress": {
            "type": "array",
            "items": _RULE_SCHEMA,
            "description": "Outbound rules; omitted = AWS's default allow-all rule is left alone.",
        },
    },
    description="A VPC security group.",
)

DEFAULT_DESCRIPTION = "Managed by DeployForge"
ALLOW_ALL_EGRESS = {"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}

# --- aws_launch_template ---------------------------------------------------------------------

LAUNCH_TEMPLATE = "aws_launch_template"

_LT_SCHEMA = _obj(
    {
        "name": _str(
            "The launch template name. Defaults to the resource's key.",
            pattern=r"^[a-zA-Z0-9().\-/_]{3,128}$",
            **{"x-form": "3 to 128 characters: letters, digits and ( ) . - / _, e.g. web-lt"},
        ),
        "image_id": _str(
            "The AMI id (ami-...) or resolve:ssm:<parameter>.",
            pattern=r"^(ami-[0-9a-f]{8,17}|resolve:ssm:.+)$",
            **{"x-form": "ami- and 8 to 17 hex digits (ami-0abcdef1234567890), or resolve:ssm:/path/to/parameter"},
        ),
        "instance_type": _str(
            "The instance type, e.g. t3.micro.",
            pattern=r"^[a-z0-9-]+\.[a-z0-9-]+$",
            **{"x-form": "family.size, e.g. t3.micro"},
        ),
        "key_name": _str("The EC2 key pair name."),
        "security_group_ids": _str_list("Security group ids.", {"type": "string", "pattern": r"^sg-[0-9a-f]+$"}),
        "user_data": _str("User data as plain text (base64-encoded for you)."),
    },
    description="An EC2 launch template; every change makes a new version and makes it the default.",
)

# --- aws_autoscaling_group -------------------------------------------------------------------

AUTOSCALING_GROUP = "aws_autoscaling_group"

_LT_VERSION = {
    "description": "A version number (1, 2...), $Latest or $Default (AWS's words: written alone they are kept "
    "as they are, not read as environment variables).",
    "anyOf": [{"type": "integer", "minimum": 1}, {"enum": ["$Latest", "$Default"]}, _REFERENCE],
}

_ASG_SCHEMA = _obj(
    {
        "name": _str("The group name. Defaults to the resource's key.", minLength=1, maxLength=255),
        "min_size": _int("The fewest instances the group keeps running, e.g. 1.", minimum=0),
        "max_size": _int("The most instances the group may run, at least min_size, e.g. 4.", minimum=0),
        "desired_capacity": _int("Instances to run now (omitted = min_size; scaling may change it).", minimum=0),
        "launch_template": {
            "description": "The launch template instances start from: by name or by id, and a version.",
            "anyOf": [
                _obj(
                    {"name": _str("The launch template name."), "version": _LT_VERSION},
                    required=("name", "version"),
                ),
                _obj(
                    {"id": _str("The launch template id (lt-...)."), "version": _LT_VERSION},
                    required=("id", "version"),
                ),
            ],
        },
        "availability_zones": _str_list("Availability zones to launch in, e.g. [us-east-1a, us-east-1b].", minItems=1),
        "vpc_zone_identifier": _str_list(
            "Subnet ids of a VPC to launch in, e.g. [subnet-0123abcd].",
            {"type": "string", "pattern": r"^subnet-[0-9a-f]+$"},
            minItems=1,
        ),
        "health_check_type": _enum("Which health checks replace instances.", ["EC2", "ELB", "VPC_LATTICE", "EBS"]),
        "health_check_grace_period": _int("Seconds before a new instance's health is checked.", minimum=0),
    },
    required=("min_size", "max_size", "launch_template"),
    description="An EC2 Auto Scaling group (deleted with ForceDelete: its instances are terminated).",
    anyOf=[{"required": ["availability_zones"]}, {"required": ["vpc_zone_identifier"]}],
)

# --- aws_cloudwatch_metric_alarm -------------------------------------------------------------

METRIC_ALARM = "aws_cloudwatch_metric_alarm"

STATISTICS = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"]
COMPARISON_OPERATORS = [
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
]
TREAT_MISSING_DATA = ["missing", "ignore", "breaching", "notBreaching"]

_ALARM_SCHEMA = _obj(
    {
        "alarm_name": _str("The alarm name. Defaults to the resource's key.", minLength=1, maxLength=255),
        "metric_name": _str("The metric, e.g. CPUUtilization.", minLength=1, maxLength=255),
        "namespace": _str("The metric's namespace, e.g. AWS/EC2.", minLength=1, maxLength=255),
        "statistic": _enum("How data points are aggregated over each period.", STATISTICS),
        "period": {
            "description": "Seconds per data point: 10, 20, 30 or a multiple of 60.",
            "anyOf": [
                {"enum": [10, 20, 30]},
                {"type": "integer", "minimum": 60, "multipleOf": 60},
                _REFERENCE,
            ],
        },
        "evaluation_periods": _int("How many periods are compared with the threshold.", minimum=1),
        "threshold": _or_ref({"type": "number", "description": "The value compared with the statistic."}),
        "comparison_operator": _enum("How the statistic is compared with the threshold.", COMPARISON_OPERATORS),
        "dimensions": {
            "type": "object",
            "description": "Metric dimensions: name -> value.",
            "additionalProperties": {"type": "string"},
            "maxProperties": 30,
        },
        "alarm_description": _str("Shown with the alarm.", maxLength=1024),
        "alarm_actions": _str_list("ARNs notified when the alarm fires.", maxItems=5),
        "treat_missing_data": _enum("How missing data points count.", TREAT_MISSING_DATA),
    },
    required=(
        "metric_name",
        "namespace",
        "statistic",
        "period",
        "evaluation_periods",
        "threshold",
        "comparison_operator",
    ),
    description="A CloudWatch alarm on one metric.",
)

# --- the table -------------------------------------------------------------------------------

TYPE_INFOS: dict[str, TypeInfo] = {
    S3_BUCKET: TypeInfo(
        type=S3_BUCKET,
        force_new=frozenset({"bucket"}),
        outputs=frozenset({"id", "arn", "bucket"}),
        defaults={"versioning": False, "encryption": {"sse_algorithm": "AES256"}},
        natural_key="bucket",
        description="An S3 bucket with versioning, default encryption and Block Public Access settings.",
        properties_schema=_S3_SCHEMA,
    ),
    SECURITY_GROUP: TypeInfo(
        type=SECURITY_GROUP,
        force_new=frozenset({"name", "description", "vpc_id"}),
        outputs=frozenset({"id", "arn", "name"}),
        defaults={"description": DEFAULT_DESCRIPTION, "ingress": [], "egress": [ALLOW_ALL_EGRESS]},
        natural_key="name",
        description="A VPC security group; rule changes authorize/revoke only the difference.",
        properties_schema=_SG_SCHEMA,
    ),
    LAUNCH_TEMPLATE: TypeInfo(
        type=LAUNCH_TEMPLATE,
        force_new=frozenset({"name"}),
        outputs=frozenset({"id", "name", "latest_version", "default_version"}),
        natural_key="name",
        description="An EC2 launch template; an update adds a version and makes it the default.",
        properties_schema=_LT_SCHEMA,
    ),
    AUTOSCALING_GROUP: TypeInfo(
        type=AUTOSCALING_GROUP,
        force_new=frozenset({"name"}),
        outputs=frozenset({"id", "arn", "name"}),
        defaults={"health_check_type": "EC2"},
        natural_key="name",
        description="An EC2 Auto Scaling group.",
        properties_schema=_ASG_SCHEMA,
    ),
    METRIC_ALARM: TypeInfo(
        type=METRIC_ALARM,
        force_new=frozenset({"alarm_name"}),
        outputs=frozenset({"id", "arn", "alarm_name"}),
        defaults={"dimensions": {}, "alarm_actions": [], "treat_missing_data": "missing"},
        natural_key="alarm_name",
        description="A CloudWatch metric alarm.",
        properties_schema=_ALARM_SCHEMA,
    ),
}
