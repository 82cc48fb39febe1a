package deployforge.regions

import rego.v1

test_allowed_region if {
	region_ok("us-west-2", default_regions)
}

test_other_region_refused if {
	not region_ok("us-east-1", default_regions)
}

test_no_region_refused if {
	not region_ok(null, default_regions)
}
