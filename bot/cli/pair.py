"""``compass-bot pair``: match near-peer mentees with mentors for one round.

With ``--roster`` the people come from a roster CSV (the import format) and the past
pairs from an optional history CSV (``--history``: ``mentee_id,mentor_id,round``);
nothing is read from or written to the database and nothing is sent to Slack.

Without ``--roster`` the round is matched from the enrolled members who opted in and the
pairs stored so far (:func:`load_candidates_from_database`). That is a preview too,
unless ``--publish`` is given: then the round is stored (replacing a preview open in App
Home) and published exactly as the Publish button does; the clock sends the
introductions and notes.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Callable

from bot.domain.pair_history import read_pair_history
from bot.domain.people import Person
from bot.domain.roster import read_roster

if TYPE_CHECKING:
    from bot.domain.matching import MatchingRules, MatchResult, PastPair
    from bot.runtime.services import Services

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2


@dataclass(frozen=True)
class Candidates:
    """Everything one round is matched from."""

    people: list[Person]
    history: list[PastPair]
    current_round: int
    source: str  # said in the preview header, e.g. the roster file name
    paused: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()  # worth knowing, not worth stopping for; printed on stderr
    team_id: str = ""  # the workspace, when the people are its enrolled members
    already_paired: int = 0  # enrolled mentees who keep their current mentor this round


class InputError(Exception):
    """Bad input files or options: each line is printed on stderr as it is."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


CandidateLoader = Callable[[argparse.Namespace], Candidates]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pair",
        help="match near-peer mentees with mentors for a round",
        description=(
            "Match near-peer mentees with mentors one or two stages ahead: as many mentees as possible, "
            "then the best fit (same specialty, same site, shared availability). Supervisors and past "
            "pairs are kept apart. Without --roster it matches the enrolled members who opted in, against the "
            "pairs stored so far, and saves nothing unless --publish is given (the clock then sends the "
            "introductions). With --roster nothing is saved or sent."
        ),
    )
    parser.add_argument(
        "--roster",
        metavar="FILE.csv",
        help="match everyone in this roster CSV (the import format) instead of the enrolled members; nothing is saved",
    )
    parser.add_argument(
        "--history",
        metavar="FILE.csv",
        help="with --roster: past pairs as CSV, mentee_id,mentor_id,round (without --roster the stored pairs are the history)",
    )
    parser.add_argument(
        "--round",
        type=_whole_number(1),
        metavar="N",
        help="with --roster: the round to match (default: one after the last round in --history, else 1)",
    )
    parser.add_argument(
        "--cooldown",
        type=_whole_number(0),
        metavar="ROUNDS",
        help="let a past pair meet again once this many rounds have passed (default: never)",
    )
    parser.add_argument("--team", metavar="TEAM_ID", help="the workspace to match (needed when the database holds several)")
    parser.add_argument("--dry-run", action="store_true", help="preview only: nothing is saved or sent (the default without --publish)")
    parser.add_argument(
        "--publish",
        action="store_true",
        help="store this round and publish it: a group DM introduces each pair, everyone not matched gets a kind note",
    )
    parser.add_argument("--json", action="store_true", help="print pairs, unmatched people and stats as JSON")
    parser.set_defaults(handler=run_pair)


def run_pair(args: argparse.Namespace, load: CandidateLoader | None = None) -> int:
    problem = _option_problem(args)
    if problem:
        print(f"compass-bot pair: {problem}", file=sys.stderr)
        return EXIT_USAGE
    from_database = load is None and not getattr(args, "roster", None)
    services = _open_services() if from_database else None
    if load is not None:
        loader = load
    elif from_database:
        loader = partial(load_candidates_from_database, services=services)
    else:
        loader = load_candidates_from_roster
    try:
        candidates = loader(args)
    except InputError as exc:
        for line in exc.lines:
            print(f"compass-bot pair: {line}", file=sys.stderr)
        return EXIT_USAGE
    for note in candidates.notes:
        print(f"compass-bot pair: note: {note}", file=sys.stderr)
    from bot.domain.matching import MatchingRules, match  # NumPy: not for every `compass-bot` command

    rules = MatchingRules(cooldown_rounds=args.cooldown)
    result = match(
        candidates.people,
        history=candidates.history,
        current_round=candidates.current_round,
        rules=rules,
        paused=candidates.paused,
    )
    if from_database:
        result.stats["already_paired"] = candidates.already_paired
    if getattr(args, "publish", False) and services is not None:
        return _publish(services, args, candidates, result, rules)
    if args.json:
        print(result.to_json(indent=2))
    else:
        print(render_text(result, candidates))
    return EXIT_OK


def _option_problem(args: argparse.Namespace) -> str | None:
    roster, publish = getattr(args, "roster", None), getattr(args, "publish", False)
    if publish and getattr(args, "dry_run", False):
        return "--publish and --dry-run cannot be used together"
    if publish and roster:
        return "--publish works on the enrolled members; leave out --roster"
    if not roster and getattr(args, "history", None):
        return "--history goes with --roster; without it the pairs stored in the database are the history"
    if not roster and getattr(args, "round", None) is not None:
        return "--round goes with --roster; without it the next round is numbered from the database"
    return None


def _open_services() -> "Services":
    from bot.runtime.process import open_services

    return open_services(require_slack=False)


def load_candidates_from_database(args: argparse.Namespace, services: "Services | None" = None) -> Candidates:
    """The enrolled members who opted in, as the Slack preview sees them, and the stored pairs."""
    from sqlmodel import Session

    from storage.pairing import load_pool

    services = services or _open_services()
    team_id = _team(services, getattr(args, "team", None))
    with Session(services.engine) as session:
        pool = load_pool(session, team_id=team_id)
    notes = ()
    if pool.already_paired:
        notes = (f"{pool.already_paired} mentee(s) keep their current mentor and sit this round out",)
    return Candidates(
        people=pool.people,
        history=pool.history,
        current_round=pool.current_round,
        source=f"enrolled members of {team_id}",
        paused=pool.paused,
        notes=notes,
        team_id=team_id,
        already_paired=pool.already_paired,
    )


def _team(services: "Services", team: str | None) -> str:
    """The workspace to match: --team, or the only one the database knows."""
    from sqlmodel import Session, select

    from storage.models import Workspace

    with Session(services.engine) as session:
        teams = list(session.exec(select(Workspace.team_id).order_by(Workspace.team_id)))
    if team:
        if team not in teams:
            raise InputError([f"--team {team}: no one from that workspace has joined Compass"])
        return team
    if len(teams) == 1:
        return teams[0]
    if not teams:
        raise InputError(["nobody has joined Compass yet, so there is no one to match"])
    raise InputError([f"the database holds several workspaces ({', '.join(teams)}); choose one with --team"])


def _publish(services: "Services", args: argparse.Namespace, candidates: Candidates, result: MatchResult,
             rules: MatchingRules) -> int:
    """Store the match as the round's preview (replacing an open one) and publish it."""
    from bot.flows.pairing import publish_round, save_match
    from bot.slack.render import render
    from storage.db import session_scope
    from storage.pairing import Pool, open_preview, preview_of

    if not result.pairs:
        print(f"compass-bot pair: {render('pair_cli.j2', kind='empty')}", file=sys.stderr)
        return EXIT_REFUSED
    team_id = candidates.team_id
    pool = Pool(people=candidates.people, history=candidates.history, current_round=candidates.current_round,
                paused=candidates.paused, already_paired=candidates.already_paired)
    with session_scope(services.engine) as session:
        replaced = open_preview(session, team_id=team_id)
        if replaced is not None:
            edits = int(preview_of(replaced).get("edits") or 0)
            print(f"compass-bot pair: note: {render('pair_cli.j2', kind='replaced', number=replaced.number, edits=edits)}",
                  file=sys.stderr)
        round_ = save_match(session, team_id=team_id, actor_id="cli", result=result, pool=pool, rules=rules)
    outcome = publish_round(services, team_id=team_id, round_id=round_.id, actor_id="cli")
    if outcome.status != "published":
        print(f"compass-bot pair: {render('pair_cli.j2', kind=outcome.status)}", file=sys.stderr)
        for line in outcome.problems:
            print(f"  {line}", file=sys.stderr)
        return EXIT_REFUSED
    if args.json:
        data = result.to_dict()
        data["published"] = {"round": outcome.number, "pairs": outcome.pairs, "unmatched": outcome.unmatched}
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(render_text(result, candidates, published=True))
        print()
        print(render("pair_cli.j2", kind="published", number=outcome.number, pairs=outcome.pairs, unmatched=outcome.unmatched))
    return EXIT_OK


def load_candidates_from_roster(args: argparse.Namespace) -> Candidates:
    roster = read_roster(args.roster)
    problems = [_located(args.roster, error.line, error.message) for error in roster.errors]
    history: list[PastPair] = []
    last_round = 0
    if args.history:
        past = read_pair_history(args.history)
        problems += [_located(args.history, error.line, error.message) for error in past.errors]
        history, last_round = past.pairs, past.last_round
    if problems:
        raise InputError(problems)
    current_round = args.round if args.round is not None else last_round + 1
    if current_round <= last_round:
        raise InputError([f"--round {current_round} must come after the last round in {args.history} ({last_round})"])
    known = {p.user_id for p in roster.people}
    strangers = sum(1 for p in history if p.mentee_id not in known or p.mentor_id not in known)
    notes = ()
    if strangers:
        notes = (
            f"{strangers} past pair(s) in {args.history} name someone who is not in {args.roster}; "
            "they do not matter this round",
        )
    return Candidates(
        people=roster.people, history=history, current_round=current_round, source=args.roster, notes=notes
    )


def render_text(result: MatchResult, candidates: Candidates, *, published: bool = False) -> str:
    names = {p.user_id: f"{p.display_name} ({p.user_id})" if p.display_name else p.user_id for p in candidates.people}

    def name_of(user_id: str) -> str:
        return names.get(user_id, user_id)

    stats = result.stats
    heading = (
        f"Near-peer round {stats['round']} from {candidates.source}, published"
        if published
        else f"Near-peer round {stats['round']}, preview from {candidates.source} (nothing was saved or sent)"
    )
    lines = [
        heading,
        f"Matched {stats['matched']} of {stats['mentees']} mentees (the most possible), "
        f"total score {stats['total_score']:.0f}, {stats['mentor_slots']} mentor places offered.",
    ]
    if result.pairs:
        lines += ["", "Pairs (mentor → mentee):"]
        for pair in result.pairs:
            lines.append(f"  {name_of(pair.mentor)} → {name_of(pair.mentee)}   score {pair.score:g}")
            lines.append(f"      {'; '.join(pair.reasons)}")
    if result.unmatched:
        lines += ["", "Not matched this round:"]
        for entry in result.unmatched:
            lines.append(f"  {name_of(entry.user)}, as {entry.role}: {entry.reason}")
    return "\n".join(lines)


def _located(path: str, line: int, message: str) -> str:
    if line:
        return f"{path}: line {line}: {message}"
    return message if path in message else f"{path}: {message}"


def _whole_number(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value

    return parse
