package deployforge.policies

import rego.v1

test_allowed_regions_listed if {
	allowed_regions == ["us-west-2", "eu-central-1"]
}
