"""One round's participants: who takes part, in which role, and which pairs the rules forbid."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Sequence

from bot.domain.availability import utc_hours_of_week
from bot.domain.matching.rules import (
    BLOCK_HISTORY,
    BLOCK_SUPERVISION,
    MENTEE_ROLES,
    MENTOR_ROLES,
    MatchingRules,
    PastPair,
    _norm,
    mentor_capacity,
)
from bot.domain.people import CareerStage, Person


@dataclass
class RoundInput:
    """The participants of one round, indexed, with what the graph needs to know.

    Mentees and mentors are indexed separately (someone who marked ``both`` is in
    each list). The graph works on small integers: a stage code (PGY-n is n,
    ATTENDING-n is 100 + n), specialty and site ids (0 when not given) and
    availability atoms (see :func:`_availability_atoms`).
    """

    current_round: int
    people_count: int
    not_opted_in: int
    paused: int
    unstaged: list[Person]  # opted in and active, but with no career stage on file
    mentees: list[Person]
    mentors: list[Person]
    capacities: list[int]
    targets: list[tuple[CareerStage, ...]]  # per mentee: the mentor stages allowed
    excluded: list[dict[int, str]]  # per mentee: mentor index -> BLOCK_SUPERVISION | BLOCK_HISTORY
    hours: dict[str, frozenset[int]]  # user id -> UTC hours of the week
    mentee_codes: list[tuple[int, int, int]]  # (stage, specialty, site)
    mentor_codes: list[tuple[int, int, int]]
    target_codes: list[tuple[int, ...]]
    mentee_atoms: list[tuple[int, ...]]
    mentor_atoms: list[frozenset[int]]


def prepare_round(
    people: Sequence[Person],
    *,
    history: Sequence[PastPair] = (),
    current_round: int,
    rules: MatchingRules = MatchingRules(),
    paused: Iterable[str] = (),
    week_of: date | None = None,
) -> RoundInput:
    """Who takes part this round, in which role, and which pairs the rules forbid."""
    everyone = sorted(people, key=lambda p: p.user_id)
    ids = [p.user_id for p in everyone]
    if len(set(ids)) != len(ids):
        duplicates = sorted(user for user, count in Counter(ids).items() if count > 1)
        raise ValueError(f"people must be unique by user_id; repeated: {', '.join(duplicates[:5])}")
    late = [p.round for p in history if p.round >= current_round]
    if late:
        raise ValueError(f"history has round {max(late)}, not before the current round {current_round}")

    paused_ids = frozenset(paused)
    opted_in = [p for p in everyone if p.near_peer_role in MENTEE_ROLES | MENTOR_ROLES]
    active = [p for p in opted_in if p.user_id not in paused_ids]
    staged = [p for p in active if p.career_stage is not None]
    mentees = [p for p in staged if p.near_peer_role in MENTEE_ROLES]
    mentors = [p for p in staged if p.near_peer_role in MENTOR_ROLES]
    capacities = [mentor_capacity(p) for p in mentors]
    targets = _stage_targets(mentees, rules)

    specialty_ids: dict[str, int] = {"": 0}
    site_ids: dict[str, int] = {"": 0}

    def codes(person: Person) -> tuple[int, int, int]:
        specialty = specialty_ids.setdefault(_norm(person.specialty), len(specialty_ids))
        site = site_ids.setdefault(_norm(person.site), len(site_ids))
        return _stage_code(person.career_stage), specialty, site  # type: ignore[arg-type]

    mentee_codes = [codes(p) for p in mentees]
    mentor_codes = [codes(p) for p in mentors]
    code_of_targets = {t: tuple(_stage_code(stage) for stage in t) for t in set(targets)}
    target_codes = [code_of_targets[t] for t in targets]

    hours = _hours_by_user(staged, week_of)
    mentee_atoms, mentor_atoms = _availability_atoms(mentees, mentors, hours)
    excluded = _exclusions(mentees, mentors, capacities, mentor_codes, target_codes, history, current_round, rules)

    return RoundInput(
        current_round=current_round,
        people_count=len(everyone),
        not_opted_in=len(everyone) - len(opted_in),
        paused=len(opted_in) - len(active),
        unstaged=[p for p in active if p.career_stage is None],
        mentees=mentees,
        mentors=mentors,
        capacities=capacities,
        targets=targets,
        excluded=excluded,
        hours=hours,
        mentee_codes=mentee_codes,
        mentor_codes=mentor_codes,
        target_codes=target_codes,
        mentee_atoms=[tuple(sorted(a)) for a in mentee_atoms],
        mentor_atoms=mentor_atoms,
    )


def _stage_code(stage: CareerStage) -> int:
    return stage.years if stage.is_trainee else 100 + stage.years  # PGY years stay below 100


def _stage_targets(mentees: list[Person], rules: MatchingRules) -> list[tuple[CareerStage, ...]]:
    """Each mentee's allowed mentor stages, worked out once per stage and specialty."""
    known: dict[tuple[CareerStage, str], tuple[CareerStage, ...]] = {}
    targets = []
    for person in mentees:
        key = (person.career_stage, _norm(person.specialty))
        if key not in known:
            known[key] = rules.mentor_stages(person.career_stage, person.specialty)  # type: ignore[arg-type]
        targets.append(known[key])
    return targets


def _exclusions(
    mentees: list[Person],
    mentors: list[Person],
    capacities: list[int],
    mentor_codes: list[tuple[int, int, int]],
    target_codes: list[tuple[int, ...]],
    history: Sequence[PastPair],
    current_round: int,
    rules: MatchingRules,
) -> list[dict[int, str]]:
    """Per mentee, the mentors at an allowed stage whom supervision or a recent pair rules out.

    Only these matter: a mentor at another stage is out of reach anyway.
    """
    mentor_index = {p.user_id: j for j, p in enumerate(mentors)}
    mentee_index = {p.user_id: i for i, p in enumerate(mentees)}
    target_sets = {t: frozenset(t) for t in set(target_codes)}
    excluded: list[dict[int, str]] = [{} for _ in mentees]

    def exclude(i: int, j: int, why: str) -> None:
        if capacities[j] and mentor_codes[j][0] in target_sets[target_codes[i]]:
            excluded[i].setdefault(j, why)

    for i, mentee in enumerate(mentees):
        for other in sorted(mentee.supervisor_ids):
            if other in mentor_index:
                exclude(i, mentor_index[other], BLOCK_SUPERVISION)
    for j, mentor in enumerate(mentors):
        for other in sorted(mentor.supervisor_ids):
            if other in mentee_index:
                exclude(mentee_index[other], j, BLOCK_SUPERVISION)
    for past in sorted(history):
        if past.mentee_id == past.mentor_id or not rules.blocks_repeat(past.round, current_round):
            continue
        for a, b in ((past.mentee_id, past.mentor_id), (past.mentor_id, past.mentee_id)):
            if a in mentee_index and b in mentor_index:
                exclude(mentee_index[a], mentor_index[b], BLOCK_HISTORY)
    return excluded


def _hours_by_user(people: list[Person], week_of: date | None) -> dict[str, frozenset[int]]:
    cache: dict[tuple, frozenset[int]] = {}
    hours = {}
    for person in people:
        key = (person.availability, person.timezone)
        if key not in cache:
            windows = person.availability
            cache[key] = utc_hours_of_week(windows, person.timezone, week_of) if windows else frozenset()
        hours[person.user_id] = cache[key]
    return hours


def _availability_atoms(
    mentees: list[Person], mentors: list[Person], hours: dict[str, frozenset[int]]
) -> tuple[list[frozenset[int]], list[frozenset[int]]]:
    """Replace hours by *atoms*: hours held by exactly the same mentees and mentors.

    Two people share an hour exactly when they share an atom, and there are far fewer
    atoms than hours (a two-hour window is usually one atom). Atoms that no mentee or
    no mentor holds can never earn the availability point and are dropped.
    """
    holders: dict[int, list[int]] = defaultdict(list)  # hour -> mentee i, or len(mentees) + mentor j
    for i, person in enumerate(mentees):
        for hour in hours[person.user_id]:
            holders[hour].append(i)
    first_mentor = len(mentees)
    for j, person in enumerate(mentors):
        for hour in hours[person.user_id]:
            holders[hour].append(first_mentor + j)
    atom_ids: dict[tuple[int, ...], int] = {}
    mentee_atoms: list[set[int]] = [set() for _ in mentees]
    mentor_atoms: list[set[int]] = [set() for _ in mentors]
    for hour in sorted(holders):
        signature = tuple(holders[hour])  # ascending: mentees first
        if signature[0] >= first_mentor or signature[-1] < first_mentor:
            continue
        atom = atom_ids.setdefault(signature, len(atom_ids))
        for index in signature:
            if index < first_mentor:
                mentee_atoms[index].add(atom)
            else:
                mentor_atoms[index - first_mentor].add(atom)
    return [frozenset(a) for a in mentee_atoms], [frozenset(a) for a in mentor_atoms]
