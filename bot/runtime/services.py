"""What the flows and the clock share: settings, the database engine and Slack clients."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.token_rotation import TokenRotator
from sqlalchemy import bindparam, exists, select
from sqlalchemy.engine import Engine

from bot.runtime.settings import Settings
from bot.domain.curriculum import Catalogue, load_catalogue
from bot.slack.rate_limits import SlackRateLimiter
from bot.slack.client import configure_rate_limits, make_client, rate_limiter
from storage.db import make_engine
from storage.rate_budgets import SharedBuckets
from storage.models import Role
from storage.roles import grant_admin
from storage.workspaces import installation_of, remember_installation

log = logging.getLogger(__name__)

# Bolt refreshes a token this long before it expires (Slack's tokens live 12 hours); so do we.
ROTATE_MINUTES_BEFORE_EXPIRY = 120

_IS_ADMIN = select(exists().where(
    Role.team_id == bindparam("team_id"), Role.slack_user_id == bindparam("user_id"), Role.role == "admin"
))


class ProgramInstallationStore(SQLAlchemyInstallationStore):
    """slack-sdk's installation store that also records, at install time, which Grid org serves
    the program and that the installing person is its first admin."""

    def save(self, installation: Installation) -> None:
        super().save(installation)
        key = (installation.enterprise_id if installation.is_enterprise_install else installation.team_id) or ""
        if not key:
            return
        remember_installation(self.engine, team_id=key, enterprise_id=installation.enterprise_id or "",
                              is_org_install=bool(installation.is_enterprise_install))
        if installation.user_id:
            grant_admin(self.engine, team_id=key, user_id=installation.user_id)


class SlackClients:
    """One client for a single-workspace token, or one per program (workspace, or Grid org for an
    org-wide install) with OAuth, its token found under the installation's enterprise ID and rotated
    before it expires when the app has token rotation on."""

    def __init__(self, settings: Settings, engine: Engine):
        self._settings = settings
        self._engine = engine
        self._by_team: dict[str, tuple[WebClient, datetime | None]] = {}
        self._lock = threading.Lock()
        self._team_locks: dict[str, threading.Lock] = {}

    @cached_property
    def installation_store(self) -> ProgramInstallationStore | None:
        if not self._settings.oauth_enabled:
            return None
        store = ProgramInstallationStore(client_id=self._settings.slack_client_id or "", engine=self._engine)
        store.create_tables()
        return store

    @cached_property
    def default(self) -> WebClient:
        return make_client(self._settings.slack_bot_token, self._settings.slack_api_url)

    def for_team(self, team_id: str) -> WebClient:
        """The client for the program keyed ``team_id`` (see :mod:`bot.slack.tenancy`)."""
        with self._lock:  # the installation store's tables are made once, by the first caller
            oauth = self.installation_store is not None
        if not oauth:
            return self.default
        cached = self._cached(team_id)
        if cached is not None:
            return cached
        with self._lock:
            team_lock = self._team_locks.setdefault(team_id, threading.Lock())
        # A lock per workspace: a wave's first deliveries ask for every workspace's client at once, and one
        # workspace's lookup (database round trips, a token refresh) must not hold up the others' first posts.
        with team_lock:
            cached = self._cached(team_id)
            if cached is not None:
                return cached
            bot = self._find_bot(team_id)
            if bot is not None and bot.bot_token_expires_at is not None:
                bot = self._rotated(bot)
            token = bot.bot_token if bot else None
            client = make_client(token, self._settings.slack_api_url)
            if token:
                expires_at = datetime.fromtimestamp(bot.bot_token_expires_at, timezone.utc) if bot.bot_token_expires_at else None
                with self._lock:
                    self._by_team[team_id] = (client, expires_at)
            else:
                log.warning("no installation holds a bot token for %s; its Slack calls will fail", team_id)
            return client

    def _cached(self, team_id: str) -> WebClient | None:
        with self._lock:
            cached = self._by_team.get(team_id)
        return cached[0] if cached is not None and not _expiring(cached[1]) else None

    def _find_bot(self, team_id: str) -> Bot | None:
        store = self.installation_store
        assert store is not None
        enterprise_id, is_org = installation_of(self._engine, team_id) or ("", False)
        if is_org:
            return store.find_bot(enterprise_id=enterprise_id or team_id, team_id=None, is_enterprise_install=True)
        bot = store.find_bot(enterprise_id=enterprise_id or None, team_id=team_id)
        if bot is None and enterprise_id:  # a workspace of an org that installed the app org-wide
            bot = store.find_bot(enterprise_id=enterprise_id, team_id=None, is_enterprise_install=True)
        return bot

    def _rotated(self, bot: Bot) -> Bot:
        rotator = TokenRotator(client_id=self._settings.slack_client_id or "",
                               client_secret=self._settings.slack_client_secret or "",
                               client=make_client(None, self._settings.slack_api_url))
        try:
            refreshed = rotator.perform_bot_token_rotation(bot=bot, minutes_before_expiration=ROTATE_MINUTES_BEFORE_EXPIRY)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("could not refresh the bot token of %s: %s", bot.team_id or bot.enterprise_id, exc)
            return bot
        if refreshed is None:
            return bot
        assert self.installation_store is not None
        self.installation_store.save_bot(refreshed)
        return refreshed


def limiter_for(engine: Engine, current: SlackRateLimiter, posts_per_minute: float) -> SlackRateLimiter:
    """The limiter this process should use: on PostgreSQL the budget every process shares, else its own.

    Keeps ``current`` when it already fits (its scale, which tests and benchmarks set, carries over)."""
    shared = engine.dialect.name == "postgresql"
    if current.posts_per_minute == posts_per_minute and current.shared == shared and (
            not shared or getattr(current.store, "engine", None) is engine):
        return current
    store = SharedBuckets(engine) if shared else None
    return SlackRateLimiter(posts_per_minute=posts_per_minute, scale=current.scale, headroom=current.headroom,
                            reserve=current.reserve, margin=current.margin, store=store)


def _expiring(expires_at: datetime | None) -> bool:
    return expires_at is not None and expires_at - timedelta(minutes=ROTATE_MINUTES_BEFORE_EXPIRY) <= datetime.now(timezone.utc)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    clients: SlackClients = field(init=False)

    def __post_init__(self) -> None:
        self.clients = SlackClients(self.settings, self.engine)
        configure_rate_limits(limiter_for(self.engine, rate_limiter(), self.settings.compass_posts_per_minute))

    @classmethod
    def from_settings(cls, settings: Settings) -> "Services":
        return cls(settings=settings, engine=make_engine(settings.database_url, max_connections=settings.compass_db_connections))

    @cached_property
    def catalogue(self) -> Catalogue:
        extra = self.settings.compass_topics_file
        return load_catalogue(Path(extra) if extra else None)

    def is_admin(self, team_id: str, user_id: str) -> bool:
        if user_id in self.settings.admin_ids:
            return True
        with self.engine.connect() as connection:  # Core, not an ORM session: asked on every /compass help
            return bool(connection.execute(_IS_ADMIN, {"team_id": team_id, "user_id": user_id}).scalar())
