"""Settings from the environment (and a ``.env`` file).

A missing or malformed setting raises :class:`ConfigError` with one line naming the
variable and what is expected; the CLI prints it and exits with status 2.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.domain.crisis import CountryResources, resources_for
from bot.domain.people import SLACK_USER_ID

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite:///./compass.db"


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line for a person."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False)

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    compass_admins: str = ""
    compass_timezone: str = "America/New_York"
    port: int = Field(default=3000, ge=1, le=65535)
    compass_topics_file: str | None = None
    compass_min_group: int = 5
    compass_holiday_country: str = "US"
    compass_holiday_subdivision: str | None = None
    # Where most members work: crisis resources for anyone who has not stated a country (bot/domain/crisis.py).
    compass_country: str = "US"
    # Replaces the table's emergency number for the deployment's country; empty: the table's.
    compass_emergency_number: str = ""
    # Slack does not publish the workspace-wide chat.postMessage budget; this is ours.
    compass_posts_per_minute: int = Field(default=300, ge=1, le=10_000)
    # Deliveries in flight at once in one clock; the rate limiter, not this, sets the pace.
    compass_clock_workers: int = Field(default=8, ge=1, le=64)
    # A clock process lowers its CPU priority by this (Unix nice) at start: on a machine it shares with a web
    # process, clicks are answered before scheduled deliveries get the CPU. 0 keeps equal priority.
    compass_clock_nice: int = Field(default=10, ge=0, le=19)
    # PostgreSQL connections this process may open: (web + clock processes) x this must stay under the
    # server's max_connections (100 by default, 3 of them reserved for superusers).
    compass_db_connections: int = Field(default=25, ge=2, le=500)
    # Replaces the table's lines for the deployment's country, separated by ";"; empty: the table's.
    compass_crisis_resources: str = ""

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: str | None) -> str | None:
        if value and not value.startswith("xoxb-"):
            raise ValueError("expected a bot token starting with xoxb- (Slack app > OAuth & Permissions)")
        return value or None

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: str | None) -> str | None:
        if value and not value.startswith("xapp-"):
            raise ValueError("expected an app-level token starting with xapp- (Slack app > Basic Information)")
        return value or None

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("expected an http(s) URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value.startswith("postgres://"):
            value = "postgresql+psycopg://" + value[len("postgres://") :]
        elif value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value[len("postgresql://") :]
        if not (value.startswith("sqlite:///") or value.startswith("postgresql+psycopg://")):
            raise ValueError("expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
        return value

    @field_validator("compass_admins")
    @classmethod
    def _admins(cls, value: str) -> str:
        for item in _split_ids(value):
            if not SLACK_USER_ID.match(item):
                raise ValueError(f"expected comma-separated Slack user IDs like U012ABCDEF, got {item!r}")
        return value

    @field_validator("compass_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected an IANA time zone such as America/Chicago, got {value!r}") from None
        return value

    @field_validator("compass_min_group")
    @classmethod
    def _min_group(cls, value: int) -> int:
        if value < 3:
            raise ValueError("the anonymity threshold can never be below 3")
        return value

    @field_validator("compass_holiday_country")
    @classmethod
    def _holiday_country(cls, value: str) -> str:
        import holidays

        if value.upper() not in holidays.list_supported_countries():
            raise ValueError(f"expected an ISO country code with a holiday calendar, such as US or CA, got {value!r}")
        return value.upper()

    @cached_property
    def admin_ids(self) -> frozenset[str]:
        """COMPASS_ADMINS, for a single-workspace bot token only: with OAuth the app serves many
        workspaces, and admins are granted per workspace (the installer first; `compass-bot admins`)."""
        return frozenset() if self.oauth_enabled else frozenset(_split_ids(self.compass_admins))

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @property
    def oauth_enabled(self) -> bool:
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def crisis_resources(self) -> list[str]:
        """The lines for someone who stated no country: the deployment's country."""
        return self.crisis_for(None).lines()

    def crisis_for(self, country: str | None) -> CountryResources:
        """Crisis resources for a member's stated country (``Member.country``), or the deployment's."""
        return resources_for(
            country,
            deployment_country=self.compass_country,
            deployment_lines=[line.strip() for line in self.compass_crisis_resources.split(";") if line.strip()],
            deployment_emergency_number=self.compass_emergency_number.strip() or None,
        )

    def require_slack(self) -> None:
        """What running against Slack needs; checked by the commands that talk to Slack."""
        if not self.slack_bot_token and not self.oauth_enabled:
            raise ConfigError(
                "SLACK_BOT_TOKEN is not set: expected a bot token starting with xoxb- "
                "(or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for multi-workspace installs)"
            )
        if bool(self.slack_client_id) != bool(self.slack_client_secret):
            missing = "SLACK_CLIENT_SECRET" if self.slack_client_id else "SLACK_CLIENT_ID"
            raise ConfigError(f"{missing} is not set: OAuth installs need both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET")
        if not self.slack_signing_secret and not self.socket_mode:
            raise ConfigError(
                "SLACK_SIGNING_SECRET is not set: expected the signing secret from the Slack app's Basic Information page"
            )


def _split_ids(value: str) -> list[str]:
    return [item.strip().upper() for item in re.split(r"[,\s]+", value or "") if item.strip()]


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else "setting"
        message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
        raise ConfigError(f"{field.upper()} is invalid: {message}") from None
