"""Test support: signed Slack requests, a response_url sink, database and server fixtures."""
