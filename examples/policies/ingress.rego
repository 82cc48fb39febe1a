# No ingress from anywhere (0.0.0.0/0, ::/0) on sensitive ports. conftest style: package main,
# one document per Terraform file (input.resource.<type>.<name> is a list of blocks, as conftest gives it).
package main

import rego.v1

sensitive_ports := [22, 3389, 3306, 5432, 6379, 9200, 27017]

open_cidrs := {"0.0.0.0/0", "::/0"}

covers(rule, port) if {
	to_number(rule.from_port) <= port
	port <= to_number(rule.to_port)
}

open_ports(rule) := {port |
	some port in sensitive_ports
	covers(rule, port)
	some cidr in array.concat(object.get(rule, "cidr_blocks", []), object.get(rule, "ipv6_cidr_blocks", []))
	cidr in open_cidrs
}

# aws_security_group with inline ingress blocks
deny_open_ingress contains {"msg": msg, "rule_id": "DF-NET-001", "severity": "critical", "resource": address, "remediation": "restrict the CIDR to your VPN or bastion range"} if {
	some name, groups in input.resource.aws_security_group
	some group in groups
	some rule in object.get(group, "ingress", [])
	some port in open_ports(rule)
	address := sprintf("aws_security_group.%s", [name])
	msg := sprintf("%s allows the whole internet on port %d", [address, port])
}

# separate aws_security_group_rule resources
deny_open_ingress contains {"msg": msg, "rule_id": "DF-NET-001", "severity": "critical", "resource": address, "remediation": "restrict the CIDR to your VPN or bastion range"} if {
	some name, rules in input.resource.aws_security_group_rule
	some rule in rules
	rule.type == "ingress"
	some port in open_ports(rule)
	address := sprintf("aws_security_group_rule.%s", [name])
	msg := sprintf("%s allows the whole internet on port %d", [address, port])
}
