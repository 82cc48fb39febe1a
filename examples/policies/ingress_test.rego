package main

import rego.v1

test_ssh_from_anywhere if {
	open_ports({"from_port": 22, "to_port": 22, "cidr_blocks": ["0.0.0.0/0"]}) == {22}
}

test_range_covers_several if {
	open_ports({"from_port": 0, "to_port": 65535, "cidr_blocks": ["0.0.0.0/0"]}) == {22, 3389, 3306, 5432, 6379, 9200, 27017}
}

test_https_from_anywhere_is_fine if {
	count(open_ports({"from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]})) == 0
}

test_private_range_is_fine if {
	count(open_ports({"from_port": 22, "to_port": 22, "cidr_blocks": ["10.0.0.0/8"]})) == 0
}

test_ipv6_anywhere if {
	open_ports({"from_port": 22, "to_port": 22, "ipv6_cidr_blocks": ["::/0"]}) == {22}
}

test_deny_open_group_with_input if {
	some finding in deny_open_ingress with input as {"resource": {"aws_security_group": {"web": [{"ingress": [{"from_port": 22, "to_port": 22, "cidr_blocks": ["0.0.0.0/0"]}]}]}}}
	finding.resource == "aws_security_group.web"
}
