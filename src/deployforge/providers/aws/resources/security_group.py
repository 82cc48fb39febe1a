"""``aws_security_group``: a VPC security group whose rules converge by difference.

Rules are compared as *atoms* ``(protocol, from_port, to_port, cidr)`` carrying an optional
description, so neither the order of rules nor the order of CIDR ranges matters, and an update
authorizes only the missing atoms, revokes only the surplus ones and rewrites only changed
descriptions. Only IPv4 CIDR grants are managed: grants to IPv6 ranges, prefix lists or other
security groups are neither reported nor touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from deployforge.errors import ProviderError
from deployforge.providers.aws.errors import error_code
from deployforge.providers.aws.resources.base import (
    AwsContext,
    ResourceHandler,
    chunks,
    converge_ec2_tags,
    tags_from_aws,
    tags_to_aws,
    undo_on_failure,
)
from deployforge.providers.aws.types import DEFAULT_DESCRIPTION, SECURITY_GROUP, TYPE_INFOS
from deployforge.providers.base import LiveResource, ResourceSpec

Atom = tuple[str, int, int, str]  # protocol, from_port, to_port, cidr
Atoms = dict[Atom, str | None]  # atom -> description

DIRECTIONS = ("ingress", "egress")
_GONE = frozenset({"InvalidGroup.NotFound", "InvalidGroupId.NotFound"})
_PROTOCOL_ALIASES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}


def canonical_protocol(value: Any) -> str:
    """tcp/udp/icmp/icmpv6 by name, -1 for all, other protocols by number (as AWS reports them)."""
    text = str(value).strip().lower()
    return _PROTOCOL_ALIASES.get(text, text)


def _ports(protocol: str, from_port: Any, to_port: Any) -> tuple[int, int]:
    if protocol == "-1":  # every port of every protocol: AWS reports no ports
        return 0, 0
    return int(from_port if from_port is not None else 0), int(to_port if to_port is not None else 0)


def rule_atoms(rules: Iterable[Mapping[str, Any]], *, what: str = "rule") -> Atoms:
    """Declared rules -> atoms. Raises ``ProviderError`` for an atom declared with two descriptions."""
    atoms: Atoms = {}
    for rule in rules:
        protocol = canonical_protocol(rule["protocol"])
        from_port, to_port = _ports(protocol, rule.get("from_port"), rule.get("to_port"))
        description = rule.get("description") or None
        for cidr in rule.get("cidr_blocks", ()):
            atom = (protocol, from_port, to_port, str(cidr))
            if atom in atoms and atoms[atom] != description:
                raise ProviderError(
                    f"{what}: {protocol} {from_port}-{to_port} from {cidr} is declared twice with different "
                    "descriptions",
                    hint="AWS keeps one description per protocol, port range and CIDR: merge the rules",
                    resource=what,
                    code="ConflictingRules",
                )
            atoms[atom] = description
    return atoms


def permission_atoms(permissions: Iterable[Mapping[str, Any]]) -> Atoms:
    """AWS ``IpPermissions`` -> atoms (IPv4 CIDR grants only)."""
    atoms: Atoms = {}
    for permission in permissions:
        protocol = canonical_protocol(permission["IpProtocol"])
        from_port, to_port = _ports(protocol, permission.get("FromPort"), permission.get("ToPort"))
        for ip_range in permission.get("IpRanges", ()):
            atoms[(protocol, from_port, to_port, ip_range["CidrIp"])] = ip_range.get("Description") or None
    return atoms


def canonical_rules(atoms: Atoms) -> list[dict[str, Any]]:
    """Atoms -> rules in the one canonical order: one rule per (protocol, ports, description)."""
    groups: dict[tuple[str, int, int, str], list[str]] = {}
    for (protocol, from_port, to_port, cidr), description in atoms.items():
        groups.setdefault((protocol, from_port, to_port, description or ""), []).append(cidr)
    rules = []
    for (protocol, from_port, to_port, description), cidrs in groups.items():
        rule: dict[str, Any] = {
            "protocol": protocol,
            "from_port": from_port,
            "to_port": to_port,
            "cidr_blocks": sorted(cidrs),
        }
        if description:
            rule["description"] = description
        rules.append(rule)
    rules.sort(
        key=lambda r: (
            r["protocol"],
            r["from_port"],
            r["to_port"],
            r.get("description", ""),
            r["cidr_blocks"],
        )
    )
    return rules


def ip_permissions(atoms: Atoms) -> list[dict[str, Any]]:
    """Atoms -> AWS ``IpPermissions`` (one entry per protocol and port range)."""
    permissions: dict[tuple[str, int, int], dict[str, Any]] = {}
    for (protocol, from_port, to_port, cidr), description in sorted(atoms.items(), key=lambda item: item[0]):
        permission = permissions.get((protocol, from_port, to_port))
        if permission is None:
            permission = {"IpProtocol": protocol, "IpRanges": []}
            if protocol != "-1":
                permission.update(FromPort=from_port, ToPort=to_port)
            permissions[(protocol, from_port, to_port)] = permission
        ip_range = {"CidrIp": cidr}
        if description:
            ip_range["Description"] = description
        permission["IpRanges"].append(ip_range)
    return list(permissions.values())


class SecurityGroupHandler(ResourceHandler):
    info = TYPE_INFOS[SECURITY_GROUP]

    def __init__(self, aws: AwsContext):
        super().__init__(aws)
        self._default_vpc: str | None = None

    def normalize(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        result = dict(properties)
        for direction in DIRECTIONS:
            if direction in result:
                result[direction] = canonical_rules(rule_atoms(result[direction], what=direction))
        return result

    # reading --------------------------------------------------------------------------------

    def read(self, resource_id: str) -> LiveResource | None:
        try:
            groups = self.aws.client("ec2").describe_security_groups(GroupIds=[resource_id])["SecurityGroups"]
        except ClientError as exc:
            if error_code(exc) in _GONE:
                return None
            raise
        return self._live(groups[0]) if groups else None

    # ids per DescribeSecurityGroups call: up to 200 values in one filter; a filter (unlike GroupIds)
    # leaves out a group that is gone instead of failing the whole call
    batch_size = 200

    def read_many(self, resource_ids: list[str]) -> dict[str, LiveResource | None]:
        found: dict[str, LiveResource | None] = dict.fromkeys(resource_ids)
        paginator = self.aws.client("ec2").get_paginator("describe_security_groups")
        page = max(5, self.aws.page_size(1000))  # MaxResults is 5 to 1000
        for chunk in chunks(resource_ids, self.aws.page_size(self.batch_size)):
            filters = [{"Name": "group-id", "Values": chunk}]
            for response in paginator.paginate(Filters=filters, PaginationConfig={"PageSize": page}):
                for group in response.get("SecurityGroups", []):
                    if group["GroupId"] in found:
                        found[group["GroupId"]] = self._live(group)
        return found

    def lookup(self, spec: ResourceSpec) -> LiveResource | None:
        vpc_id = spec.properties.get("vpc_id") or self.default_vpc()
        if vpc_id is None:
            return None
        filters = [{"Name": "group-name", "Values": [self.key(spec)]}, {"Name": "vpc-id", "Values": [vpc_id]}]
        for group in self._describe(Filters=filters):
            return self._live(group)
        return None

    def list(self) -> Iterator[LiveResource]:
        for group in self._describe():
            yield self._live(group)

    def _describe(self, **params: Any) -> Iterator[dict[str, Any]]:
        paginator = self.aws.client("ec2").get_paginator("describe_security_groups")
        for page in paginator.paginate(**params, PaginationConfig={"PageSize": self.aws.page_size(1000)}):
            yield from page.get("SecurityGroups", [])

    def default_vpc(self) -> str | None:
        if self._default_vpc is None:
            vpcs = self.aws.client("ec2").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
            self._default_vpc = vpcs[0]["VpcId"] if vpcs else None
        return self._default_vpc

    def _live(self, group: Mapping[str, Any]) -> LiveResource:
        group_id = group["GroupId"]
        owner = group.get("OwnerId", "")
        arn = group.get("SecurityGroupArn") or (
            f"arn:{self.aws.partition}:ec2:{self.aws.region}:{owner}:security-group/{group_id}"
        )
        attributes = {
            "name": group["GroupName"],
            "description": group.get("Description", ""),
            "vpc_id": group.get("VpcId"),
            "ingress": canonical_rules(permission_atoms(group.get("IpPermissions", []))),
            "egress": canonical_rules(permission_atoms(group.get("IpPermissionsEgress", []))),
            "tags": tags_from_aws(group.get("Tags")),
        }
        return self.live(group_id, attributes, {"arn": arn, "name": group["GroupName"]})

    # writing --------------------------------------------------------------------------------

    def _desired(self, spec: ResourceSpec, direction: str) -> Atoms:
        rules = spec.properties.get(direction, self.info.defaults[direction])
        return rule_atoms(rules, what=f"{spec.address} {direction}")

    def create(self, spec: ResourceSpec) -> LiveResource:
        desired = {d: self._desired(spec, d) for d in DIRECTIONS if d in spec.properties}  # checked before creating
        ec2 = self.aws.client("ec2")
        params: dict[str, Any] = {
            "GroupName": self.key(spec),
            "Description": spec.properties.get("description", DEFAULT_DESCRIPTION),
        }
        if spec.properties.get("vpc_id"):
            params["VpcId"] = spec.properties["vpc_id"]
        if spec.tags:
            params["TagSpecifications"] = [{"ResourceType": "security-group", "Tags": tags_to_aws(spec.tags)}]
        group_id = ec2.create_security_group(**params)["GroupId"]
        with undo_on_failure(lambda: ec2.delete_security_group(GroupId=group_id), f"security group {group_id}"):
            if desired:
                # a new group has no inbound rules and (in a VPC) one outbound rule allowing everything:
                # converging from that needs no read (IPv6 and other non-IPv4 grants are never touched)
                new_group = {
                    "GroupId": group_id,
                    "IpPermissions": [],
                    "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
                }
                self._converge(new_group, desired)
        return self.read_settled(group_id, spec.address)

    def update(self, spec: ResourceSpec, live: LiveResource, changes: frozenset[str]) -> LiveResource:
        self.check_changes(spec, changes, DIRECTIONS)
        desired = {d: self._desired(spec, d) for d in DIRECTIONS if d in changes}
        groups = self.aws.client("ec2").describe_security_groups(GroupIds=[live.id])["SecurityGroups"]
        if not groups:
            raise ProviderError(f"{spec.address}: {live.id} no longer exists", resource=spec.address, code="NotFound")
        self._converge(groups[0], desired)
        if "tags" in changes:
            converge_ec2_tags(self.aws.client("ec2"), live.id, tags_from_aws(groups[0].get("Tags")), spec.tags)
        return self.read_settled(live.id, spec.address)

    def _converge(self, group: Mapping[str, Any], desired: Mapping[str, Atoms]) -> None:
        """Authorize what is missing, fix descriptions, then revoke what is surplus."""
        ec2 = self.aws.client("ec2")
        group_id = group["GroupId"]
        for direction, wanted in desired.items():
            key = "IpPermissions" if direction == "ingress" else "IpPermissionsEgress"
            current = permission_atoms(group.get(key, []))
            missing = {atom: d for atom, d in wanted.items() if atom not in current}
            redescribed = {atom: d for atom, d in wanted.items() if atom in current and current[atom] != d}
            surplus = {atom: d for atom, d in current.items() if atom not in wanted}
            if missing:
                authorize = getattr(ec2, f"authorize_security_group_{direction}")
                authorize(GroupId=group_id, IpPermissions=ip_permissions(missing))
            if redescribed:
                describe = getattr(ec2, f"update_security_group_rule_descriptions_{direction}")
                describe(GroupId=group_id, IpPermissions=ip_permissions(redescribed))
            if surplus:
                revoke = getattr(ec2, f"revoke_security_group_{direction}")
                revoke(GroupId=group_id, IpPermissions=ip_permissions(surplus))

    def delete(self, resource_id: str) -> None:
        try:
            self.aws.client("ec2").delete_security_group(GroupId=resource_id)
        except ClientError as exc:
            if error_code(exc) not in _GONE:
                raise
