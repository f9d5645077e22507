"""``compass-bot pair``: match near-peer mentees with mentors for one round.

For now the people come from a roster CSV (``--roster``, the import format) and the
past pairs from an optional history CSV (``--history``: ``mentee_id,mentor_id,round``);
nothing is read from or written to the database and nothing is sent to Slack. A loader
with the signature of :func:`load_candidates_from_roster` can feed :func:`run_pair`
from the enrolled members and stored history instead.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Callable

from bot.matching import MatchingRules, MatchResult, PastPair, match
from bot.pair_history import read_pair_history
from bot.people import Person
from bot.roster import read_roster

EXIT_OK = 0
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
            "pairs are kept apart. With --roster nothing is saved or sent."
        ),
    )
    parser.add_argument(
        "--roster",
        required=True,
        metavar="FILE.csv",
        help="roster CSV in the import format (required for now: matching enrolled members comes later)",
    )
    parser.add_argument("--history", metavar="FILE.csv", help="past pairs as CSV: mentee_id,mentor_id,round")
    parser.add_argument(
        "--round",
        type=_whole_number(1),
        metavar="N",
        help="the round to match (default: one after the last round in --history, else 1)",
    )
    parser.add_argument(
        "--cooldown",
        type=_whole_number(0),
        metavar="ROUNDS",
        help="let a past pair meet again once this many rounds have passed (default: never)",
    )
    parser.add_argument("--dry-run", action="store_true", help="preview only (with --roster nothing is ever saved)")
    parser.add_argument("--json", action="store_true", help="print pairs, unmatched people and stats as JSON")
    parser.set_defaults(handler=run_pair)


def run_pair(args: argparse.Namespace, load: CandidateLoader | None = None) -> int:
    loader = load or load_candidates_from_roster
    try:
        candidates = loader(args)
    except InputError as exc:
        for line in exc.lines:
            print(f"compass-bot pair: {line}", file=sys.stderr)
        return EXIT_USAGE
    for note in candidates.notes:
        print(f"compass-bot pair: note: {note}", file=sys.stderr)
    rules = MatchingRules(cooldown_rounds=args.cooldown)
    result = match(
        candidates.people,
        history=candidates.history,
        current_round=candidates.current_round,
        rules=rules,
        paused=candidates.paused,
    )
    if args.json:
        print(result.to_json(indent=2))
    else:
        print(render_text(result, candidates))
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


def render_text(result: MatchResult, candidates: Candidates) -> str:
    names = {p.user_id: f"{p.display_name} ({p.user_id})" if p.display_name else p.user_id for p in candidates.people}

    def name_of(user_id: str) -> str:
        return names.get(user_id, user_id)

    stats = result.stats
    lines = [
        f"Near-peer round {stats['round']}, preview from {candidates.source} (nothing was saved or sent)",
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
