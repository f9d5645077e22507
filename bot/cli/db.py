"""`compass-bot db upgrade`: apply the Alembic migrations to DATABASE_URL."""

from __future__ import annotations

import argparse



def register(subparsers: argparse._SubParsersAction) -> None:
    db = subparsers.add_parser("db", help="database maintenance", description="Database maintenance.")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_commands.add_parser(
        "upgrade",
        help="apply migrations to DATABASE_URL",
        description="Apply every Alembic migration to the database named by DATABASE_URL (default sqlite:///./compass.db).",
    )
    up.set_defaults(handler=run_upgrade)
    check = db_commands.add_parser(
        "check",
        help="check that DATABASE_URL is reachable and its schema up to date",
        description="Exit 0 if the database named by DATABASE_URL is reachable and fully migrated; otherwise say why and exit 2.",
    )
    check.set_defaults(handler=run_check)


def run_upgrade(args: argparse.Namespace) -> int:
    from bot.runtime.process import open_services
    from storage.migrate import current_revision

    services = open_services(require_slack=False, migrate=True)
    print(f"database is at revision {current_revision(services.engine)}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from bot.runtime.process import open_services
    from storage.migrate import current_revision

    services = open_services(require_slack=False, migrate=False)
    print(f"database is at revision {current_revision(services.engine)}, the latest")
    return 0
