# Resources live only in approved regions (the provider block's or the target's region).
# The list can come from a --data file ({"allowed_regions": [...]}) or the default below.
package deployforge.regions

import rego.v1

default_regions := ["us-west-2", "eu-central-1"]

default allowed := ["us-west-2", "eu-central-1"]

allowed := data.allowed_regions

region_ok(region, regions) if region in regions

deny contains {"msg": msg, "rule_id": "DF-REG-001", "severity": "high", "remediation": concat(" ", ["use one of:", concat(", ", allowed)])} if {
	region := object.get(input.resource, "region", null)
	not region_ok(region, allowed)
	msg := sprintf("%s is in region %v, which is not allowed", [input.address, region])
}
