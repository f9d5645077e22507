"""Persistence: SQLModel tables, the engine, keyword-only queries and Alembic migrations.
May import the domain; never Slack (slack_sdk, slack_bolt, bot.slack) nor the flows (pyproject's contract)."""
