"""Multi-workspace installs: /slack/install, the OAuth redirect, then requests authorised from the stored installation."""

from __future__ import annotations

import re
from datetime import timedelta
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


GRID = "E0GRID"


def _oauth_services(standin, database_url, engine):  # noqa: ANN001, ANN202
    from bot.runtime.services import Services
    from bot.runtime.settings import load_settings

    settings = load_settings(
        _env_file=None, slack_bot_token=None, slack_app_token=None, slack_signing_secret=SIGNING_SECRET,
        slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET, slack_api_url=standin.url, database_url=database_url,
        compass_admins="U0ANA",
    )
    return Services(settings=settings, engine=engine)


def _install(standin, url: str, installer: str = "U0ADMIN") -> None:  # noqa: ANN001
    with httpx.Client(base_url=url) as browser:
        install = browser.get("/slack/install")
        link = re.search(r'href="([^"]+oauth/v2/authorize[^"]+)"', install.text).group(1).replace("&amp;", "&")
        state = parse_qs(urlsplit(link).query)["state"][0]
        cookie = install.headers["set-cookie"].split(";", 1)[0]
        done = browser.get("/slack/oauth_redirect", params={"code": standin.new_oauth_code(installer=installer), "state": state},
                           headers={"Cookie": cookie})
        assert done.status_code == 200, done.text


def test_a_grid_workspace_install_gives_the_clock_its_token(standin, database_url, engine):
    from bot.slack.client import call

    standin.register_oauth_app(CLIENT_ID, CLIENT_SECRET, enterprise_id=GRID)
    services = _oauth_services(standin, database_url, engine)
    with running_bot(services) as url:
        _install(standin, url)
    # What the clock, pairing publication and the report do: a client for the row's team, no request at hand.
    client = services.clients.for_team(TEAM_ID)
    assert client.token == standin.bot_token
    assert call(client, "chat.postMessage", channel="U0ADMIN", text="hello").ok
    # The installer is the workspace's first admin; COMPASS_ADMINS (token mode only) makes nobody an admin here.
    assert services.is_admin(TEAM_ID, "U0ADMIN") and not services.is_admin(TEAM_ID, "U0ANA")


def test_an_org_wide_install_is_one_program_across_the_org(standin, database_url, engine, responses):
    from bot.slack.client import call
    from storage.db import session_scope
    from storage.members import get_member

    standin.register_oauth_app(CLIENT_ID, CLIENT_SECRET, enterprise_id=GRID, org_install=True)
    for user_id in ("W0ADMIN", "W0ANA"):  # Grid users have W-prefixed IDs, the same in every workspace of the org
        standin.add_user(user_id, name=user_id.lower(), real_name=user_id, tz="America/Chicago")
    services = _oauth_services(standin, database_url, engine)
    with running_bot(services) as url:
        _install(standin, url, installer="W0ADMIN")
        assert call(services.clients.for_team(GRID), "chat.postMessage", channel="W0ADMIN", text="hello").ok
        slack = SlackRequests(endpoint=f"{url}/slack/events", signing_secret=SIGNING_SECRET, team_id=TEAM_ID,
                              responses=responses, standin=standin, enterprise_id=GRID, org_install=True)
        try:
            slack.command("W0ANA", "pause")
            assert "haven't joined" in eventually(lambda: responses.messages(slack.last_response_url))[-1]["text"]
            with session_scope(engine) as session:
                _enrol(session, team_id=GRID, user_id="W0ANA")
            slack.team_id = "T0OTHERWS"  # the same person, writing from another workspace of the org
            slack.command("W0ANA", "my-data")
            reply = eventually(lambda: responses.messages(slack.last_response_url))[-1]["text"]
            assert "haven't joined" not in reply, reply
            with session_scope(engine) as session:
                assert get_member(session, team_id="T0OTHERWS", user_id="W0ANA") is None
        finally:
            slack.close()
    assert services.is_admin(GRID, "W0ADMIN")


def test_rotating_tokens_are_refreshed_before_they_expire(standin, database_url, engine):
    import freezegun

    from bot.slack.client import call

    standin.register_oauth_app(CLIENT_ID, CLIENT_SECRET, enterprise_id=GRID, token_rotation=True)
    services = _oauth_services(standin, database_url, engine)
    with running_bot(services) as url:
        _install(standin, url)
    first = services.clients.for_team(TEAM_ID)
    assert call(first, "chat.postMessage", channel="U0ADMIN", text="now").ok
    with freezegun.freeze_time(timedelta(hours=11), tick=True, ignore=["http.server", "socketserver", "threading"]):
        later = services.clients.for_team(TEAM_ID)
        assert later.token != first.token
        assert call(later, "chat.postMessage", channel="U0ADMIN", text="eleven hours on").ok
    with freezegun.freeze_time(timedelta(hours=13), tick=True, ignore=["http.server", "socketserver", "threading"]):
        assert call(first, "chat.postMessage", channel="U0ADMIN", text="stale").error == "token_expired"
        assert call(services.clients.for_team(TEAM_ID), "chat.postMessage", channel="U0ADMIN", text="fresh").ok


def _enrol(session, *, team_id: str, user_id: str) -> None:  # noqa: ANN001
    from storage.members import Profile, save_profile
    from storage.workspaces import ensure_workspace

    ensure_workspace(session, team_id=team_id)
    save_profile(session, team_id=team_id, user_id=user_id, profile=Profile(career_stage="attending", timezone="UTC"),
                 consented=True)
