package main

import rego.v1

deny contains msg if {
	some name, r in input.resources
	r.type == "aws_s3_bucket"
	not r.properties.versioning
	msg := sprintf("bucket %s has no versioning", [name])
}
