package deployforge.s3

import rego.v1

test_private_bucket_passes if {
	count(problems("aws_s3_bucket", {"acl": "private"})) == 0
}

test_public_acl_found if {
	problems("aws_s3_bucket", {"acl": "public-read"}) == {"has a public ACL (public-read)"}
}

test_public_access_block_off if {
	problems("aws_s3_bucket", {"public_access_block": {"block_public_acls": false}}) == {"turns off block_public_acls"}
}

test_other_types_ignored if {
	count(problems("aws_security_group", {"acl": "public-read"})) == 0
}
