"""Local search: the best improving move or swap for each member of a group not yet at its floor."""

from __future__ import annotations

import random

from bot.domain.group_formation.cohort import _Cohort
from bot.domain.group_formation.cost import _Group, _pack
from bot.domain.group_formation.model import FormationSettings

_MAX_ROUNDS = 8
# In a cohort of more groups than this, a round after the first visits only the groups an exchange
# changed in the round before (and their partners in it): at 50,000 people each full round took
# about 2 s for a few dozen exchanges, nearly all of them involving a group that had just changed.
_FULL_ROUNDS_GROUPS = 1_000
# Groups searched exhaustively below this many partner groups, sampled above it.
_FULL_SCAN_GROUPS = 24
_SAMPLED_GROUPS = 12


def _improve(
    cohort: _Cohort, groups: list[_Group], neighbours: list[list[int]], settings: FormationSettings, rng: random.Random
) -> None:
    size_min, size_max = settings.size_min, settings.size_max
    visit = range(len(groups))
    for _ in range(_MAX_ROUNDS):
        touched: set[int] = set()
        worst_first = sorted(visit, key=lambda g: (-groups[g].score, g))
        for g in worst_first:
            group = groups[g]
            if group.cost == group.floor():
                continue
            partners = neighbours[g]
            if len(partners) > _FULL_SCAN_GROUPS and not group.cost[0]:
                partners = rng.sample(partners, _SAMPLED_GROUPS)
            for person in list(group.members):
                if group.cost == group.floor():
                    break
                h = _best_exchange(groups, g, person, partners, size_min, size_max)
                if h is not None:
                    touched.update((g, h))
        if not touched:
            break
        if len(groups) > _FULL_ROUNDS_GROUPS:
            visit = touched


def _best_exchange(
    groups: list[_Group], g: int, person: int, partners: list[int], size_min: int, size_max: int
) -> int | None:
    """Apply the best improving move or swap of ``person`` out of group ``g``; the other group changed, if any."""
    group = groups[g]
    best_delta, best = 0, None
    can_leave = len(group.members) - 1 >= size_min
    for h in partners:
        other = groups[h]
        base = group.score + other.score
        exchanges: list[int | None] = list(other.members)
        if can_leave and len(other.members) + 1 <= size_max:
            exchanges.append(None)  # a plain move: nobody comes back
        settled = group.settled and other.settled
        for partner in exchanges:
            if settled and not (
                group.keeps_common_hour(person, partner) and other.keeps_common_hour(partner, person)
            ):
                continue  # nothing outranks a common hour once conflicts and mixing are already zero
            # Cheap lower bound first; count hours only for exchanges that could still win.
            delta = _pack(group.cost_with(person, partner, exact=False)) + _pack(
                other.cost_with(partner, person, exact=False)
            ) - base
            if delta >= best_delta:
                continue
            delta = _pack(group.cost_with(person, partner)) + _pack(other.cost_with(partner, person)) - base
            if delta < best_delta:
                best_delta, best = delta, (h, partner)
    if best is None:
        return None
    h, partner = best
    other = groups[h]
    group.members.remove(person)
    other.members.append(person)
    if partner is not None:
        other.members.remove(partner)
        group.members.append(partner)
    group.rebuild()
    other.rebuild()
    return h
