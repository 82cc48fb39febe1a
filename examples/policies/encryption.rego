# Storage is encrypted at rest: S3 buckets, RDS instances, EBS volumes.
package deployforge.encryption

import rego.v1

unencrypted(type, resource) if {
	type == "aws_s3_bucket"
	not resource.server_side_encryption_configuration
	not resource.encryption
}

unencrypted(type, resource) if {
	type in {"aws_db_instance", "aws_rds_cluster"}
	object.get(resource, "storage_encrypted", false) != true
}

unencrypted(type, resource) if {
	type == "aws_ebs_volume"
	object.get(resource, "encrypted", false) != true
}

deny contains {"msg": msg, "rule_id": "DF-ENC-001", "severity": "high", "remediation": "turn on encryption at rest (SSE-S3/KMS, storage_encrypted, encrypted)"} if {
	unencrypted(input.type, input.resource)
	msg := sprintf("%s is not encrypted at rest", [input.address])
}
