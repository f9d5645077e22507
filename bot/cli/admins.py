"""``compass-bot admins``: grant, revoke and list program admins (per workspace, or per Grid org
for an org-wide install). With a single-workspace bot token, COMPASS_ADMINS works as well."""

from __future__ import annotations

import argparse

from bot.runtime.process import open_services
from storage.roles import admin_grants, grant_admin, revoke_admin


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("admins", help="grant, revoke or list program admins")
    actions = parser.add_subparsers(dest="admins_action", metavar="ACTION", required=True)
    for name, help_text in (("grant", "make a person an admin of a workspace's program"),
                            ("revoke", "take the admin role away")):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--team", required=True, help="team ID (T…), or the org's ID (E…) for an org-wide install")
        action.add_argument("user", help="Slack user ID (U… or W…)")
        action.set_defaults(handler=_change)
    listing = actions.add_parser("list", help="list every admin grant")
    listing.set_defaults(handler=_list)


def _engine():  # noqa: ANN202
    return open_services(require_slack=False).engine


def _change(args: argparse.Namespace) -> int:
    engine = _engine()
    if args.admins_action == "grant":
        grant_admin(engine, team_id=args.team, user_id=args.user, granted_by="cli")
        print(f"{args.user} is an admin of {args.team}")
        return 0
    if revoke_admin(engine, team_id=args.team, user_id=args.user):
        print(f"{args.user} is no longer an admin of {args.team}")
        return 0
    print(f"{args.user} was not an admin of {args.team}")
    return 1


def _list(args: argparse.Namespace) -> int:
    for team_id, user_id in admin_grants(_engine()):
        print(f"{team_id}\t{user_id}")
    return 0
