"""``aws_s3_bucket``: a bucket with versioning, default encryption and Block Public Access."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from deployforge.errors import ProviderError
from deployforge.providers.aws.errors import error_code
from deployforge.providers.aws.resources.base import (
    ResourceHandler,
    tags_from_aws,
    tags_to_aws,
    undo_on_failure,
)
from deployforge.providers.aws.types import S3_BUCKET, TYPE_INFOS
from deployforge.providers.base import LiveResource, ResourceSpec

_GONE = frozenset({"404", "NoSuchBucket", "NotFound"})
_DENIED = frozenset({"403", "AccessDenied", "Forbidden"})
_PAB_KEYS = {
    "block_public_acls": "BlockPublicAcls",
    "ignore_public_acls": "IgnorePublicAcls",
    "block_public_policy": "BlockPublicPolicy",
    "restrict_public_buckets": "RestrictPublicBuckets",
}
# What S3 applies to a bucket without a default-encryption configuration (SSE-S3, since 2023).
_DEFAULT_ENCRYPTION = {"sse_algorithm": "AES256"}


class _BucketGone(ProviderError):
    """The bucket does not exist (``read`` turns this into None; elsewhere it is the error)."""


class S3BucketHandler(ResourceHandler):
    info = TYPE_INFOS[S3_BUCKET]

    def normalize(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        result = dict(properties)
        if "versioning" in result:
            result["versioning"] = bool(result["versioning"])
        encryption = result.get("encryption")
        if isinstance(encryption, Mapping):
            result["encryption"] = {k: v for k, v in encryption.items() if v not in (None, "")}
        return result

    # reading --------------------------------------------------------------------------------

    def read(self, resource_id: str) -> LiveResource | None:
        # no HeadBucket: GetBucketVersioning already says NoSuchBucket for a bucket that is gone
        found = self._read(resource_id, head=False)
        return None if found is None else found[0]

    def lookup(self, spec: ResourceSpec) -> LiveResource | None:
        try:
            return self.read(self.key(spec))
        except ClientError as exc:
            if error_code(exc) in _DENIED:  # the name is taken by another account: not ours to adopt
                return None
            raise

    def _read(self, bucket: str, head: bool = True) -> tuple[LiveResource, str | None] | None:
        """The bucket and its region (None without ``head``), or None when it does not exist."""
        s3 = self.aws.client("s3")
        try:
            region = self._call(s3.head_bucket, Bucket=bucket).get("BucketRegion") if head else None
            attributes = {
                "bucket": bucket,
                "versioning": self._versioning(bucket),
                "encryption": self._encryption(bucket),
                "public_access_block": self._public_access_block(bucket),
                "tags": self._tags(bucket),
            }
        except _BucketGone:
            return None
        live = self.live(bucket, attributes, {"arn": self._arn(bucket), "bucket": bucket})
        return live, region

    def _call(self, method: Any, **params: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = method(**params)
        except ClientError as exc:
            if error_code(exc) in _GONE:
                bucket = params.get("Bucket")
                raise _BucketGone(f"bucket {bucket} does not exist", resource=bucket, code="NoSuchBucket") from exc
            raise
        return response

    def _versioning(self, bucket: str) -> bool:
        status = self._call(self.aws.client("s3").get_bucket_versioning, Bucket=bucket).get("Status")
        return status == "Enabled"

    def _encryption(self, bucket: str) -> dict[str, str]:
        try:
            config = self._call(self.aws.client("s3").get_bucket_encryption, Bucket=bucket)
        except ClientError as exc:
            if error_code(exc) == "ServerSideEncryptionConfigurationNotFoundError":
                return dict(_DEFAULT_ENCRYPTION)
            raise
        rules = config.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        default = rules[0].get("ApplyServerSideEncryptionByDefault", {}) if rules else {}
        if not default:
            return dict(_DEFAULT_ENCRYPTION)
        result = {"sse_algorithm": default["SSEAlgorithm"]}
        if default.get("KMSMasterKeyID"):
            result["kms_key_id"] = default["KMSMasterKeyID"]
        return result

    def _public_access_block(self, bucket: str) -> dict[str, bool]:
        try:
            response = self._call(self.aws.client("s3").get_public_access_block, Bucket=bucket)
            config = response.get("PublicAccessBlockConfiguration", {})
        except ClientError as exc:
            if error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
                raise
            config = {}
        return {key: bool(config.get(aws_key, False)) for key, aws_key in _PAB_KEYS.items()}

    def _tags(self, bucket: str) -> dict[str, str]:
        try:
            response = self._call(self.aws.client("s3").get_bucket_tagging, Bucket=bucket)
        except ClientError as exc:
            if error_code(exc) == "NoSuchTagSet":
                return {}
            raise
        return tags_from_aws(response.get("TagSet"))

    def _arn(self, bucket: str) -> str:
        return f"arn:{self.aws.partition}:s3:::{bucket}"

    def list(self) -> Iterator[LiveResource]:
        s3 = self.aws.client("s3")
        region = self.aws.region
        pages = s3.get_paginator("list_buckets").paginate(
            BucketRegion=region, PaginationConfig={"PageSize": self.aws.page_size(10000)}
        )
        for page in pages:
            for entry in page.get("Buckets", []):
                if entry.get("BucketRegion", region) != region:
                    continue
                found = self._read(entry["Name"])
                if found is not None and (found[1] or region) == region:
                    yield found[0]

    # writing --------------------------------------------------------------------------------

    def create(self, spec: ResourceSpec) -> LiveResource:
        bucket = self.key(spec)
        properties = spec.properties
        self._ensure_absent(bucket, spec.address)
        s3 = self.aws.client("s3")
        params: dict[str, Any] = {"Bucket": bucket}
        if self.aws.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.aws.region}
        s3.create_bucket(**params)
        with undo_on_failure(lambda: s3.delete_bucket(Bucket=bucket), f"bucket {bucket}"):
            if spec.tags:
                self._put_tags(bucket, spec.tags)
            if properties.get("versioning"):
                self._put_versioning(bucket, True)
            if "encryption" in properties:
                self._put_encryption(bucket, properties["encryption"])
            if "public_access_block" in properties:
                self._put_public_access_block(bucket, properties["public_access_block"])
        return self.read_settled(bucket, spec.address)

    def _ensure_absent(self, bucket: str, address: str) -> None:
        """Refuse to 'create' a bucket that exists: in us-east-1 CreateBucket would silently succeed."""
        s3 = self.aws.client("s3")
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            code = error_code(exc)
            if code in _GONE:
                return
            if code in _DENIED:
                raise ProviderError(
                    f"{address}: bucket {bucket} already exists and belongs to another AWS account",
                    hint="bucket names are global across all AWS accounts: choose another name",
                    resource=address,
                    code="BucketAlreadyExists",
                ) from exc
            raise
        owned = self._owned(bucket)
        if owned:
            raise ProviderError(
                f"{address}: bucket {bucket} already exists in this account",
                hint="it may come from an interrupted apply: adopt it, delete it, or choose another name",
                resource=address,
                code="BucketAlreadyOwnedByYou",
            )
        whose = "another AWS account" if owned is False else "this or another AWS account"
        raise ProviderError(
            f"{address}: bucket {bucket} already exists and belongs to {whose}",
            hint="bucket names are global across all AWS accounts: choose another name",
            resource=address,
            code="BucketAlreadyExists",
        )

    def _owned(self, bucket: str) -> bool | None:
        """Whether this account owns ``bucket`` (None when it may not list its buckets)."""
        pages = (
            self.aws.client("s3")
            .get_paginator("list_buckets")
            .paginate(Prefix=bucket, PaginationConfig={"PageSize": self.aws.page_size(10000)})
        )
        try:
            return any(entry["Name"] == bucket for page in pages for entry in page.get("Buckets", []))
        except ClientError as exc:
            if error_code(exc) in _DENIED:
                return None
            raise

    def update(self, spec: ResourceSpec, live: LiveResource, changes: frozenset[str]) -> LiveResource:
        self.check_changes(spec, changes, {"versioning", "encryption", "public_access_block"})
        bucket = live.id
        properties = spec.properties
        s3 = self.aws.client("s3")
        if "versioning" in changes:
            self._put_versioning(bucket, bool(properties.get("versioning", False)))
        if "encryption" in changes:
            if "encryption" in properties:
                self._put_encryption(bucket, properties["encryption"])
            else:
                s3.delete_bucket_encryption(Bucket=bucket)
        if "public_access_block" in changes:
            if "public_access_block" in properties:
                self._put_public_access_block(bucket, properties["public_access_block"])
            else:
                s3.delete_public_access_block(Bucket=bucket)
        if "tags" in changes:
            if spec.tags:
                self._put_tags(bucket, spec.tags)
            else:
                s3.delete_bucket_tagging(Bucket=bucket)
        return self.read_settled(bucket, spec.address)

    def _put_tags(self, bucket: str, tags: Mapping[str, str]) -> None:
        self.aws.client("s3").put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags_to_aws(tags)})

    def _put_versioning(self, bucket: str, enabled: bool) -> None:
        self.aws.client("s3").put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration={"Status": "Enabled" if enabled else "Suspended"}
        )

    def _put_encryption(self, bucket: str, encryption: Mapping[str, Any]) -> None:
        default: dict[str, str] = {"SSEAlgorithm": str(encryption["sse_algorithm"])}
        if encryption.get("kms_key_id"):
            default["KMSMasterKeyID"] = str(encryption["kms_key_id"])
        self.aws.client("s3").put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": default}]},
        )

    def _put_public_access_block(self, bucket: str, block: Mapping[str, Any]) -> None:
        """Set the declared flags; undeclared flags keep the value the bucket has now."""
        flags = {
            **self._public_access_block(bucket),
            **{k: bool(v) for k, v in block.items() if k in _PAB_KEYS},
        }
        self.aws.client("s3").put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={aws_key: flags[key] for key, aws_key in _PAB_KEYS.items()},
        )

    def delete(self, resource_id: str) -> None:
        try:
            self.aws.client("s3").delete_bucket(Bucket=resource_id)
        except ClientError as exc:
            if error_code(exc) not in _GONE:
                raise
