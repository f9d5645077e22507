"""Matching one round: :func:`match` and the pairs, scores and statistics it reports.

Objective, in this order: (1) match as many mentees as possible; (2) among those
pairings, maximise the total preference score. A pair scores, with the default
:class:`ScoreWeights`, 3 for the same specialty, 2 for the same site and 1 when their
weekly availability shares at least one hour.

The optimum is exact: see :mod:`bot.domain.matching.graph` and :mod:`bot.domain.matching.solver`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Sequence

from bot.domain.matching.explanations import Unmatched, _fit_reasons, explain
from bot.domain.matching.graph import build_graph
from bot.domain.matching.participants import RoundInput, prepare_round
from bot.domain.matching.rules import BLOCK_HISTORY, BLOCK_SUPERVISION, MatchingRules, PastPair, ScoreWeights
from bot.domain.matching.solver import assign, solve
from bot.domain.people import Person


@dataclass(frozen=True)
class Pair:
    mentee: str
    mentor: str
    score: float
    reasons: tuple[str, ...]


@dataclass
class MatchResult:
    pairs: list[Pair]
    unmatched: list[Unmatched]
    stats: dict

    def to_dict(self) -> dict:
        return {
            "pairs": [
                {"mentee": p.mentee, "mentor": p.mentor, "score": p.score, "reasons": list(p.reasons)}
                for p in self.pairs
            ],
            "unmatched": [{"user": u.user, "role": u.role, "code": u.code, "reason": u.reason} for u in self.unmatched],
            "stats": self.stats,
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def match(
    people: Sequence[Person],
    *,
    history: Sequence[PastPair] = (),
    current_round: int,
    rules: MatchingRules = MatchingRules(),
    paused: Iterable[str] = (),
    week_of: date | None = None,
) -> MatchResult:
    """Pair mentees with mentors for ``current_round``: most mentees matched, then best score.

    ``paused`` holds user ids sitting this round out. Availability is compared in UTC
    for the week of ``week_of`` (default: this week), so daylight saving is that week's.
    The result depends only on the set of people, not on their order.
    """
    round_ = prepare_round(
        people, history=history, current_round=current_round, rules=rules, paused=paused, week_of=week_of
    )
    network = build_graph(round_, rules.weights)
    solution = solve(network)
    assignment = assign(network, solution.flows)
    pairs, counts = _describe_pairs(round_, assignment, history, rules.weights)
    unmatched = explain(round_, assignment)
    return MatchResult(pairs=pairs, unmatched=unmatched, stats=_stats(round_, pairs, unmatched, counts))


def _fit_score(same_specialty: bool, same_site: bool, common_hours: int, weights: ScoreWeights) -> int:
    return weights.specialty * same_specialty + weights.site * same_site + weights.availability * (common_hours > 0)


def _describe_pairs(
    round_: RoundInput, assignment: dict[int, int], history: Sequence[PastPair], weights: ScoreWeights
) -> tuple[list[Pair], Counter]:
    """The pairs with their scores and reasons, and how many meet each preference."""
    last_round: dict[frozenset[str], int] = {}
    for past in history:
        key = frozenset((past.mentee_id, past.mentor_id))
        last_round[key] = max(past.round, last_round.get(key, past.round))
    pairs, counts = [], Counter()
    for i, j in assignment.items():
        mentee, mentor = round_.mentees[i], round_.mentors[j]
        _, mentee_specialty, mentee_site = round_.mentee_codes[i]
        _, mentor_specialty, mentor_site = round_.mentor_codes[j]
        same_specialty = mentee_specialty != 0 and mentee_specialty == mentor_specialty
        same_site = mentee_site != 0 and mentee_site == mentor_site
        common = len(round_.hours[mentee.user_id] & round_.hours[mentor.user_id])
        reasons = _fit_reasons(mentee, mentor, same_specialty, same_site, common)
        before = last_round.get(frozenset((mentee.user_id, mentor.user_id)))
        if before is not None:
            reasons.append(f"paired before in round {before}; the cooldown has passed")
        score = _fit_score(same_specialty, same_site, common, weights)
        pairs.append(Pair(mentee.user_id, mentor.user_id, float(score), tuple(reasons)))
        counts.update(
            same_specialty=same_specialty,
            same_site=same_site,
            common_availability=common > 0,
            repeat_pairs=before is not None,
        )
    pairs.sort(key=lambda p: (p.mentee, p.mentor))
    return pairs, counts


def _stats(round_: RoundInput, pairs: list[Pair], unmatched: list[Unmatched], counts: Counter) -> dict:
    total = sum(p.score for p in pairs)
    blocked = Counter(why for excluded in round_.excluded for why in excluded.values())
    return {
        "round": round_.current_round,
        "people": round_.people_count,
        "not_opted_in": round_.not_opted_in,
        "paused": round_.paused,
        "mentees": len(round_.mentees),
        "mentors": sum(1 for c in round_.capacities if c),
        "mentor_slots": sum(round_.capacities),
        "matched": len(pairs),
        "unmatched_mentees": sum(1 for u in unmatched if u.role == "mentee"),
        "total_score": total,
        "mean_score": round(total / len(pairs), 3) if pairs else 0.0,
        "same_specialty": counts["same_specialty"],
        "same_site": counts["same_site"],
        "common_availability": counts["common_availability"],
        "repeat_pairs": counts["repeat_pairs"],
        "blocked_by_supervision": blocked[BLOCK_SUPERVISION],
        "blocked_by_history": blocked[BLOCK_HISTORY],
    }
