"""Near-peer mentor matching: who may mentor whom, and the best pairing for a round.

``rules`` holds the hard rules, ``matcher.match`` runs a round (``participants`` -> ``graph`` ->
``solver``), ``explanations`` words why someone is unmatched, ``audit`` checks pairs made elsewhere.
"""

from __future__ import annotations

from bot.domain.matching.audit import Violation, check_pairs
from bot.domain.matching.explanations import (
    MENTEES_MATCHED_ELSEWHERE,
    MENTORS_AT_CAPACITY,
    NO_CAREER_STAGE,
    NO_MENTEE_BEHIND,
    NO_MENTOR_AHEAD,
    ONLY_PAST_MENTEES,
    ONLY_PAST_PAIRS,
    ONLY_SUPERVISEES,
    ONLY_SUPERVISEES_OR_PAST_MENTEES,
    ONLY_SUPERVISORS,
    ONLY_SUPERVISORS_OR_PAST_PAIRS,
    ZERO_CAPACITY,
    Unmatched,
    explain,
)
from bot.domain.matching.graph import FlowNetwork, build_graph
from bot.domain.matching.matcher import MatchResult, Pair, match
from bot.domain.matching.participants import RoundInput, prepare_round
from bot.domain.matching.rules import (
    BLOCK_HISTORY,
    BLOCK_NO_STAGE,
    BLOCK_NOT_MENTEE,
    BLOCK_NOT_MENTOR,
    BLOCK_SAME_PERSON,
    BLOCK_STAGE,
    BLOCK_SUPERVISION,
    MENTEE_ROLES,
    MENTOR_ROLES,
    MatchingRules,
    PastPair,
    ScoreWeights,
    eligible_mentors,
    mentor_capacity,
    pair_block_reason,
    recent_pairs,
)
from bot.domain.matching.solver import FlowSolution, assign, solve

__all__ = [
    "BLOCK_HISTORY",
    "BLOCK_NOT_MENTEE",
    "BLOCK_NOT_MENTOR",
    "BLOCK_NO_STAGE",
    "BLOCK_SAME_PERSON",
    "BLOCK_STAGE",
    "BLOCK_SUPERVISION",
    "MENTEES_MATCHED_ELSEWHERE",
    "MENTEE_ROLES",
    "MENTORS_AT_CAPACITY",
    "MENTOR_ROLES",
    "NO_CAREER_STAGE",
    "NO_MENTEE_BEHIND",
    "NO_MENTOR_AHEAD",
    "ONLY_PAST_MENTEES",
    "ONLY_PAST_PAIRS",
    "ONLY_SUPERVISEES",
    "ONLY_SUPERVISEES_OR_PAST_MENTEES",
    "ONLY_SUPERVISORS",
    "ONLY_SUPERVISORS_OR_PAST_PAIRS",
    "ZERO_CAPACITY",
    "FlowNetwork",
    "FlowSolution",
    "MatchResult",
    "MatchingRules",
    "Pair",
    "PastPair",
    "RoundInput",
    "ScoreWeights",
    "Unmatched",
    "Violation",
    "assign",
    "build_graph",
    "check_pairs",
    "eligible_mentors",
    "explain",
    "match",
    "mentor_capacity",
    "pair_block_reason",
    "prepare_round",
    "recent_pairs",
    "solve",
]
