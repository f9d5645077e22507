"""Group sizes: how to split a number of people, and in same-specialty mode how many each specialty keeps."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bot.domain.group_formation.cohort import _UNKNOWN, _Cohort
from bot.domain.group_formation.model import FormationSettings


def plan_group_sizes(n: int, size_min: int, size_max: int) -> tuple[list[int], str | None]:
    """Sizes for ``n`` people, largest first, and a warning when they cannot all lie in [min, max].

    When several group counts fit, the one whose average size is nearest the middle
    of the range wins (ties: fewer, larger groups, which absorb absences better).
    When none fits, the split with the fewest places outside the range wins (ties:
    fewer groups). Nobody is ever left out.
    """
    if n < 0 or size_min < 1 or size_min > size_max:
        raise ValueError(f"cannot plan groups for n={n} with sizes {size_min}-{size_max}")
    if n == 0:
        return [], None
    fitting = range(-(-n // size_max), n // size_min + 1)
    if fitting:
        middle = (size_min + size_max) / 2
        count = min(fitting, key=lambda k: (abs(n / k - middle), k))
        return _even_split(n, count), None
    if n < size_min:
        return [n], (
            f"only {n} {'person' if n == 1 else 'people'} to place, fewer than the minimum group size of "
            f"{size_min}: they form one group of {n}"
        )
    fewer = n // size_min  # every group above the maximum
    more = fewer + 1  # every group below the minimum
    count = fewer if n - fewer * size_max <= more * size_min - n else more
    sizes = _even_split(n, count)
    return sizes, (
        f"{n} people cannot be split into groups of {size_min}-{size_max}; "
        f"closest split: {' + '.join(map(str, sizes))}"
    )


def _even_split(n: int, count: int) -> list[int]:
    base, extra = divmod(n, count)
    return [base + 1] * extra + [base] * (count - extra)


def _splittable(n: int, size_min: int, size_max: int) -> bool:
    return n == 0 or -(-n // size_max) <= n // size_min


def _split_shortfall(n: int, size_min: int, size_max: int) -> int:
    """Places outside [min, max] in the best split of ``n`` (0 when a fitting split exists)."""
    if _splittable(n, size_min, size_max):
        return 0
    if n < size_min:
        return size_min - n
    fewer = n // size_min
    return min(n - fewer * size_max, (fewer + 1) * size_min - n)


@dataclass
class _Block:
    """People to be split into groups of ``sizes`` among themselves (a specialty, or everyone)."""

    members: list[int]
    sizes: list[int]
    pooled: bool  # the mixed remainder in same-specialty mode, or the only block in mixed mode


def _plan_blocks(cohort: _Cohort, settings: FormationSettings, rng: random.Random) -> tuple[list[_Block], list[str]]:
    everyone = list(range(len(cohort.people)))
    rng.shuffle(everyone)
    if not cohort.same_specialty:
        sizes, warning = plan_group_sizes(len(everyone), settings.size_min, settings.size_max)
        return [_Block(everyone, sizes, pooled=True)], [warning] if warning else []

    by_specialty: dict[int, list[int]] = {}
    for person in everyone:
        by_specialty.setdefault(cohort.specialty[person], []).append(person)
    pool = by_specialty.pop(_UNKNOWN, [])
    codes = sorted(by_specialty, key=lambda code: cohort.specialty_name[code].casefold())
    ordered, clean = zip(*(_conflict_free_first(cohort, by_specialty[code]) for code in codes)) if codes else ((), ())
    kept = _same_specialty_counts([len(members) for members in ordered], list(clean), len(pool), settings)
    blocks = []
    for members, keep in zip(ordered, kept):
        if keep:
            sizes, _ = plan_group_sizes(keep, settings.size_min, settings.size_max)
            blocks.append(_Block(members[:keep], sizes, pooled=False))
        pool.extend(members[keep:])
    warnings = []
    if pool:
        sizes, warning = plan_group_sizes(len(pool), settings.size_min, settings.size_max)
        blocks.append(_Block(pool, sizes, pooled=True))
        if warning:
            if len(pool) < len(everyone):
                warning = f"among the {len(pool)} outside same-specialty groups: {warning}"
            warnings.append(warning)
    return blocks, warnings


def _conflict_free_first(cohort: _Cohort, members: list[int]) -> tuple[list[int], int]:
    """Members reordered so that a set with no supervision pair among them comes first, and its size.

    The set is built greedily, fewest relationships first; whoever it leaves out is
    the first to join the mixed pool when the specialty can only fill one group.
    """
    inside = set(members)
    degree = {m: len(cohort.related[m] & inside) for m in members}
    chosen: list[int] = []
    chosen_set: set[int] = set()
    for person in sorted(members, key=lambda m: degree[m]):  # stable: seeded order breaks ties
        if not cohort.related[person] & chosen_set:
            chosen.append(person)
            chosen_set.add(person)
    return chosen + [m for m in members if m not in chosen_set], len(chosen)


def _same_specialty_counts(
    counts: list[int], clean: list[int], unassigned: int, settings: FormationSettings
) -> list[int]:
    """How many of each specialty to keep in same-specialty groups.

    Each specialty keeps 0 or a number that splits into fitting groups (a single
    group only as large as its ``clean`` count, people with no supervision pair among
    them; several groups can keep pairs apart). The rest join a shared pool with the
    people of unknown specialty. Among the reachable pool sizes the pool with the
    fewest places outside the size range wins, then the smallest pool, so as few
    people as possible end up in mixed groups.
    """
    lo, hi = settings.size_min, settings.size_max
    # reachable[i] is a bitset of pool sizes reachable after deciding specialties 0..i-1.
    reachable = [1 << unassigned]
    options: list[list[int]] = []
    for count, clean_count in zip(counts, clean):
        leftovers = [
            count - keep
            for keep in range(count, -1, -1)
            if keep == 0 or (_splittable(keep, lo, hi) and (keep > hi or keep <= clean_count))
        ]
        options.append(leftovers)
        bits = 0
        for leftover in leftovers:
            bits |= reachable[-1] << leftover
        reachable.append(bits)
    final = reachable[-1]
    candidates = [p for p in range(final.bit_length()) if final >> p & 1]
    pool = min(candidates, key=lambda p: (_split_shortfall(p, lo, hi), p))
    kept = [0] * len(counts)
    for i in range(len(counts) - 1, -1, -1):
        for leftover in options[i]:  # smallest leftover first: keep as many together as possible
            if leftover <= pool and reachable[i] >> (pool - leftover) & 1:
                kept[i] = counts[i] - leftover
                pool -= leftover
                break
    return kept
