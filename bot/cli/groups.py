"""`compass-bot groups form`: form COMPASS groups.

Without ``--roster`` it places every active, enrolled member who is not in an active
group; ``--dry-run`` shows the groups without saving anything, and without it the
groups are stored and the clock sets each one up in Slack (private channel, invitations,
welcome, choice of meeting time). With ``--roster FILE.csv`` it previews groups for
everyone in a roster file (the roster import format) without touching the database or
Slack, so an admin can try sizes, modes and seeds before inviting anyone.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Sequence

from bot.domain.group_formation import (
    ALLOWED_SIZE_MAX,
    ALLOWED_SIZE_MIN,
    CAREER_BANDS,
    MODES,
    FormationResult,
    FormationSettings,
    ProposedGroup,
    form_groups,
)
from bot.domain.people import Person
from bot.domain.roster import COLUMNS, read_roster

if TYPE_CHECKING:
    from bot.runtime.services import Services

EXIT_USAGE = 2
SLOTS_SHOWN = 6


class PeopleUnavailable(Exception):
    """The people to group could not be read; each line of ``problems`` is printed on stderr."""

    def __init__(self, summary: str, problems: Sequence[str] = ()):
        super().__init__(summary)
        self.summary = summary
        self.problems = list(problems)


def register(subparsers: argparse._SubParsersAction) -> None:
    groups = subparsers.add_parser("groups", help="form COMPASS groups", description="COMPASS group management.")
    actions = groups.add_subparsers(dest="groups_command", metavar="ACTION", required=True)
    form = actions.add_parser(
        "form",
        help="form groups from enrolled members (or preview them from a roster file)",
        description=(
            "Place every active, enrolled member who is not in an active group into groups of size-min to size-max, "
            "keeping supervisors and evaluators apart and residents and attendings in separate groups (unless "
            "--career-bands mixed), then favouring a common weekly hour, a spread of career stages, "
            "a willing lead and (in mixed mode) a mix of departments. Without --dry-run the groups are saved and the "
            "clock creates a private channel for each, invites the members, posts a welcome and asks for a meeting time. "
            "With --roster, previews groups for everyone in that CSV (header: "
            + ",".join(COLUMNS)
            + ", optional availability) without touching the database."
        ),
    )
    form.add_argument(
        "--roster",
        metavar="FILE.csv",
        help="preview groups for everyone in this roster file instead; nothing is saved",
    )
    form.add_argument("--team", metavar="TEAM_ID", help="the workspace whose members to group (needed when the database holds several)")
    form.add_argument("--cohort", metavar="NAME", help="a label for the new groups, such as 'Fall 2025' (default: the month)")
    form.add_argument("--mode", choices=MODES, default="mixed", help="mixed (default) or same-specialty groups")
    form.add_argument(
        "--career-bands",
        choices=CAREER_BANDS,
        default="single",
        help="single (default): residents with residents, attendings with attendings; mixed: your explicit choice "
        "to mix them, still never a resident with an attending of their own department",
    )
    allowed = f"{ALLOWED_SIZE_MIN}-{ALLOWED_SIZE_MAX}"
    form.add_argument("--size-min", type=int, default=6, metavar="N", help=f"smallest group ({allowed}, default 6)")
    form.add_argument("--size-max", type=int, default=8, metavar="N", help=f"largest group ({allowed}, default 8)")
    form.add_argument("--seed", type=int, default=0, metavar="N", help="same seed, same groups (default 0)")
    form.add_argument(
        "--dry-run",
        action="store_true",
        help="show the groups without saving them or touching Slack (a --roster preview never creates any)",
    )
    form.add_argument("--json", action="store_true", help="print JSON instead of text")
    form.set_defaults(handler=run_form)


def run_form(args: argparse.Namespace) -> int:
    try:
        settings = FormationSettings(
            size_min=args.size_min, size_max=args.size_max, mode=args.mode, seed=args.seed, career_bands=args.career_bands
        )
    except ValueError as exc:
        print(f"compass-bot groups form: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.roster:
        return form_from_database(args, settings)
    try:
        people, source = _people_for(args)
    except PeopleUnavailable as problem:
        print(problem.summary, file=sys.stderr)
        for line in problem.problems:
            print(line, file=sys.stderr)
        return EXIT_USAGE
    result = form_groups(people, settings, cohort=args.cohort)
    if args.json:
        print(result.to_json())
    else:
        print(describe_preview(result, people, settings, source=source))
    return 0


def _people_for(args: argparse.Namespace) -> tuple[list[Person], str]:
    """Who to place from a roster file, and a phrase naming where they came from."""
    return people_from_roster(args.roster), f"roster {args.roster}"


def form_from_database(args: argparse.Namespace, settings: FormationSettings) -> int:
    """Form groups from enrolled members; with --dry-run nothing is written (the transaction is rolled back)."""
    from sqlmodel import Session

    from bot.flows.groups import default_cohort, form_and_apply, plan_formation
    from bot.slack.render import render
    from bot.runtime.process import open_services
    from storage.db import session_scope, utcnow

    services = open_services(require_slack=False)
    try:
        team_id = _team(services, args.team)
    except PeopleUnavailable as problem:
        print(problem.summary, file=sys.stderr)
        return EXIT_USAGE
    cohort = args.cohort or default_cohort(utcnow())
    if args.dry_run:
        with Session(services.engine) as session:
            plan = plan_formation(session, team_id=team_id, settings=settings, cohort=cohort,
                                  default_tz=services.settings.compass_timezone)
        ids: list[int] = []
    else:
        with session_scope(services.engine) as session:
            plan, created = form_and_apply(session, services, team_id=team_id, settings=settings, cohort=cohort, actor_id="cli")
            ids = [group.id for group in created or []]
    result = plan.result
    if args.json:
        data = result.as_dict()
        for group, group_id in zip(data["groups"], ids):
            group["group_id"] = group_id
        print(json.dumps(data, indent=2, ensure_ascii=False))
    elif args.dry_run:
        print(describe_preview(result, plan.people, settings, source=f"enrolled members of {team_id}"))
    else:
        placed = sum(len(group.members) for group in result.groups)
        print(render("group_cli.j2", count=len(ids), placed=placed, team_id=team_id, mode=settings.mode,
                     size_min=settings.size_min, size_max=settings.size_max, seed=settings.seed))
        by_id = {person.user_id: person for person in plan.people}
        for group in result.groups:
            print()
            print("\n".join(_describe_group(group, by_id)))
        if result.warnings:
            print("\nWarnings:")
            print("\n".join(f"  ! {warning}" for warning in result.warnings))
    return 0


def _team(services: "Services", team: str | None) -> str:
    """The workspace to group: --team, or the only one the database knows."""
    from sqlmodel import Session, select

    from storage.models import Workspace

    if team:
        return team
    with Session(services.engine) as session:
        teams = list(session.exec(select(Workspace.team_id).order_by(Workspace.team_id)))
    if len(teams) == 1:
        return teams[0]
    if not teams:
        raise PeopleUnavailable("compass-bot groups form: nobody has joined yet, so there is no one to group")
    raise PeopleUnavailable(f"compass-bot groups form: the database holds several workspaces ({', '.join(teams)}); choose one with --team")


def people_from_roster(path: str) -> list[Person]:
    result = read_roster(path)
    if not result.ok:
        raise PeopleUnavailable(
            f"{path}: {len(result.errors)} problem(s); no groups were formed:",
            [f"{path}:{e.line}: {e.message}" if e.line else f"{path}: {e.message}" for e in result.errors],
        )
    return result.people


def describe_preview(
    result: FormationResult, people: Sequence[Person], settings: FormationSettings, *, source: str
) -> str:
    """The text an admin reads after ``groups form`` without ``--json``."""
    by_id = {person.user_id: person for person in people}
    placed = sum(len(group.members) for group in result.groups)
    lines = [
        f"Preview from {source}: {placed} {'person' if placed == 1 else 'people'} in {len(result.groups)} "
        f"group{'' if len(result.groups) == 1 else 's'} ({settings.mode}, "
        f"{'residents and attendings apart' if settings.career_bands == 'single' else 'residents and attendings mixed'}, "
        f"sizes {settings.size_min}-"
        f"{settings.size_max}, seed {settings.seed}). Nothing was saved."
    ]
    for group in result.groups:
        lines.append("")
        lines.extend(_describe_group(group, by_id))
    if result.warnings:
        lines.append("")
        lines.append("Warnings:")
        lines.extend(f"  ! {warning}" for warning in result.warnings)
    return "\n".join(lines)


def _describe_group(group: ProposedGroup, by_id: dict[str, Person]) -> list[str]:
    heading = f"{group.name}: {len(group.members)} members"
    if group.career_band:
        heading += f", {group.career_band}"
    if group.specialty:
        heading += f", {group.specialty}"
    if group.lead:
        heading += f", lead {_name(by_id[group.lead])}"
    lines = [heading]
    for user_id in group.members:
        person = by_id[user_id]
        details = [str(person.career_stage) if person.career_stage else "", person.specialty, person.department]
        lines.append("  - " + " | ".join([_name(person)] + [d for d in details if d]))
    if group.common_slots:
        shown = ", ".join(group.common_slots[:SLOTS_SHOWN])
        more = len(group.common_slots) - SLOTS_SHOWN
        lines.append(f"  common hours ({group.timezone}): {shown}" + (f" and {more} more" if more > 0 else ""))
    lines.extend(f"  ! {warning}" for warning in group.warnings)
    return lines


def _name(person: Person) -> str:
    return f"{person.display_name} ({person.user_id})" if person.display_name else person.user_id
