"""A Slack Web API stand-in: a real HTTP server on 127.0.0.1 that keeps a workspace's state.
Only the tests, the demo and bench/ import it; no product code may (pyproject's contract).

Tests and ``compass-bot demo`` talk to it through the real ``slack_sdk.WebClient``::

    with SlackStandIn() as slack:
        slack.add_user("U01ANA", name="ana", real_name="Ana Ruiz", tz="America/Chicago")
        client = WebClient(token=slack.bot_token, base_url=slack.url)
        client.chat_postMessage(channel="U01ANA", text="Welcome")
        assert slack.dm_messages("U01ANA")[0]["text"] == "Welcome"
"""

from bot.standin.ratelimits import RateLimits
from bot.standin.server import UPLOAD_CALL, SlackStandIn
from bot.standin.state import Call

__all__ = ["Call", "RateLimits", "SlackStandIn", "UPLOAD_CALL"]
