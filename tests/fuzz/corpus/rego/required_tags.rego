# Every resource names an owner (tags.owner). Per-resource package: sees one resource at a time,
# from Terraform files and from deployforge.yaml alike.
package deployforge.tags

import rego.v1

required := ["owner"]

missing(resource) := {tag | some tag in required; not non_empty(object.get(resource, ["tags", tag], ""))}

non_empty(value) if {
	is_string(value)
	trim_space(value) != ""
}

deny contains {"msg": msg, "rule_id": "DF-TAG-001", "severity": "medium", "remediation": "add tags = { owner = \"team\" }"} if {
	some tag in missing(input.resource)
	msg := sprintf("%s has no %s tag", [input.address, tag])
}
