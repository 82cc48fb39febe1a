# No public S3 buckets: no public ACL, and the public access block (when declared) keeps
# everything blocked. Works on Terraform (acl, aws_s3_bucket_public_access_block is separate)
# and on deployforge.yaml (properties.acl, properties.public_access_block).
package deployforge.s3

import rego.v1

public_acls := {"public-read", "public-read-write", "website"}

problems(type, resource) := {m |
	type == "aws_s3_bucket"
	object.get(resource, "acl", "private") in public_acls
	m := sprintf("has a public ACL (%s)", [resource.acl])
} | {m |
	type == "aws_s3_bucket"
	some flag in ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]
	object.get(resource, ["public_access_block", flag], true) == false
	m := sprintf("turns off %s", [flag])
}

deny contains {"msg": msg, "rule_id": "DF-S3-001", "severity": "critical", "remediation": "keep buckets private; serve public content through CloudFront"} if {
	some problem in problems(input.type, input.resource)
	msg := sprintf("%s %s", [input.address, problem])
}
