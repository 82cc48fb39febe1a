"""Notifications to people: Slack incoming webhooks."""
