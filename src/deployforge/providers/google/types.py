"""Google Cloud resource types: metadata only (no SDK), for the schema, validate and the planner."""

from __future__ import annotations

from deployforge.providers.base import TypeInfo

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
    description="A Cloud Storage bucket (JSON API): versioning, labels, uniform access, public access prevention.",
    properties_schema={
        "name": {"type": "string", "description": "Globally unique bucket name."},
        "location": {"type": "string", "description": "US, EU, or a region such as europe-west1 (force new)."},
        "storage_class": {"enum": ["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"]},
        "versioning": {"type": "boolean"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "uniform_bucket_level_access": {"type": "boolean"},
        "public_access_prevention": {"enum": ["inherited", "enforced"]},
        "force_destroy": {"type": "boolean", "description": "Delete the objects too when deleting the bucket."},
    },
)

TYPE_INFOS: dict[str, TypeInfo] = {STORAGE_BUCKET.type: STORAGE_BUCKET}
