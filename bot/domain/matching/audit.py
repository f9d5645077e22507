"""Auditing a list of proposed pairs against the hard rules."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

from bot.domain.matching.rules import (
    BLOCK_NOT_MENTOR,
    MatchingRules,
    PastPair,
    mentor_capacity,
    pair_block_reason,
    recent_pairs,
)
from bot.domain.people import Person


@dataclass(frozen=True)
class Violation:
    mentee: str
    mentor: str
    rule: str  # a BLOCK_* code, "unknown_person", "over_capacity" or "two_mentors"


def check_pairs(
    pairs: Iterable[tuple[str, str]],
    people: Sequence[Person],
    *,
    history: Sequence[PastPair] = (),
    current_round: int,
    rules: MatchingRules = MatchingRules(),
) -> list[Violation]:
    """Every hard rule that a proposed list of (mentee, mentor) pairs breaks.

    For pairings made elsewhere (by hand, by another tool) and for benchmarks.
    """
    by_id = {p.user_id: p for p in people}
    recent = recent_pairs(history, current_round=current_round, rules=rules)
    violations = []
    load: dict[str, int] = defaultdict(int)
    mentors_of: dict[str, int] = defaultdict(int)
    for mentee_id, mentor_id in pairs:
        mentee, mentor = by_id.get(mentee_id), by_id.get(mentor_id)
        if mentee is None or mentor is None:
            violations.append(Violation(mentee_id, mentor_id, "unknown_person"))
            continue
        why = pair_block_reason(mentee, mentor, rules=rules, recent=recent)
        if why is not None:
            violations.append(Violation(mentee_id, mentor_id, why))
        load[mentor_id] += 1
        if load[mentor_id] > mentor_capacity(mentor) and why != BLOCK_NOT_MENTOR:
            violations.append(Violation(mentee_id, mentor_id, "over_capacity"))
        mentors_of[mentee_id] += 1
        if mentors_of[mentee_id] > 1:
            violations.append(Violation(mentee_id, mentor_id, "two_mentors"))
    return violations
