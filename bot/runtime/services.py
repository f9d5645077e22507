"""What the flows and the clock share: settings, the database engine and Slack clients."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from slack_sdk import WebClient
from sqlalchemy import bindparam, exists, select
from sqlalchemy.engine import Engine

from bot.runtime.settings import Settings
from bot.domain.curriculum import Catalogue, load_catalogue
from bot.slack.rate_limits import SlackRateLimiter
from bot.slack.client import configure_rate_limits, make_client, rate_limiter
from storage.db import make_engine
from storage.models import Role

log = logging.getLogger(__name__)

_IS_ADMIN = select(exists().where(
    Role.team_id == bindparam("team_id"), Role.slack_user_id == bindparam("user_id"), Role.role == "admin"
))


class SlackClients:
    """One client for a single-workspace token, or one per installed workspace with OAuth."""

    def __init__(self, settings: Settings, engine: Engine):
        self._settings = settings
        self._engine = engine
        self._by_team: dict[str, WebClient] = {}

    @cached_property
    def installation_store(self):  # noqa: ANN201 - SQLAlchemyInstallationStore | None
        if not self._settings.oauth_enabled:
            return None
        from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore

        store = SQLAlchemyInstallationStore(client_id=self._settings.slack_client_id or "", engine=self._engine)
        store.create_tables()
        return store

    @cached_property
    def default(self) -> WebClient:
        return make_client(self._settings.slack_bot_token, self._settings.slack_api_url)

    def for_team(self, team_id: str) -> WebClient:
        if self.installation_store is None:
            return self.default
        client = self._by_team.get(team_id)
        if client is None:
            bot = self.installation_store.find_bot(enterprise_id=None, team_id=team_id)
            token = bot.bot_token if bot else None
            client = make_client(token, self._settings.slack_api_url)
            if token:
                self._by_team[team_id] = client
        return client


@dataclass
class Services:
    settings: Settings
    engine: Engine
    clients: SlackClients = field(init=False)

    def __post_init__(self) -> None:
        self.clients = SlackClients(self.settings, self.engine)
        if rate_limiter().posts_per_minute != self.settings.compass_posts_per_minute:
            configure_rate_limits(SlackRateLimiter(posts_per_minute=self.settings.compass_posts_per_minute))

    @classmethod
    def from_settings(cls, settings: Settings) -> "Services":
        return cls(settings=settings, engine=make_engine(settings.database_url))

    @cached_property
    def catalogue(self) -> Catalogue:
        extra = self.settings.compass_topics_file
        return load_catalogue(Path(extra) if extra else None)

    def is_admin(self, team_id: str, user_id: str) -> bool:
        if user_id in self.settings.admin_ids:
            return True
        with self.engine.connect() as connection:  # Core, not an ORM session: asked on every /compass help
            return bool(connection.execute(_IS_ADMIN, {"team_id": team_id, "user_id": user_id}).scalar())
