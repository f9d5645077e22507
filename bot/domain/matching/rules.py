"""The hard rules of near-peer matching: who may mentor whom, and the score weights.

Hard rules (never broken):

* Only people who opted in take part: ``near_peer_role`` ``mentee`` or ``both`` may
  receive a mentor, ``mentor`` or ``both`` may mentor. Paused people sit the round out.
* A mentor is ahead of the mentee by a configured gap: trainees ``PGY-n`` by
  ``pgy_gap`` years (default 1-2), attendings by ``attending_gap`` years in practice
  (default 2-8). Trainees and attendings are never paired, unless
  ``final_year_attending_gap`` is set: then a trainee in the final year of their
  programme may be mentored by an attending with that many years in practice.
  "Final year" is decided by programme length: ``final_pgy_year_by_specialty``
  (e.g. ``{"Internal Medicine": 3}``), else ``final_pgy_year``; a trainee at or past
  that PGY year is in their final year. An attending is never mentored by a trainee.
* Nobody is paired with themselves, with anyone in their ``supervisor_ids`` or with
  anyone who lists them there, nor with someone they were paired with within the last
  ``cooldown_rounds`` rounds (default ``None``: an ended pair is never re-paired).
* A mentor takes at most ``mentor_capacity`` mentees (clamped to 0-5); a mentee gets
  at most one mentor. Someone who marked ``both`` may be a mentee in one pair and a
  mentor in others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping, Sequence

from bot.domain.people import MAX_ATTENDING_YEARS, MAX_MENTOR_CAPACITY, MAX_PGY, CareerStage, Person

MENTEE_ROLES = frozenset({"mentee", "both"})
MENTOR_ROLES = frozenset({"mentor", "both"})

# Why a pair is not allowed (see pair_block_reason).
BLOCK_SAME_PERSON = "same_person"
BLOCK_STAGE = "stage_gap"
BLOCK_SUPERVISION = "supervision"
BLOCK_HISTORY = "recent_pair"
BLOCK_NOT_MENTEE = "not_a_mentee"
BLOCK_NOT_MENTOR = "not_a_mentor"
BLOCK_NO_STAGE = "no_career_stage"


@dataclass(frozen=True)
class ScoreWeights:
    """Points a pair earns for each preference it meets (whole numbers, 0 switches one off)."""

    specialty: int = 3
    site: int = 2
    availability: int = 1

    def __post_init__(self) -> None:
        for name in ("specialty", "site", "availability"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"score weight {name} must be a whole number >= 0, got {value!r}")

    @property
    def best(self) -> int:
        return self.specialty + self.site + self.availability


@dataclass(frozen=True)
class MatchingRules:
    """The configurable rules of a round (see the module docstring).

    Gaps are inclusive (min, max) ranges: ``pgy_gap`` in PGY years, ``attending_gap``
    in years in practice, ``final_year_attending_gap`` in the mentor's years in
    practice. ``final_pgy_year`` / ``final_pgy_year_by_specialty`` give the PGY year
    in which a programme ends. ``cooldown_rounds=None`` never re-pairs; ``n`` allows a
    pair again once more than ``n`` rounds have passed.
    """

    pgy_gap: tuple[int, int] = (1, 2)
    attending_gap: tuple[int, int] = (2, 8)
    final_pgy_year: int | None = None
    final_pgy_year_by_specialty: Mapping[str, int] = field(default_factory=dict, hash=False)
    final_year_attending_gap: tuple[int, int] | None = None
    cooldown_rounds: int | None = None
    weights: ScoreWeights = ScoreWeights()

    def __post_init__(self) -> None:
        for name in ("pgy_gap", "attending_gap"):
            low, high = getattr(self, name)
            if not 1 <= low <= high:
                raise ValueError(f"{name} must be (min, max) with 1 <= min <= max, got {(low, high)}")
        if self.final_year_attending_gap is not None:
            low, high = self.final_year_attending_gap
            if not 0 <= low <= high:
                raise ValueError(f"final_year_attending_gap must be (min, max) with 0 <= min <= max, got {(low, high)}")
        if self.final_pgy_year is not None and not 1 <= self.final_pgy_year <= MAX_PGY:
            raise ValueError(f"final_pgy_year must be 1-{MAX_PGY}, got {self.final_pgy_year}")
        by_specialty = {}
        for specialty, year in self.final_pgy_year_by_specialty.items():
            if not 1 <= year <= MAX_PGY:
                raise ValueError(f"final PGY year for {specialty!r} must be 1-{MAX_PGY}, got {year}")
            by_specialty[_norm(specialty)] = year
        object.__setattr__(self, "final_pgy_year_by_specialty", MappingProxyType(by_specialty))
        if self.cooldown_rounds is not None and self.cooldown_rounds < 0:
            raise ValueError(f"cooldown_rounds must be >= 0 or None, got {self.cooldown_rounds}")

    def is_final_year(self, stage: CareerStage, specialty: str) -> bool:
        final = self.final_pgy_year_by_specialty.get(_norm(specialty), self.final_pgy_year)
        return stage.is_trainee and final is not None and stage.years >= final

    def mentor_stages(self, stage: CareerStage, specialty: str = "") -> tuple[CareerStage, ...]:
        """The career stages a mentor of someone at ``stage`` may have, nearest first."""
        if stage.is_trainee:
            low, high = self.pgy_gap
            stages = [CareerStage("PGY", y) for y in range(stage.years + low, min(stage.years + high, MAX_PGY) + 1)]
            if self.final_year_attending_gap is not None and self.is_final_year(stage, specialty):
                low, high = self.final_year_attending_gap
                stages += [CareerStage("ATTENDING", y) for y in range(low, min(high, MAX_ATTENDING_YEARS) + 1)]
            return tuple(stages)
        low, high = self.attending_gap
        top = min(stage.years + high, MAX_ATTENDING_YEARS)
        return tuple(CareerStage("ATTENDING", y) for y in range(stage.years + low, top + 1))

    def blocks_repeat(self, past_round: int, current_round: int) -> bool:
        """Whether a pair from ``past_round`` is still inside the cooldown."""
        return self.cooldown_rounds is None or current_round - past_round <= self.cooldown_rounds


def mentor_capacity(person: Person) -> int:
    """Mentee slots a person offers this round: 0 unless they mentor, at most 5."""
    if person.near_peer_role not in MENTOR_ROLES:
        return 0
    return max(0, min(person.mentor_capacity, MAX_MENTOR_CAPACITY))


@dataclass(frozen=True, order=True)
class PastPair:
    mentee_id: str
    mentor_id: str
    round: int


def recent_pairs(history: Iterable[PastPair], *, current_round: int, rules: MatchingRules) -> frozenset[frozenset[str]]:
    """Pairs (in either direction) that the cooldown still forbids."""
    return frozenset(
        frozenset((p.mentee_id, p.mentor_id))
        for p in history
        if p.mentee_id != p.mentor_id and rules.blocks_repeat(p.round, current_round)
    )


def pair_block_reason(
    mentee: Person, mentor: Person, *, rules: MatchingRules, recent: frozenset[frozenset[str]] = frozenset()
) -> str | None:
    """The first hard rule that forbids ``mentor`` mentoring ``mentee`` (a BLOCK_* code), or None."""
    if mentee.user_id == mentor.user_id:
        return BLOCK_SAME_PERSON
    if mentee.near_peer_role not in MENTEE_ROLES:
        return BLOCK_NOT_MENTEE
    if mentor_capacity(mentor) == 0:
        return BLOCK_NOT_MENTOR
    if mentee.career_stage is None or mentor.career_stage is None:
        return BLOCK_NO_STAGE
    if mentor.career_stage not in rules.mentor_stages(mentee.career_stage, mentee.specialty):
        return BLOCK_STAGE
    if mentee.supervises_or_is_supervised_by(mentor):
        return BLOCK_SUPERVISION
    if frozenset((mentee.user_id, mentor.user_id)) in recent:
        return BLOCK_HISTORY
    return None


def eligible_mentors(
    mentee: Person,
    candidates: Iterable[Person],
    *,
    rules: MatchingRules = MatchingRules(),
    history: Sequence[PastPair] = (),
    current_round: int,
) -> list[Person]:
    """Everyone in ``candidates`` who may mentor ``mentee`` this round, by user id."""
    recent = recent_pairs(history, current_round=current_round, rules=rules)
    allowed = [c for c in candidates if pair_block_reason(mentee, c, rules=rules, recent=recent) is None]
    return sorted(allowed, key=lambda p: p.user_id)


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()
