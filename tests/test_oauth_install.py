"""Multi-workspace installs: /slack/install, the OAuth redirect, then requests authorised from the stored installation."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import SIGNING_SECRET, TEAM_ID
from tests.support.server import running_bot
from tests.support.slack_requests import SlackRequests
from tests.support.waiting import eventually

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "oauth-secret"


def test_install_then_use_the_stored_bot_token(standin, database_url, engine, responses):
    from bot.runtime.settings import load_settings
    from bot.runtime.services import Services

    standin.register_oauth_app(CLIENT_ID, CLIENT_SECRET)
    settings = load_settings(
        _env_file=None, slack_bot_token=None, slack_app_token=None, slack_signing_secret=SIGNING_SECRET,
        slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET, slack_api_url=standin.url, database_url=database_url,
    )
    services = Services(settings=settings, engine=engine)
    with running_bot(services) as url, httpx.Client(base_url=url) as browser:
        install = browser.get("/slack/install")
        assert install.status_code == 200
        link = re.search(r'href="([^"]+oauth/v2/authorize[^"]+)"', install.text).group(1).replace("&amp;", "&")
        query = parse_qs(urlsplit(link).query)
        assert query["client_id"] == [CLIENT_ID]
        assert "chat:write" in query["scope"][0]

        # The state cookie is marked Secure (production is HTTPS); send it as a browser would there.
        cookie = install.headers["set-cookie"].split(";", 1)[0]
        code = standin.new_oauth_code(installer="U0ADMIN")
        done = browser.get("/slack/oauth_redirect", params={"code": code, "state": query["state"][0]}, headers={"Cookie": cookie})
        assert done.status_code == 200, done.text
        bot = services.clients.installation_store.find_bot(enterprise_id=None, team_id=TEAM_ID)
        assert bot is not None and bot.bot_token == standin.bot_token

        # A replayed state (or a forged one) is refused.
        replay = browser.get("/slack/oauth_redirect", params={"code": standin.new_oauth_code(installer="U0ADMIN"),
                                                             "state": query["state"][0]}, headers={"Cookie": cookie})
        assert replay.status_code != 200

        slack = SlackRequests(endpoint=f"{url}/slack/events", signing_secret=SIGNING_SECRET, team_id=TEAM_ID,
                              responses=responses, standin=standin)
        try:
            slack.command("U0ANA", "help")
            assert "/compass join" in eventually(lambda: responses.messages(slack.last_response_url))[-1]["text"]
        finally:
            slack.close()
