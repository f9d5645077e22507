"""A wave's first deliveries ask for every workspace's Slack client at once (bot/runtime/services.py).

Each workspace's first client costs a lookup of its installation (database round trips, a token
refresh at most). Made one after another under one lock, the last of 20 workspaces waited for the
19 others' lookups before its first post: with 4 clock processes on a loaded machine that was most
of the seconds each workspace's budget sat unused at the start of the wave (bench/README.md).
"""

from __future__ import annotations

import threading
import time

from slack_sdk.oauth.installation_store import Bot

from tests.conftest import SIGNING_SECRET

LOOKUP = 0.2  # seconds one workspace's installation lookup takes here
WORKSPACES = 8


def _oauth_clients(standin, database_url, engine):  # noqa: ANN001, ANN202
    from bot.runtime.services import Services
    from bot.runtime.settings import load_settings

    settings = load_settings(
        _env_file=None, slack_bot_token=None, slack_app_token=None, slack_signing_secret=SIGNING_SECRET,
        slack_client_id="1111.2222", slack_client_secret="oauth-secret", slack_api_url=standin.url, database_url=database_url,
    )
    return Services(settings=settings, engine=engine).clients


def _slow_lookups(clients, lookups: list[str]) -> None:  # noqa: ANN001
    def find_bot(team_id: str) -> Bot:
        lookups.append(team_id)
        time.sleep(LOOKUP)
        return Bot(app_id="A0", enterprise_id=None, team_id=team_id, bot_token=f"xoxb-{team_id}", bot_id="B0",
                   bot_user_id="UBOT", installed_at=time.time())

    clients._find_bot = find_bot


def _at_once(calls: list) -> list:  # noqa: ANN001
    start, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(n: int) -> None:
        start.wait()
        results[n] = calls[n]()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_workspaces_first_clients_are_looked_up_side_by_side(standin, database_url, engine):
    clients, lookups = _oauth_clients(standin, database_url, engine), []
    clients.installation_store  # noqa: B018 - its tables made before the clock starts
    teams = [f"T{n:02d}" for n in range(WORKSPACES)]
    # Each lookup waits until every workspace's lookup has begun: side by side they all meet;
    # one after another, the first waits alone until the barrier gives up, and the rest never overlap.
    together, inside, most = threading.Barrier(WORKSPACES, timeout=5), [0], [0]
    guard = threading.Lock()

    def find_bot(team_id: str) -> Bot:
        with guard:
            lookups.append(team_id)
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            together.wait()
        except threading.BrokenBarrierError:
            pass
        with guard:
            inside[0] -= 1
        return Bot(app_id="A0", enterprise_id=None, team_id=team_id, bot_token=f"xoxb-{team_id}", bot_id="B0",
                   bot_user_id="UBOT", installed_at=time.time())

    clients._find_bot = find_bot
    got = _at_once([lambda team=team: clients.for_team(team) for team in teams])
    assert [client.token for client in got] == [f"xoxb-{team}" for team in teams]
    assert sorted(lookups) == teams
    assert most[0] == WORKSPACES  # every workspace's lookup was under way at once


def test_one_workspace_asked_for_by_many_threads_is_looked_up_once(standin, database_url, engine):
    clients, lookups = _oauth_clients(standin, database_url, engine), []
    _slow_lookups(clients, lookups)
    got = _at_once([lambda: clients.for_team("T0SAME") for _ in range(6)])
    assert lookups == ["T0SAME"]
    assert {id(client) for client in got} == {id(got[0])}
