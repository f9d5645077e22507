"""`compass-bot roster import FILE.csv`: bulk enrolment by an admin."""

from __future__ import annotations

import argparse
import sys

from typing import TYPE_CHECKING

from bot.runtime.settings import ConfigError
from bot.domain.roster import COLUMNS, read_roster

if TYPE_CHECKING:
    from bot.runtime.services import Services

EXIT_INVALID = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    roster = subparsers.add_parser("roster", help="import people from a CSV roster", description="Roster management.")
    roster_commands = roster.add_subparsers(dest="roster_command", metavar="ACTION", required=True)
    imp = roster_commands.add_parser(
        "import",
        help="invite everyone in a CSV file",
        description=(
            "Validate a roster CSV and invite everyone in it. Header: " + ",".join(COLUMNS) + " (optional: availability). "
            "If any row is invalid nothing is imported. Re-importing updates people in place. "
            "Invited people get a DM with a Join button and become members once they consent."
        ),
    )
    imp.add_argument("file", metavar="FILE.csv", help="the roster file (UTF-8 CSV)")
    imp.add_argument("--dry-run", action="store_true", help="validate only; write nothing and send nothing")
    imp.add_argument("--team", metavar="TEAM_ID", help="the workspace to import into (needed with multi-workspace OAuth installs)")
    imp.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    result = read_roster(args.file)
    if not result.ok:
        print(f"{args.file}: {len(result.errors)} problem(s); nothing was imported:", file=sys.stderr)
        for error in result.errors:
            print(f"{args.file}:{error.line}: {error.message}" if error.line else f"{args.file}: {error.message}", file=sys.stderr)
        return EXIT_INVALID
    from bot.slack.render import render

    if args.dry_run:
        print(render("roster_import.j2", dry_run=True, total=len(result.rows)))
        return 0

    from bot.flows.enrolment import queue_invitation
    from bot.runtime.process import open_services
    from storage import audit
    from storage.db import session_scope
    from storage.members import invite_from_roster
    from storage.workspaces import ensure_workspace

    services = open_services(require_slack=True)
    team_id, team_name = _workspace(services, args.team)
    flagged = _not_full_members(services, team_id, result.rows)
    if flagged:
        print(f"{args.file}: {len(flagged)} problem(s); nothing was imported:", file=sys.stderr)
        for line, user_id, kind in flagged:
            print(f"{args.file}:{line}: " + render("user_kind.j2", kind="roster", user_id=user_id, account=kind), file=sys.stderr)
        return EXIT_INVALID
    created = updated = queued = 0
    with session_scope(services.engine) as session:
        ensure_workspace(session, team_id=team_id, name=team_name)
        for row in result.rows:
            member, is_new = invite_from_roster(session, team_id=team_id, person=row.person, email=row.email)
            created += is_new
            updated += not is_new
            if member.status == "invited" and member.invitation_sent_at is None:
                queued += queue_invitation(session, member=member)
        audit.record(session, team_id=team_id, actor_id="cli", action="roster_imported", rows=len(result.rows), created=created)
    print(render("roster_import.j2", dry_run=False, total=len(result.rows), created=created, updated=updated, queued=queued))
    return 0


def _workspace(services: "Services", team: str | None) -> tuple[str, str]:
    from bot.slack.client import call

    if team:
        return team, ""
    if services.settings.oauth_enabled:
        raise ConfigError("--team is needed: with OAuth installs, name the workspace (its team ID, like T012ABCDEF)")
    outcome = call(services.clients.default, "auth.test")
    if not outcome.ok:
        raise ConfigError(f"SLACK_BOT_TOKEN: Slack refused auth.test at {services.settings.slack_api_url}: {outcome.error}")
    return outcome.data.get("team_id", ""), outcome.data.get("team", "")


def _not_full_members(services: "Services", team_id: str, rows: list) -> list[tuple[int, str, str]]:
    """(line, user ID, kind) of every row whose person users.info says is deactivated, a bot or a guest."""
    from bot.flows.directory_changes import account_kind

    client = services.clients.for_team(team_id)
    flagged = []
    for row in rows:
        kind = account_kind(client, row.person.user_id)
        if kind is not None:
            flagged.append((row.line, row.person.user_id, kind))
    return flagged
