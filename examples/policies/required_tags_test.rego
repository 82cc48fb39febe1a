package deployforge.tags

import rego.v1

test_owner_present if {
	count(missing({"tags": {"owner": "platform"}})) == 0
}

test_owner_missing if {
	missing({"tags": {}}) == {"owner"}
}

test_owner_blank if {
	missing({"tags": {"owner": "  "}}) == {"owner"}
}

test_no_tags_at_all if {
	missing({}) == {"owner"}
}
