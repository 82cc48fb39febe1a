"""``aws_launch_template``: an EC2 launch template; every update is a new default version.

An update writes a new version holding the default version's data with the changed properties
replaced (or removed) and makes it the default. Only the modelled properties are carried over:
settings made outside DeployForge (an instance profile, block devices...) are not. ``read``
reports the default version, the one instances launch from.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from deployforge.errors import ProviderError
from deployforge.providers.aws.errors import error_code
from deployforge.providers.aws.resources.base import (
    ResourceHandler,
    chunks,
    converge_ec2_tags,
    string_list,
    tags_from_aws,
    tags_to_aws,
)
from deployforge.providers.aws.types import LAUNCH_TEMPLATE, TYPE_INFOS
from deployforge.providers.base import LiveResource, ResourceSpec

_GONE = frozenset(
    {
        "InvalidLaunchTemplateId.NotFound",
        "InvalidLaunchTemplateName.NotFoundException",
        "InvalidLaunchTemplateId.VersionNotFound",
    }
)
_DATA_KEYS = {
    "image_id": "ImageId",
    "instance_type": "InstanceType",
    "key_name": "KeyName",
    "security_group_ids": "SecurityGroupIds",
    "user_data": "UserData",
}


def encode_user_data(text: str) -> str:
    return base64.b64encode(str(text).encode("utf-8")).decode("ascii")


def decode_user_data(encoded: str) -> str:
    """Base64 user data as text; data that is not UTF-8 text stays base64."""
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return encoded


def launch_template_data(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Declared properties -> ``LaunchTemplateData``."""
    data: dict[str, Any] = {}
    for key, aws_key in _DATA_KEYS.items():
        if key not in properties or properties[key] is None:
            continue
        value = properties[key]
        if key == "user_data":
            value = encode_user_data(value)
        elif key == "security_group_ids":
            value = string_list(value)
            if not value:
                continue
        data[aws_key] = value
    return data


def data_attributes(data: Mapping[str, Any]) -> dict[str, Any]:
    """``LaunchTemplateData`` -> attributes in the shapes of the properties."""
    attributes: dict[str, Any] = {"security_group_ids": string_list(data.get("SecurityGroupIds"))}
    for key, aws_key in _DATA_KEYS.items():
        if key == "security_group_ids" or aws_key not in data:
            continue
        value = data[aws_key]
        attributes[key] = decode_user_data(value) if key == "user_data" else value
    return attributes


class LaunchTemplateHandler(ResourceHandler):
    info = TYPE_INFOS[LAUNCH_TEMPLATE]

    # reading --------------------------------------------------------------------------------

    def read(self, resource_id: str) -> LiveResource | None:
        return self._find(LaunchTemplateIds=[resource_id])

    def lookup(self, spec: ResourceSpec) -> LiveResource | None:
        return self._find(LaunchTemplateNames=[self.key(spec)])

    # ids per DescribeLaunchTemplates / DescribeTags call; the default version's data still takes one
    # DescribeLaunchTemplateVersions call per template
    batch_size = 200

    def read_many(self, resource_ids: list[str]) -> dict[str, LiveResource | None]:
        found: dict[str, LiveResource | None] = dict.fromkeys(resource_ids)
        ec2 = self.aws.client("ec2")
        for chunk in chunks(resource_ids, self.aws.page_size(self.batch_size)):
            try:
                templates = ec2.describe_launch_templates(LaunchTemplateIds=chunk)["LaunchTemplates"]
            except ClientError as exc:
                if error_code(exc) not in _GONE:
                    raise
                for resource_id in chunk:  # one of them is gone, which fails the whole call
                    found[resource_id] = self.read(resource_id)
                continue
            tags = self._tags(Filters=[{"Name": "resource-id", "Values": chunk}])
            for template in templates:
                template_id = template["LaunchTemplateId"]
                if template_id in found:
                    found[template_id] = self._live(template, tags.get(template_id, {}))
        return found

    def _find(self, **selector: Sequence[str]) -> LiveResource | None:
        try:
            templates = self.aws.client("ec2").describe_launch_templates(**selector)["LaunchTemplates"]
        except ClientError as exc:
            if error_code(exc) in _GONE:
                return None
            raise
        return self._live(templates[0]) if templates else None

    def list(self) -> Iterator[LiveResource]:
        tags = self._tags(Filters=[{"Name": "resource-type", "Values": ["launch-template"]}])
        paginator = self.aws.client("ec2").get_paginator("describe_launch_templates")
        for page in paginator.paginate(PaginationConfig={"PageSize": self.aws.page_size(200)}):
            for template in page.get("LaunchTemplates", []):
                live = self._live(template, tags.get(template["LaunchTemplateId"], {}))
                if live is not None:
                    yield live

    def _tags(self, **params: Any) -> dict[str, dict[str, str]]:
        """resource id -> tags, from DescribeTags.

        DescribeLaunchTemplates also returns tags, but moto's copy there is frozen at creation;
        DescribeTags is current in AWS and in moto alike.
        """
        by_resource: dict[str, list[dict[str, Any]]] = {}
        paginator = self.aws.client("ec2").get_paginator("describe_tags")
        for page in paginator.paginate(**params, PaginationConfig={"PageSize": self.aws.page_size(1000)}):
            for tag in page.get("Tags", []):
                by_resource.setdefault(tag["ResourceId"], []).append(tag)
        return {resource: tags_from_aws(tags) for resource, tags in by_resource.items()}

    def _live(self, template: Mapping[str, Any], tags: dict[str, str] | None = None) -> LiveResource | None:
        template_id = template["LaunchTemplateId"]
        if tags is None:
            tags = self._tags(Filters=[{"Name": "resource-id", "Values": [template_id]}]).get(template_id, {})
        data = self._default_data(template_id)
        if data is None:  # deleted between the two calls
            return None
        name = template["LaunchTemplateName"]
        attributes = {"name": name, **data_attributes(data), "tags": tags}
        outputs = {
            "name": name,
            "latest_version": int(template["LatestVersionNumber"]),
            "default_version": int(template["DefaultVersionNumber"]),
        }
        return self.live(template_id, attributes, outputs)

    def _default_data(self, template_id: str) -> dict[str, Any] | None:
        """The ``LaunchTemplateData`` of the default version (None when the template is gone)."""
        try:
            versions = self.aws.client("ec2").describe_launch_template_versions(
                LaunchTemplateId=template_id, Versions=["$Default"]
            )["LaunchTemplateVersions"]
        except ClientError as exc:
            if error_code(exc) in _GONE:
                return None
            raise
        return dict(versions[0].get("LaunchTemplateData", {})) if versions else {}

    # writing --------------------------------------------------------------------------------

    def create(self, spec: ResourceSpec) -> LiveResource:
        params: dict[str, Any] = {
            "LaunchTemplateName": self.key(spec),
            "LaunchTemplateData": launch_template_data(spec.properties),
        }
        if spec.tags:
            params["TagSpecifications"] = [{"ResourceType": "launch-template", "Tags": tags_to_aws(spec.tags)}]
        template = self.aws.client("ec2").create_launch_template(**params)["LaunchTemplate"]
        return self.read_settled(template["LaunchTemplateId"], spec.address)

    def update(self, spec: ResourceSpec, live: LiveResource, changes: frozenset[str]) -> LiveResource:
        self.check_changes(spec, changes, _DATA_KEYS)
        ec2 = self.aws.client("ec2")
        current = self._find(LaunchTemplateIds=[live.id])
        if current is None:
            raise ProviderError(f"{spec.address}: {live.id} no longer exists", resource=spec.address, code="NotFound")
        asked = changes & _DATA_KEYS.keys()
        if asked:
            # the default version's data (as AWS holds it), with the asked-for properties replaced
            data = self._default_data(live.id) or {}
            kept = {aws: data[aws] for key, aws in _DATA_KEYS.items() if key not in asked and aws in data}
            declared = {key: spec.properties[key] for key in asked if key in spec.properties}
            version = ec2.create_launch_template_version(
                LaunchTemplateId=live.id, LaunchTemplateData={**kept, **launch_template_data(declared)}
            )["LaunchTemplateVersion"]["VersionNumber"]
            ec2.modify_launch_template(LaunchTemplateId=live.id, DefaultVersion=str(version))
        if "tags" in changes:
            converge_ec2_tags(ec2, live.id, current.attributes["tags"], spec.tags)
        return self.read_settled(live.id, spec.address)

    def delete(self, resource_id: str) -> None:
        try:
            self.aws.client("ec2").delete_launch_template(LaunchTemplateId=resource_id)
        except ClientError as exc:
            if error_code(exc) not in _GONE:
                raise
