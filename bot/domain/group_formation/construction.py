"""The seeded construction: groups filled around shared hours, scarcest hour first."""

from __future__ import annotations

import random
from itertools import islice
from typing import Iterator

from bot.domain.availability import HOURS_PER_WEEK
from bot.domain.group_formation.cohort import _Cohort
from bot.domain.group_formation.cost import _Group
from bot.domain.group_formation.sizes import _Block, _even_split

_CONSTRUCTION_WINDOW = 64


def _construct(cohort: _Cohort, blocks: list[_Block], rng: random.Random) -> tuple[list[_Group], list[list[int]]]:
    groups: list[_Group] = []
    block_of_group: list[int] = []
    for block_number, block in enumerate(blocks):
        for members in _fill_block(cohort, block, rng):
            groups.append(_Group(cohort, members))
            block_of_group.append(block_number)
    pooled = [g for g, b in enumerate(block_of_group) if blocks[b].pooled]
    everyone = list(range(len(groups)))
    neighbours = []
    for g, b in enumerate(block_of_group):
        if blocks[b].pooled:
            neighbours.append([h for h in everyone if h != g])
        else:
            same_block = [h for h, hb in enumerate(block_of_group) if hb == b and h != g]
            neighbours.append(same_block + pooled)
    return groups, neighbours


def _fill_block(cohort: _Cohort, block: _Block, rng: random.Random) -> list[list[int]]:
    """Fill groups of the planned sizes, each around an hour its members share where possible."""
    order = {person: position for position, person in enumerate(block.members)}
    unassigned = set(block.members)
    by_hour: dict[int, list[int]] = {}
    for person in block.members:
        if cohort.gave_availability[person]:
            for hour in cohort.hour_list[person]:
                by_hour.setdefault(hour, []).append(person)
    still_free = {hour: len(people) for hour, people in by_hour.items()}
    hour_rank = list(range(HOURS_PER_WEEK))
    rng.shuffle(hour_rank)
    unknown_availability = [p for p in block.members if not cohort.gave_availability[p]]
    # People without availability are spread evenly, so no group is left with no known hour.
    unknown_quota = _even_split(len(unknown_availability), len(block.sizes))

    groups = []
    for size, quota in zip(block.sizes, unknown_quota):
        group: list[int] = []
        hour = _scarcest_fitting_hour(still_free, size - quota, hour_rank)
        fills = [(unknown_availability, quota), (block.members, size)]
        if hour is not None:
            by_hour[hour] = [p for p in by_hour[hour] if p in unassigned]
            fills.insert(0, (by_hour[hour], size - quota))
        for source, wanted in fills:
            fresh = (p for p in source if p in unassigned and p not in group)
            _pick_into(cohort, group, fresh, min(size, len(group) + wanted), order)
        for person in group:
            unassigned.discard(person)
            for taken in cohort.hour_list[person] if cohort.gave_availability[person] else ():
                still_free[taken] -= 1
        groups.append(group)
    return groups


def _scarcest_fitting_hour(still_free: dict[int, int], size: int, hour_rank: list[int]) -> int | None:
    """The hour with the fewest unplaced people that still fills a group; else the fullest hour."""
    fitting = [h for h, free in still_free.items() if free >= size]
    if fitting:
        return min(fitting, key=lambda h: (still_free[h], hour_rank[h]))
    populated = [h for h, free in still_free.items() if free]
    if not populated:
        return None
    return min(populated, key=lambda h: (-still_free[h], hour_rank[h]))


def _pick_into(cohort: _Cohort, group: list[int], candidates: Iterator[int], size: int, order: dict[int, int]) -> None:
    """Add candidates to ``group`` until it reaches ``size``, best first within a sliding window.

    Preferred: no supervision pair with those already in, a lead if the group has
    none, a career band and department it lacks, then the least flexible person
    (fewest available hours), so flexible people remain for later groups.
    """
    candidates = iter(candidates)
    window = list(islice(candidates, _CONSTRUCTION_WINDOW))
    while len(group) < size and window:
        members = set(group)
        bands = {cohort.band[m] for m in group}
        departments = {cohort.department[m] for m in group}
        has_lead = any(cohort.lead[m] for m in group)

        def preference(person: int) -> tuple:
            return (
                bool(cohort.related[person] & members),
                not has_lead and not cohort.lead[person],
                cohort.band[person] in bands,
                cohort.department[person] in departments,
                len(cohort.hour_list[person]) or HOURS_PER_WEEK,
                order[person],
            )

        chosen = min(window, key=preference)
        window.remove(chosen)
        group.append(chosen)
        window.extend(islice(candidates, 1))
