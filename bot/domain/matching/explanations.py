"""Why someone was left without a partner, and why a pair fits, in words for the people concerned."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Literal, Sequence

from bot.domain.matching.participants import RoundInput
from bot.domain.matching.rules import BLOCK_HISTORY, BLOCK_SUPERVISION, MENTEE_ROLES
from bot.domain.people import CareerStage, Person

# Why someone was left without a partner (Unmatched.code).
NO_CAREER_STAGE = "no_career_stage"
NO_MENTOR_AHEAD = "no_mentor_ahead"
ONLY_SUPERVISORS = "only_supervisors"
ONLY_PAST_PAIRS = "only_past_pairs"
ONLY_SUPERVISORS_OR_PAST_PAIRS = "only_supervisors_or_past_pairs"
MENTORS_AT_CAPACITY = "mentors_at_capacity"
NO_MENTEE_BEHIND = "no_mentee_behind"
ONLY_SUPERVISEES = "only_supervisees"
ONLY_PAST_MENTEES = "only_past_mentees"
ONLY_SUPERVISEES_OR_PAST_MENTEES = "only_supervisees_or_past_mentees"
MENTEES_MATCHED_ELSEWHERE = "mentees_matched_elsewhere"
ZERO_CAPACITY = "zero_capacity"


@dataclass(frozen=True)
class Unmatched:
    user: str
    role: Literal["mentee", "mentor"]  # the side of the programme left without a partner
    code: str  # stable, for templates; see the module constants
    reason: str


def explain(round_: RoundInput, assignment: dict[int, int]) -> list[Unmatched]:
    """A specific, kind reason for everyone the optimum left without a partner.

    In a maximum matching an unmatched mentee's allowed mentors are all full, and an
    idle mentor's allowed mentees all have mentors; otherwise the pair could be added.
    """
    mentors_at_stage = Counter(codes[0] for codes, capacity in zip(round_.mentor_codes, round_.capacities) if capacity)
    mentees_looking_at = Counter(stage for targets in round_.target_codes for stage in targets)
    exclusions_of_mentor: dict[int, list[str]] = defaultdict(list)
    for excluded in round_.excluded:
        for j, why in excluded.items():
            exclusions_of_mentor[j].append(why)

    unmatched = []
    for i, mentee in enumerate(round_.mentees):
        if i in assignment:
            continue
        ahead = sum(mentors_at_stage[stage] for stage in round_.target_codes[i])
        code = _blocked_code(ahead, list(round_.excluded[i].values()), mentee_side=True)
        allowed = ahead - len(round_.excluded[i])
        unmatched.append(Unmatched(mentee.user_id, "mentee", code, _mentee_reason(code, round_.targets[i], allowed)))

    mentee_counts = Counter(assignment.values())
    for j, mentor in enumerate(round_.mentors):
        if mentor.near_peer_role == "both" or mentee_counts[j]:
            continue  # someone who marked "both" is explained on the mentee side only
        if not round_.capacities[j]:
            code = ZERO_CAPACITY
        else:
            behind = mentees_looking_at[round_.mentor_codes[j][0]]
            code = _blocked_code(behind, exclusions_of_mentor[j], mentee_side=False)
        unmatched.append(Unmatched(mentor.user_id, "mentor", code, _MENTOR_REASONS[code]))
    unmatched += [_no_stage(person) for person in round_.unstaged]
    return sorted(unmatched, key=lambda u: u.user)


def _blocked_code(reachable: int, exclusions: list[str], *, mentee_side: bool) -> str:
    if reachable == 0:
        return NO_MENTOR_AHEAD if mentee_side else NO_MENTEE_BEHIND
    if len(exclusions) < reachable:
        return MENTORS_AT_CAPACITY if mentee_side else MENTEES_MATCHED_ELSEWHERE
    kinds = set(exclusions)
    if kinds == {BLOCK_SUPERVISION}:
        return ONLY_SUPERVISORS if mentee_side else ONLY_SUPERVISEES
    if kinds == {BLOCK_HISTORY}:
        return ONLY_PAST_PAIRS if mentee_side else ONLY_PAST_MENTEES
    return ONLY_SUPERVISORS_OR_PAST_PAIRS if mentee_side else ONLY_SUPERVISEES_OR_PAST_MENTEES


def _mentee_reason(code: str, targets: tuple[CareerStage, ...], allowed: int) -> str:
    if code == NO_MENTOR_AHEAD:
        if not targets:
            return "There is no later career stage for a near-peer mentor to be at, so no mentor was matched."
        return f"{_nobody_at(targets)} has offered to mentor this round."
    if code == MENTORS_AT_CAPACITY:
        mentors = "The one mentor who fits is" if allowed == 1 else f"All {allowed} mentors who fit are"
        return f"{mentors} already at capacity this round; you stay in the pool for the next one."
    return {
        ONLY_SUPERVISORS: "The only mentors at the right stage are your supervisors or people you supervise, "
        "and we keep those relationships out of mentoring.",
        ONLY_PAST_PAIRS: "The only mentors at the right stage are people you have already been paired with.",
        ONLY_SUPERVISORS_OR_PAST_PAIRS: "The only mentors at the right stage are your supervisors, people you "
        "supervise or people you have already been paired with.",
    }[code]


_MENTOR_REASONS = {
    ZERO_CAPACITY: "Your mentor capacity is set to 0, so no mentees were assigned.",
    NO_MENTEE_BEHIND: "No one at the stages you can mentor is looking for a mentor this round.",
    MENTEES_MATCHED_ELSEWHERE: "Everyone you could mentor already has a mentor this round; "
    "you stay in the pool for the next one.",
    ONLY_SUPERVISEES: "The only mentees at the right stage are people you supervise or who supervise you, "
    "and we keep those relationships out of mentoring.",
    ONLY_PAST_MENTEES: "The only mentees at the right stage are people you have already been paired with.",
    ONLY_SUPERVISEES_OR_PAST_MENTEES: "The only mentees at the right stage are people you supervise, who "
    "supervise you, or whom you have already been paired with.",
}


def _no_stage(person: Person) -> Unmatched:
    role = "mentee" if person.near_peer_role in MENTEE_ROLES else "mentor"
    return Unmatched(
        person.user_id,
        role,
        NO_CAREER_STAGE,
        "Your career stage is not on file, so we cannot tell who is a year or two ahead of or behind you.",
    )


def _fit_reasons(mentee: Person, mentor: Person, same_specialty: bool, same_site: bool, common_hours: int) -> list[str]:
    reasons = [_stage_reason(mentee, mentor)]
    if same_specialty:
        reasons.append(f"same specialty ({mentor.specialty})")
    if same_site:
        reasons.append(f"same site ({mentor.site})")
    if common_hours:
        reasons.append(f"{common_hours} common hour{'s' if common_hours != 1 else ''} a week")
    return reasons


_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _years(n: int) -> str:
    word = _WORDS[n] if 0 <= n < len(_WORDS) else str(n)
    return f"{word} year{'s' if n != 1 else ''}"


def _short_stage(stage: CareerStage) -> str:
    if stage.is_trainee:
        return f"PGY-{stage.years}"
    return f"attending ({stage.years} year{'s' if stage.years != 1 else ''} in practice)"


def _stage_reason(mentee: Person, mentor: Person) -> str:
    low, high = mentee.career_stage, mentor.career_stage
    assert low is not None and high is not None
    arrow = f"{_short_stage(high)} → {_short_stage(low)}"
    if low.track != high.track:
        return f"{arrow}: an early-career attending for a trainee in their final year"
    gap = high.years - low.years
    if low.is_trainee:
        return f"{arrow}: {_years(gap)} ahead"
    return f"{arrow}: {_years(gap)} further into practice"


def _nobody_at(stages: Sequence[CareerStage]) -> str:
    """'No one in PGY-3 or PGY-4', 'No attending with 5 to 11 years in practice', or both."""
    trainee_years = [s.years for s in stages if s.is_trainee]
    attending_years = [s.years for s in stages if not s.is_trainee]
    attendings = ""
    if attending_years:
        low, high = min(attending_years), max(attending_years)
        span = f"{low}" if low == high else f"{low} to {high}"
        attendings = f"attending with {span} year{'s' if high != 1 else ''} in practice"
    trainees = " or ".join(f"PGY-{y}" for y in trainee_years)
    if trainees and attendings:
        return f"No one in {trainees}, nor any {attendings},"
    return f"No one in {trainees}" if trainees else f"No {attendings}"
