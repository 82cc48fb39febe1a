package deployforge.encryption

import rego.v1

test_bucket_without_encryption if {
	unencrypted("aws_s3_bucket", {"bucket": "x"})
}

test_bucket_with_sse_block if {
	not unencrypted("aws_s3_bucket", {"server_side_encryption_configuration": [{"rule": []}]})
}

test_deployforge_bucket_encryption_property if {
	not unencrypted("aws_s3_bucket", {"encryption": {"sse_algorithm": "AES256"}})
}

test_rds_needs_storage_encrypted if {
	unencrypted("aws_db_instance", {"engine": "postgres"})
	not unencrypted("aws_db_instance", {"storage_encrypted": true})
}

test_other_types_ignored if {
	not unencrypted("aws_security_group", {})
}
