"""`compass-bot groups form`: propose COMPASS groups.

With ``--roster FILE.csv`` it previews groups for everyone in a roster file (the
roster import format) without touching the database or Slack, so an admin can try
sizes, modes and seeds before inviting anyone. ``--roster`` is required for now:
forming groups from enrolled members is not available from the command line yet.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from bot.group_formation import (
    ALLOWED_SIZE_MAX,
    ALLOWED_SIZE_MIN,
    MODES,
    FormationResult,
    FormationSettings,
    ProposedGroup,
    form_groups,
)
from bot.people import Person
from bot.roster import COLUMNS, read_roster

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
        help="propose groups (preview them from a roster file)",
        description=(
            "Place everyone into groups of size-min to size-max, keeping supervisors and evaluators apart, "
            "then favouring a common weekly hour, a spread of career stages, a willing lead and (in mixed mode) "
            "a mix of departments. With --roster, previews groups for everyone in that CSV (header: "
            + ",".join(COLUMNS)
            + ", optional availability) without touching the database. "
            "--roster is required for now: forming groups from enrolled members is not available here yet."
        ),
    )
    form.add_argument(
        "--roster",
        metavar="FILE.csv",
        required=True,
        help="preview groups for everyone in this roster file; nothing is saved (required for now)",
    )
    form.add_argument("--cohort", metavar="NAME", help="a label for the new groups, such as 'Fall 2025'")
    form.add_argument("--mode", choices=MODES, default="mixed", help="mixed (default) or same-specialty groups")
    allowed = f"{ALLOWED_SIZE_MIN}-{ALLOWED_SIZE_MAX}"
    form.add_argument("--size-min", type=int, default=6, metavar="N", help=f"smallest group ({allowed}, default 6)")
    form.add_argument("--size-max", type=int, default=8, metavar="N", help=f"largest group ({allowed}, default 8)")
    form.add_argument("--seed", type=int, default=0, metavar="N", help="same seed, same groups (default 0)")
    form.add_argument(
        "--dry-run",
        action="store_true",
        help="show the groups without creating them (a --roster preview never creates any)",
    )
    form.add_argument("--json", action="store_true", help="print JSON instead of text")
    form.set_defaults(handler=run_form)


def run_form(args: argparse.Namespace) -> int:
    try:
        settings = FormationSettings(size_min=args.size_min, size_max=args.size_max, mode=args.mode, seed=args.seed)
    except ValueError as exc:
        print(f"compass-bot groups form: {exc}", file=sys.stderr)
        return EXIT_USAGE
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
    """Who to place, and a phrase naming where they came from."""
    return people_from_roster(args.roster), f"roster {args.roster}"


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
        f"group{'' if len(result.groups) == 1 else 's'} ({settings.mode}, sizes {settings.size_min}-"
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
