"""The canary deploy stage: strategies compiled to explicit steps, traffic shifters, health gates, the controller."""
