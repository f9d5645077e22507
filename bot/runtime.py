"""Start-up shared by the commands: settings, services, a migrated database."""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError, SQLAlchemyError

from bot.config import ConfigError, Settings, load_settings
from bot.services import Services
from storage.migrate import is_up_to_date, upgrade

log = logging.getLogger(__name__)


def open_services(*, require_slack: bool, migrate: bool | None = None, settings: Settings | None = None) -> Services:
    """Settings checked, database reachable and migrated (on SQLite, or when asked)."""
    settings = settings or load_settings()
    if require_slack:
        settings.require_slack()

    services = Services.from_settings(settings)
    services.catalogue  # noqa: B018 - validated at start: a broken topics file stops here with every problem listed
    prepare_database(services, migrate=settings.is_sqlite if migrate is None else migrate)
    return services


def prepare_database(services: Services, *, migrate: bool) -> None:
    engine = services.engine
    where = engine.url.render_as_string(hide_password=True)
    try:
        if migrate:
            upgrade(engine)
        elif not is_up_to_date(engine):
            raise ConfigError(f"DATABASE_URL: the schema of {where} is not up to date; run `compass-bot db upgrade` first")
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ConfigError(f"DATABASE_URL: cannot open {where}: {reason}") from None
    except SQLAlchemyError as exc:
        raise ConfigError(f"DATABASE_URL: {where}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
