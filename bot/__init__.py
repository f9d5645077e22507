"""compass-bot: COMPASS peer-support groups, near-peer mentoring and pulse surveys in Slack."""
