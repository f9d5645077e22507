"""Forming COMPASS groups from the people waiting for one.

``form_groups`` places every person it is given (the caller decides who: active,
enrolled members not already in an active group, or everyone in a roster preview)
into groups whose sizes lie between the settings' minimum and maximum.

Method: group sizes are planned first (``plan_group_sizes``). A seeded construction
then fills groups around shared hours, scarcest hour first, choosing members who
keep the group free of supervision pairs and add a lead, career band or department
it lacks. Local search follows: for each member of a group that is not yet at its
best possible cost, the best improving move (to a group with room) or swap with a
member of another group is applied, until a round changes nothing or the round
limit is reached. Group sizes stay within the bounds throughout. Small cohorts get
several such attempts and keep the best. Everything random comes from one
``random.Random(seed)`` and the input is put in user-ID order first, so the same
people and settings always give the same groups.

By default (``career_bands="single"``) residents, attendings and people with no career
stage on file are formed separately, each among themselves, and the groups are numbered
on: no group mixes residents and attendings. With ``career_bands="mixed"`` (an admin's
explicit choice) everyone is formed together, and a resident and an attending of the same
department count as a supervision pair, so they are kept apart.

The objective is in :mod:`bot.domain.group_formation.model`.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date
from typing import Sequence

from bot.domain.group_formation.cohort import _Cohort, career_track
from bot.domain.group_formation.construction import _construct
from bot.domain.group_formation.cost import _Group
from bot.domain.group_formation.local_search import _improve
from bot.domain.group_formation.model import FormationResult, FormationSettings, Objective
from bot.domain.group_formation.report import _report
from bot.domain.group_formation.sizes import _plan_blocks
from bot.domain.people import Person

# Small cohorts get several seeded attempts (the best is kept): a swap search can stall
# in a local optimum, and a fresh start is cheap when there are few people.
_ATTEMPT_BUDGET = 600
_MAX_ATTEMPTS = 8


def form_groups(
    people: Sequence[Person],
    settings: FormationSettings = FormationSettings(),
    *,
    week_of: date | None = None,
    cohort: str | None = None,
) -> FormationResult:
    """Place everyone in ``people`` into groups; see the module docstring for the objective.

    ``week_of`` fixes the week whose daylight-saving offsets turn availability into
    common hours (default: this week); ``cohort`` only labels the groups.
    """
    ids = [p.user_id for p in people]
    if len(set(ids)) != len(ids):
        duplicates = sorted(uid for uid, n in Counter(ids).items() if n > 1)
        raise ValueError(f"each person may appear once; repeated: {', '.join(duplicates)}")
    if not people:
        return FormationResult([], ["no one to place in a group"], Objective())
    return _form_by_band(people, settings, week_of, cohort, improve=True)


def construct_groups_only(
    people: Sequence[Person], settings: FormationSettings = FormationSettings(), *, week_of: date | None = None
) -> FormationResult:
    """The seeded construction alone, without local search: the baseline the benchmark compares against."""
    return _form_by_band(people, settings, week_of, None, improve=False)


_TRACK_ORDER = ("residents", "attendings", None)
_TRACK_NAMES = {"residents": "residents", "attendings": "attendings", None: "people with no career stage on file"}


def _form_by_band(
    people: Sequence[Person], settings: FormationSettings, week_of: date | None, label: str | None, *, improve: bool
) -> FormationResult:
    """One formation per career band (residents, attendings, stage not on file) unless bands are mixed."""
    if settings.career_bands == "mixed":
        return _form(people, settings, week_of, label, improve=improve)
    by_track: dict[str | None, list[Person]] = {}
    for person in people:
        by_track.setdefault(career_track(person.career_stage), []).append(person)
    if len(by_track) <= 1:
        return _form(people, settings, week_of, label, improve=improve)
    groups, warnings, totals = [], [], Objective()
    for track in _TRACK_ORDER:
        members = by_track.get(track)
        if not members:
            continue
        result = _form(members, settings, week_of, label, improve=improve, first_number=len(groups) + 1)
        groups.extend(result.groups)
        name = _TRACK_NAMES[track]
        warnings.extend(f"among the {len(members)} {name}: {warning}" for warning in result.warnings)
        if len(members) < settings.size_min:
            warnings.append(
                f"only {len(members)} {name}, too few for a group of their own; residents and attendings are grouped "
                "separately by default (an admin can choose mixed career bands, which still keeps each resident "
                "apart from the attendings of their own department)"
            )
        totals = Objective(*(a + b for a, b in zip(totals, result.objective)))
    return FormationResult(groups, warnings, totals)


def _form(
    people: Sequence[Person],
    settings: FormationSettings,
    week_of: date | None,
    label: str | None,
    *,
    improve: bool,
    first_number: int = 1,
) -> FormationResult:
    cohort = _Cohort(sorted(people, key=lambda p: p.user_id), settings, week_of)
    rng = random.Random(settings.seed)
    attempts = max(1, min(_MAX_ATTEMPTS, _ATTEMPT_BUDGET // len(people))) if improve else 1
    best: tuple[int, list[_Group], list[str]] | None = None
    for _ in range(attempts):
        blocks, warnings = _plan_blocks(cohort, settings, rng)
        groups, neighbours = _construct(cohort, blocks, rng)
        if improve:
            _improve(cohort, groups, neighbours, settings, rng)
        score = sum(group.score for group in groups)
        if best is None or score < best[0]:
            best = (score, groups, warnings)
    assert best is not None
    return _report(cohort, best[1], settings, best[2], week_of, label, first_number)
