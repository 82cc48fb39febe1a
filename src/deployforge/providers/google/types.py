"""Google Cloud resource types: metadata only (no SDK), for the schema, validate and the planner."""

from __future__ import annotations

from typing import Any

from deployforge.providers.base import TypeInfo

# A string holding a reference (``${resources.x.id}``, ``${var.app}-logs``, ``$VAR``, ``vault://``),
# resolved after validation, so it may stand where a constrained value is expected (the grammar of
# deployforge.config.schema.REFERENCE_PATTERN, unanchored, as in providers/aws/types.py).
_REFERENCE = {"type": "string", "pattern": r"\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*|vault://"}


def _or_ref(schema: dict[str, Any]) -> dict[str, Any]:
    inner = {k: v for k, v in schema.items() if k != "description"}
    wrapped: dict[str, Any] = {"anyOf": [inner, _REFERENCE]}
    if "description" in schema:
        wrapped["description"] = schema["description"]
    return wrapped


# A whole object schema (not a bare map of properties, which JSON Schema reads as unknown keywords
# and so checks nothing): a typo or a wrong type in a bucket's properties is reported by validate.
_BUCKET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Globally unique bucket name."},
        "location": {"type": "string", "description": "US, EU, or a region such as europe-west1 (force new)."},
        "storage_class": _or_ref({"enum": ["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"]}),
        "versioning": _or_ref({"type": "boolean"}),
        "labels": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "Google's key/value metadata (Google has labels, not tags: write them here).",
        },
        "uniform_bucket_level_access": _or_ref({"type": "boolean"}),
        "public_access_prevention": _or_ref({"enum": ["inherited", "enforced"]}),
        "force_destroy": _or_ref(
            {"type": "boolean", "description": "Delete the objects too when deleting the bucket."}
        ),
    },
    "additionalProperties": False,
}

STORAGE_BUCKET = TypeInfo(
    type="google_storage_bucket",
    force_new=frozenset({"name", "location"}),
    computed=frozenset({"self_link", "url", "project_number"}),
    outputs=frozenset({"id", "name", "url", "self_link"}),
    defaults={
        "location": "US",
        "storage_class": "STANDARD",
        "versioning": False,
        "labels": {},
        "uniform_bucket_level_access": False,
        "public_access_prevention": "inherited",
    },
    natural_key="name",
    takes_tags=False,  # Google has labels, not tags
    description="A Cloud Storage bucket (JSON API): versioning, labels, uniform access, public access prevention.",
    properties_schema=_BUCKET_SCHEMA,
)

TYPE_INFOS: dict[str, TypeInfo] = {STORAGE_BUCKET.type: STORAGE_BUCKET}
