package deployforge.policies

default allow = false

allowed_regions = ["us-west-2", "eu-central-1"]

allow {
  input.resource.region == allowed_regions[_]
  input.resource.tags.owner != ""
}
