"""Outgoing webhooks per repository: push and build events POSTed as JSON, HMAC-signed, each
delivery and its attempts kept in a history, retried, and redeliverable from the page."""
