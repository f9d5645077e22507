from __future__ import annotations

import os
from dataclasses import dataclass

import freezegun
import pytest

from tests.support import database

# The HTTP server's event loop keeps real monotonic time under freezegun (its timers would
# otherwise stall); everything the bot itself reads, signatures included, sees the frozen clock.
freezegun.configure(extend_ignore_list=["asyncio"])

SIGNING_SECRET = "test-signing-secret"
TEAM_ID = "T0COMPASS"
BOT_TOKEN = "xoxb-test"
ADMIN_ID = "U0ADMIN"


@pytest.fixture(autouse=True)
def quick_slack_budgets():
    """Tests compress hours into seconds: keep the client-side rate limiter, without its real-time waits.
    (tests/test_rate_limits.py checks the limiter itself with a fake clock.)"""
    from bot.slack.rate_limits import SlackRateLimiter
    from bot.slack.client import configure_rate_limits, rate_limiter

    previous = rate_limiter()
    configure_rate_limits(SlackRateLimiter(posts_per_minute=previous.posts_per_minute, scale=10_000))
    yield
    configure_rate_limits(previous)


@pytest.fixture(params=database.backends())
def database_url(request, tmp_path) -> str:  # noqa: ANN001
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'compass.db'}"
    engine = database.postgres_engine()
    database.empty_postgres(engine)
    return database.postgres_url()


@pytest.fixture
def engine(database_url):  # noqa: ANN001
    from storage.db import make_engine
    from storage.migrate import upgrade

    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def standin():
    from bot.standin import SlackStandIn

    server = SlackStandIn(team_id=TEAM_ID, team_name="Compass Health", bot_token=BOT_TOKEN, bot_user_id="UBOT")
    server.start()
    server.add_user(ADMIN_ID, name="admin", real_name="Avery Admin", tz="America/New_York", is_admin=True)
    server.add_user("U0ANA", name="ana", real_name="Ana Ruiz", tz="America/Chicago")
    server.add_user("U0BEN", name="ben", real_name="Ben Okafor", tz="America/Denver")
    yield server
    server.stop()


@pytest.fixture
def settings(standin, database_url):  # noqa: ANN001
    from bot.runtime.settings import load_settings

    return load_settings(
        _env_file=None,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_app_token=None,
        slack_client_id=None,
        slack_client_secret=None,
        slack_api_url=standin.url,
        database_url=database_url,
        compass_admins=ADMIN_ID,
        compass_timezone="America/New_York",
    )


@pytest.fixture
def cli_env(monkeypatch, tmp_path, standin, database_url):  # noqa: ANN001
    """The environment `compass-bot` reads, pointed at the stand-in and the test database."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(("SLACK_", "COMPASS_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_API_URL", standin.url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("COMPASS_ADMINS", ADMIN_ID)
    return tmp_path


@pytest.fixture
def services(settings, engine):  # noqa: ANN001
    from bot.runtime.services import Services

    return Services(settings=settings, engine=engine)


@dataclass
class RunningBot:
    services: object
    url: str


@pytest.fixture
def bot(services):  # noqa: ANN001
    from tests.support.server import running_bot

    with running_bot(services) as url:
        yield RunningBot(services=services, url=url)


@pytest.fixture
def responses():
    from tests.support.responses import ResponseSink

    sink = ResponseSink()
    yield sink
    sink.close()


@pytest.fixture
def slack(bot, standin, responses):  # noqa: ANN001
    from tests.support.slack_requests import SlackRequests

    requests = SlackRequests(endpoint=f"{bot.url}/slack/events", signing_secret=SIGNING_SECRET, team_id=TEAM_ID,
                             responses=responses, standin=standin)
    yield requests
    requests.close()
