"""Bolt authorizes an OAuth app's requests with auth.test; the bot keeps each token's answer.

Bolt's own default calls auth.test on every request, with its client, outside the bot's rate
limiter: clicks during a wave then spend the workspace's Tier 4 budget and meet 429s. Counted here
at the stand-in: one auth.test per installation token, a new one when the token changes, none for
an installation that is gone.
"""

from __future__ import annotations

from tests.conftest import SIGNING_SECRET, TEAM_ID
from tests.support.server import running_bot
from tests.support.slack_requests import SlackRequests
from tests.support.waiting import eventually
from tests.test_oauth_install import CLIENT_ID, CLIENT_SECRET, _install, _oauth_services


def _help_answered(slack: SlackRequests, responses) -> bool:  # noqa: ANN001
    slack.command("U0ANA", "help")
    return "/compass join" in eventually(lambda: responses.messages(slack.last_response_url))[-1]["text"]


def test_auth_test_once_per_installation_token(standin, database_url, engine, responses):
    standin.register_oauth_app(CLIENT_ID, CLIENT_SECRET)
    services = _oauth_services(standin, database_url, engine)
    with running_bot(services) as url:
        _install(standin, url)
        first_token = standin.bot_token
        before = len(standin.calls_to("auth.test"))
        slack = SlackRequests(endpoint=f"{url}/slack/events", signing_secret=SIGNING_SECRET, team_id=TEAM_ID,
                              responses=responses, standin=standin)
        try:
            for _ in range(5):
                assert _help_answered(slack, responses)
            assert [call.token for call in standin.calls_to("auth.test")[before:]] == [first_token]

            # Another workspace's installation, clicks alternating between the two: one auth.test each, not one a
            # switch (the cache is keyed by the installation a request names, not by what auth.test answers).
            store = services.clients.installation_store
            other = store.find_installation(enterprise_id=None, team_id=TEAM_ID)
            other.team_id, other.bot_token = "T0OTHERWS", "xoxb-other-workspace"
            store.save(other)
            standin.add_workspace_token("xoxb-other-workspace", "T0OTHERWS")
            for team in ("T0OTHERWS", TEAM_ID, "T0OTHERWS", TEAM_ID):
                slack.team_id = team
                assert _help_answered(slack, responses)
            slack.team_id = TEAM_ID
            assert [call.token for call in standin.calls_to("auth.test")[before:]] == [first_token, "xoxb-other-workspace"]
            before = len(standin.calls_to("auth.test"))

            # A rotated token (or a reinstall) is saved as the installation's newest: authorized anew, once.
            installation = store.find_installation(enterprise_id=None, team_id=TEAM_ID)
            installation.bot_token = "xoxb-rotated-token"
            store.save(installation)
            standin.add_workspace_token("xoxb-rotated-token", TEAM_ID)
            for _ in range(3):
                assert _help_answered(slack, responses)
            assert [call.token for call in standin.calls_to("auth.test")[before:]] == ["xoxb-rotated-token"]

            # Uninstalled (the installation deleted): nothing is authorized from the cache, and no auth.test.
            store.delete_installation(enterprise_id=None, team_id=TEAM_ID)
            store.delete_bot(enterprise_id=None, team_id=TEAM_ID)
            slack.command("U0ANA", "help")
            # Bolt answers a command it cannot authorize at its response_url with its "install this app" text.
            answer = eventually(lambda: responses.messages(slack.last_response_url))[-1]["text"]
            assert "install this app" in answer.lower() and "/compass join" not in answer, answer
            assert len(standin.calls_to("auth.test")[before:]) == 1
        finally:
            slack.close()


def test_a_click_reads_the_installation_store_once(standin, database_url, engine, responses):
    """A click from someone other than the installer: one lookup of the bot's token, not also one of a user token
    the app never asks for (Bolt's default looks for the clicking person's own installation on every request)."""
    standin.register_oauth_app(CLIENT_ID, CLIENT_SECRET)
    services = _oauth_services(standin, database_url, engine)
    with running_bot(services) as url:
        _install(standin, url, installer="U0ADMIN")
        store = services.clients.installation_store
        lookups: list[str] = []
        for name in ("find_installation", "find_bot"):
            original = getattr(store, name)
            setattr(store, name, lambda *args, _name=name, _original=original, **kwargs: (lookups.append(_name),
                                                                                           _original(*args, **kwargs))[1])
        slack = SlackRequests(endpoint=f"{url}/slack/events", signing_secret=SIGNING_SECRET, team_id=TEAM_ID,
                              responses=responses, standin=standin)
        try:
            assert slack.action("U0MEMBER", "forget_me_cancel", "cancel", block_id="forget_me").status_code == 200
            answer = eventually(lambda: responses.messages(slack.last_response_url))[-1]["text"]
            assert answer.startswith("Nothing was deleted")
            assert lookups == ["find_bot"]
        finally:
            slack.close()


def test_a_started_web_process_authorizes_each_installation_before_the_first_click(standin, database_url, engine, responses):
    """`serve` authorizes every stored installation in the background at start: a workspace's first click after a
    restart no longer waits for its auth.test (in bench_workspaces.py those first clicks were the whole p99)."""
    from bot.runtime.app import warm_up_in_background

    standin.register_oauth_app(CLIENT_ID, CLIENT_SECRET)
    with running_bot(_oauth_services(standin, database_url, engine)) as url:
        _install(standin, url)

    warm_ups: list = []
    with running_bot(_oauth_services(standin, database_url, engine), warm_ups) as url:  # a new process
        before = len(standin.calls_to("auth.test"))
        warm_up_in_background(warm_ups).join(timeout=10)
        assert [call.token for call in standin.calls_to("auth.test")[before:]] == [standin.bot_token]
        slack = SlackRequests(endpoint=f"{url}/slack/events", signing_secret=SIGNING_SECRET, team_id=TEAM_ID,
                              responses=responses, standin=standin)
        try:
            assert slack.action("U0MEMBER", "forget_me_cancel", "cancel", block_id="forget_me").status_code == 200
            assert eventually(lambda: responses.messages(slack.last_response_url))[-1]["text"].startswith("Nothing was deleted")
            assert len(standin.calls_to("auth.test")) == before + 1
        finally:
            slack.close()


def test_a_started_web_process_knows_the_recorded_grid_orgs(standin, database_url, engine, responses, monkeypatch):
    """A Grid program's org is recorded at install; a web process that has read those records at start does not
    write them again on a workspace's first request (one writing transaction less on that click), whether the app
    is installed in the workspace or org-wide, and authorizes neither from a click."""
    import bot.runtime.app as app_module
    from bot.runtime.app import warm_up_in_background
    from tests.test_oauth_install import GRID

    writes: list[str] = []
    record = app_module.remember_installation
    monkeypatch.setattr(app_module, "remember_installation", lambda engine, **kwargs: (writes.append(kwargs["team_id"]),
                                                                                         record(engine, **kwargs))[1])
    for org_install in (False, True):
        standin.register_oauth_app(CLIENT_ID, CLIENT_SECRET, enterprise_id=GRID, org_install=org_install)
        standin.add_user("W0ANA", name="w0ana", real_name="W0ANA", tz="America/Chicago")
        with running_bot(_oauth_services(standin, database_url, engine)) as url:
            _install(standin, url, installer="W0ADMIN")

        for warm, expected_writes in ((False, 1), (True, 0)):  # a process without the start-up work, then one with
            warm_ups: list = []
            with running_bot(_oauth_services(standin, database_url, engine), warm_ups if warm else None) as url:
                if warm:
                    warm_up_in_background(warm_ups).join(timeout=10)
                before_writes, before_auth = len(writes), len(standin.calls_to("auth.test"))
                slack = SlackRequests(endpoint=f"{url}/slack/events", signing_secret=SIGNING_SECRET, team_id=TEAM_ID,
                                      responses=responses, standin=standin, enterprise_id=GRID, org_install=org_install)
                try:
                    slack.action("W0ANA", "forget_me_cancel", "cancel", block_id="forget_me")
                    answer = eventually(lambda: responses.messages(slack.last_response_url))[-1]["text"]
                    assert answer.startswith("Nothing was deleted"), answer
                finally:
                    slack.close()
                assert len(writes) - before_writes == expected_writes, (org_install, warm)
                assert len(standin.calls_to("auth.test")) - before_auth == (0 if warm else 1), (org_install, warm)
