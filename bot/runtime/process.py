"""Start-up shared by the commands: settings, services, a migrated database."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import subprocess
import sys
from typing import TYPE_CHECKING

from bot.runtime.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from bot.runtime.services import Services

log = logging.getLogger(__name__)

# glibc's mallopt parameter for the number of malloc arenas (M_ARENA_MAX in <malloc.h>).
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def open_services(
    *,
    require_slack: bool,
    migrate: bool | None = None,
    settings: Settings | None = None,
    database_ready: bool = False,
) -> "Services":
    """Settings checked, database reachable and migrated (on SQLite, or when asked).

    ``database_ready`` says the caller already did that, in a child process (see
    ``prepare_database_in_child``), so this process never loads Alembic.
    """
    from bot.runtime.services import Services

    settings = settings or load_settings()
    if require_slack:
        settings.require_slack()

    services = Services.from_settings(settings)
    services.catalogue  # noqa: B018 - validated at start: a broken topics file stops here with every problem listed
    if not database_ready:
        prepare_database(services, migrate=settings.is_sqlite if migrate is None else migrate)
    return services


def prepare_database(services: "Services", *, migrate: bool) -> None:
    from storage.migrate import SchemaProblem, prepare

    try:
        prepare(services.engine, migrate=migrate)
    except SchemaProblem as problem:
        raise ConfigError(str(problem)) from None


def prepare_database_in_child(settings: Settings) -> None:
    """What ``prepare_database`` does (migrate SQLite, check PostgreSQL), in a short-lived child.

    The long-running processes call this before they import anything heavy: Alembic and the
    migration scripts then never take memory in them (about 15 MB), and the child, which loads
    only what migrating needs, has exited before they grow.
    """
    action = "upgrade" if settings.is_sqlite else "check"
    env = {**os.environ, "DATABASE_URL": settings.database_url}
    result = subprocess.run([sys.executable, "-m", "storage.migrate", action], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        raise ConfigError(lines[-1] if lines else f"preparing the database ({action}) failed")
    log.info("database ready: %s", result.stdout.strip())


def limit_malloc_arenas() -> bool:
    """Use few malloc arenas, as MALLOC_ARENA_MAX=2 would (unless the operator set it).

    glibc gives each thread that allocates its own arena, up to 8 per core; with the web
    server's and the clock's threads that is tens of megabytes of mostly empty heaps. Python's
    small objects come from its own allocator, so fewer arenas cost next to nothing. Call it
    before starting threads. Returns whether the limit is in place (False off glibc).
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS))
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to tune
        return False
