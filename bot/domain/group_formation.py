"""Forming COMPASS groups from the people waiting for one.

``form_groups`` places every person it is given (the caller decides who: active,
enrolled members not already in an active group, or everyone in a roster preview)
into groups whose sizes lie between the settings' minimum and maximum.

The objective, compared lexicographically (an earlier item always outweighs every
later one), summed over groups:

1. ``conflicts`` - pairs in one group where one person supervises or evaluates the
   other (``supervisor_ids``, either direction). Hard.
2. ``specialty_mixing`` - same-specialty mode only: members whose specialty differs
   from their group's main specialty. Hard where numbers allow.
3. ``availability_gaps`` - members who gave availability but miss the hour most of
   their group shares; 0 for a group means it has a common weekly hour. People who
   gave no availability are unknown, not unavailable, and never count here, except
   that a group where nobody gave any counts 1 (no common hour is known).
4. ``stage_repeats`` - members minus distinct career bands (PGY-1, PGY-2, PGY-3,
   PGY-4+, attending <5, 5-14, 15+ years): lower means a wider spread.
5. ``groups_without_lead`` - groups with nobody willing to lead.
6. ``department_repeats`` - mixed mode only: members minus distinct departments.

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
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from itertools import chain, combinations, islice
from typing import Iterator, Literal, NamedTuple, Sequence

from bot.domain.availability import HOURS_PER_WEEK, describe_hour, utc_hours_of_week
from bot.domain.people import CareerStage, Person

Mode = Literal["mixed", "same-specialty"]
MODES: tuple[str, ...] = ("mixed", "same-specialty")
ALLOWED_SIZE_MIN = 4
ALLOWED_SIZE_MAX = 10

_ALL_HOURS = (1 << HOURS_PER_WEEK) - 1
_UNKNOWN = -1
# Packing the objective into one integer keeps the local search cheap; each component
# stays far below the base for any realistic cohort, so integer order is tuple order.
_BASE = 1 << 24
_MAX_ROUNDS = 8
# Small cohorts get several seeded attempts (the best is kept): a swap search can stall
# in a local optimum, and a fresh start is cheap when there are few people.
_ATTEMPT_BUDGET = 600
_MAX_ATTEMPTS = 8
# Groups searched exhaustively below this many partner groups, sampled above it.
_FULL_SCAN_GROUPS = 24
_SAMPLED_GROUPS = 12
_CONSTRUCTION_WINDOW = 64


@dataclass(frozen=True)
class FormationSettings:
    size_min: int = 6
    size_max: int = 8
    mode: Mode = "mixed"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("size_min", "size_max"):
            value = getattr(self, name)
            if not ALLOWED_SIZE_MIN <= value <= ALLOWED_SIZE_MAX:
                raise ValueError(f"{name.replace('_', '-')} must be {ALLOWED_SIZE_MIN}-{ALLOWED_SIZE_MAX}, got {value}")
        if self.size_min > self.size_max:
            raise ValueError(f"size-min ({self.size_min}) must not exceed size-max ({self.size_max})")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")


class Objective(NamedTuple):
    """Totals of the objective in the module docstring, in priority order (lower is better)."""

    conflicts: int = 0
    specialty_mixing: int = 0
    availability_gaps: int = 0
    stage_repeats: int = 0
    groups_without_lead: int = 0
    department_repeats: int = 0


@dataclass
class ProposedGroup:
    name: str
    members: list[str]
    lead: str | None
    common_slots: list[str]  # whole hours every member with known availability shares, in `timezone`
    timezone: str
    specialty: str | None  # the shared specialty, or None when mixed or unknown
    warnings: list[str] = field(default_factory=list)


@dataclass
class FormationResult:
    groups: list[ProposedGroup]
    warnings: list[str]
    objective: Objective

    def as_dict(self) -> dict:
        return {"groups": [asdict(group) for group in self.groups], "warnings": list(self.warnings)}

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent, ensure_ascii=False)


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
    return _form(people, settings, week_of, cohort, improve=True)


def construct_groups_only(
    people: Sequence[Person], settings: FormationSettings = FormationSettings(), *, week_of: date | None = None
) -> FormationResult:
    """The seeded construction alone, without local search: the baseline the benchmark compares against."""
    return _form(people, settings, week_of, None, improve=False)


def _form(
    people: Sequence[Person], settings: FormationSettings, week_of: date | None, label: str | None, *, improve: bool
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
    return _report(cohort, best[1], settings, best[2], week_of, label)


# --- the people, as numbers ----------------------------------------------------------------------


def career_band(stage: CareerStage | None) -> int:
    """0-3: PGY-1, PGY-2, PGY-3, PGY-4 and beyond; 4-6: attending <5, 5-14, 15+ years; -1 unknown."""
    if stage is None:
        return _UNKNOWN
    if stage.is_trainee:
        return min(stage.years, 4) - 1
    return 4 if stage.years < 5 else 5 if stage.years < 15 else 6


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


class _Cohort:
    """Per-person features as parallel lists indexed by position in ``people``."""

    def __init__(self, people: list[Person], settings: FormationSettings, week_of: date | None):
        self.people = people
        self.same_specialty = settings.mode == "same-specialty"
        index = {p.user_id: i for i, p in enumerate(people)}
        related: list[set[int]] = [set() for _ in people]
        for i, person in enumerate(people):
            for supervisor in person.supervisor_ids:
                j = index.get(supervisor)
                if j is not None and j != i:
                    related[i].add(j)
                    related[j].add(i)
        self.related = [frozenset(r) for r in related]
        self.hours: list[int] = []
        self.hour_list: list[tuple[int, ...]] = []
        for person in people:
            hours = utc_hours_of_week(person.availability, person.timezone or "UTC", week_of)
            self.hours.append(sum(1 << h for h in hours))
            self.hour_list.append(tuple(sorted(hours)))
        # Windows that hold no whole hour still count as given: that person fits no hour-long slot.
        self.gave_availability = [bool(p.availability) for p in people]
        self.band = [career_band(p.career_stage) for p in people]
        self.department = self._codes(p.department for p in people)
        self.specialty = self._codes(p.specialty for p in people)
        self.lead = [p.lead_willing for p in people]
        self.band_count = len({b for b in self.band if b != _UNKNOWN})
        self.department_count = len({d for d in self.department if d != _UNKNOWN})
        names: dict[int, Counter[str]] = {}
        for person, code in zip(people, self.specialty):
            if code != _UNKNOWN:
                names.setdefault(code, Counter())[" ".join(person.specialty.split())] += 1
        self.specialty_name = {code: min(c, key=lambda s: (-c[s], s)) for code, c in names.items()}

    @staticmethod
    def _codes(values) -> list[int]:
        codes: dict[str, int] = {}
        result = []
        for value in values:
            key = _normalise(value)
            result.append(codes.setdefault(key, len(codes)) if key else _UNKNOWN)
        return result


# --- group state and its cost ------------------------------------------------------------------


class _Group:
    """Members plus the tallies that let a move or swap be costed without rebuilding the group."""

    __slots__ = (
        "cohort", "members", "member_set", "conflicts", "known", "common_without", "bands", "band_known",
        "departments", "department_known", "specialties", "leads", "common", "cost", "score",
        "settled",
    )

    def __init__(self, cohort: _Cohort, members: list[int]):
        self.cohort = cohort
        self.members = members
        self.rebuild()

    def rebuild(self) -> None:
        c = self.cohort
        members = self.members
        self.member_set = set(members)
        self.conflicts = sum(len(c.related[m] & self.member_set) for m in members) // 2
        known = [m for m in members if c.gave_availability[m]]
        self.known = len(known)
        # AND of everyone else's hours, per member, from prefix and suffix products.
        prefix = [_ALL_HOURS]
        for m in members:
            prefix.append(prefix[-1] & (c.hours[m] if c.gave_availability[m] else _ALL_HOURS))
        self.common = prefix[-1]
        suffix = _ALL_HOURS
        self.common_without = {}
        for position in range(len(members) - 1, -1, -1):
            m = members[position]
            self.common_without[m] = prefix[position] & suffix
            suffix &= c.hours[m] if c.gave_availability[m] else _ALL_HOURS
        self.bands = Counter(c.band[m] for m in members if c.band[m] != _UNKNOWN)
        self.band_known = sum(self.bands.values())
        self.departments = Counter(c.department[m] for m in members if c.department[m] != _UNKNOWN)
        self.department_known = sum(self.departments.values())
        self.specialties = Counter(c.specialty[m] for m in members if c.specialty[m] != _UNKNOWN)
        self.leads = sum(c.lead[m] for m in members)
        self.cost = self.cost_with(None, None)
        self.score = _pack(self.cost)
        self.settled = self.cost[:3] == (0, 0, 0)

    def floor(self) -> tuple[int, ...]:
        """A lower bound on this group's cost: nothing below it is reachable."""
        c = self.cohort
        department_floor = max(0, self.department_known - c.department_count) if not c.same_specialty else 0
        return (0, 0, 0, max(0, self.band_known - c.band_count), 0, department_floor)

    def cost_with(
        self, leaving: int | None, joining: int | None, *, exact: bool = True
    ) -> tuple[int, int, int, int, int, int]:
        """The cost tuple if ``leaving`` left and ``joining`` joined (either may be None).

        With ``exact=False`` a group left without a common hour reports an availability
        gap of 1, a lower bound that spares counting hours for swaps that cannot win.
        """
        c = self.cohort
        member_set = self.member_set
        conflicts = self.conflicts
        if leaving is not None and c.related[leaving]:
            conflicts -= len(c.related[leaving] & member_set)
        if joining is not None and c.related[joining]:
            conflicts += sum(1 for x in c.related[joining] if x in member_set and x != leaving)

        mixing = self.mixing_with(leaving, joining) if c.same_specialty else 0
        gap = self._availability_gap(leaving, joining, exact)

        out_band = c.band[leaving] if leaving is not None else _UNKNOWN
        in_band = c.band[joining] if joining is not None else _UNKNOWN
        band_known = self.band_known - (out_band != _UNKNOWN) + (in_band != _UNKNOWN)
        stage_repeats = band_known - _distinct_after(self.bands, out_band, in_band)

        leads = self.leads - (leaving is not None and c.lead[leaving]) + (joining is not None and c.lead[joining])

        department_repeats = 0
        if not c.same_specialty:
            out_dept = c.department[leaving] if leaving is not None else _UNKNOWN
            in_dept = c.department[joining] if joining is not None else _UNKNOWN
            known = self.department_known - (out_dept != _UNKNOWN) + (in_dept != _UNKNOWN)
            department_repeats = known - _distinct_after(self.departments, out_dept, in_dept)

        return (conflicts, mixing, gap, stage_repeats, int(leads == 0), department_repeats)

    def mixing_with(self, leaving: int | None, joining: int | None) -> int:
        """Members outside the group's main specialty after the exchange."""
        c = self.cohort
        counts = self.specialties
        out_code = c.specialty[leaving] if leaving is not None else _UNKNOWN
        in_code = c.specialty[joining] if joining is not None else _UNKNOWN
        if out_code != in_code:
            counts = dict(counts)
            if out_code != _UNKNOWN:
                counts[out_code] -= 1
            if in_code != _UNKNOWN:
                counts[in_code] = counts.get(in_code, 0) + 1
        return sum(counts.values()) - max(counts.values(), default=0)

    def keeps_common_hour(self, leaving: int | None, joining: int | None) -> bool:
        """Whether a group that has a common hour still has one after the exchange (a fast pre-check)."""
        c = self.cohort
        common = self.common_without[leaving] if leaving is not None else self.common
        if joining is not None and c.gave_availability[joining]:
            common &= c.hours[joining]
        elif self.known - (leaving is not None and c.gave_availability[leaving]) == 0:
            return False
        return bool(common)

    def _availability_gap(self, leaving: int | None, joining: int | None, exact: bool) -> int:
        c = self.cohort
        joining_known = joining is not None and c.gave_availability[joining]
        leaving_known = leaving is not None and c.gave_availability[leaving]
        known = self.known - leaving_known + joining_known
        if known == 0:
            return 1  # nobody gave availability: no common hour is known
        common = self.common_without[leaving] if leaving is not None else self.common
        if joining_known:
            common &= c.hours[joining]
        if common:
            return 0
        if not exact:
            return 1
        # Nobody's hours cover the whole group: count how many share the best hour.
        hour_lists = [c.hour_list[m] for m in self.members if m != leaving and c.gave_availability[m]]
        if joining_known:
            hour_lists.append(c.hour_list[joining])
        coverage = Counter(chain.from_iterable(hour_lists))
        return known - max(coverage.values(), default=0)


def _distinct_after(counts: Counter, out_key: int, in_key: int) -> int:
    distinct = len(counts)
    if out_key == in_key:
        return distinct
    if out_key != _UNKNOWN and counts[out_key] == 1:
        distinct -= 1
    if in_key != _UNKNOWN and counts.get(in_key, 0) == 0:
        distinct += 1
    return distinct


def _pack(cost: tuple[int, ...]) -> int:
    score = 0
    for part in cost:
        score = score * _BASE + part
    return score


# --- sizes per block ---------------------------------------------------------------------------


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


# --- construction ------------------------------------------------------------------------------


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


# --- local search ------------------------------------------------------------------------------


def _improve(
    cohort: _Cohort, groups: list[_Group], neighbours: list[list[int]], settings: FormationSettings, rng: random.Random
) -> None:
    size_min, size_max = settings.size_min, settings.size_max
    for _ in range(_MAX_ROUNDS):
        changed = False
        worst_first = sorted(range(len(groups)), key=lambda g: (-groups[g].score, g))
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
                if _best_exchange(groups, g, person, partners, size_min, size_max):
                    changed = True
        if not changed:
            break


def _best_exchange(
    groups: list[_Group], g: int, person: int, partners: list[int], size_min: int, size_max: int
) -> bool:
    """Apply the best improving move or swap of ``person`` out of group ``g``; report whether one was found."""
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
        return False
    h, partner = best
    other = groups[h]
    group.members.remove(person)
    other.members.append(person)
    if partner is not None:
        other.members.remove(partner)
        group.members.append(partner)
    group.rebuild()
    other.rebuild()
    return True


# --- reporting ---------------------------------------------------------------------------------


def _report(
    cohort: _Cohort,
    groups: list[_Group],
    settings: FormationSettings,
    warnings: list[str],
    week_of: date | None,
    label: str | None,
) -> FormationResult:
    proposed = [
        _describe(cohort, group, f"{label} group {number}" if label else f"Group {number}", settings, week_of)
        for number, group in enumerate(groups, start=1)
    ]
    totals = [sum(parts) for parts in zip(*(group.cost for group in groups))]
    objective = Objective(*totals) if groups else Objective()
    return FormationResult(proposed, list(warnings) + _overall_warnings(cohort, groups, proposed), objective)


def _describe(
    cohort: _Cohort, group: _Group, name: str, settings: FormationSettings, week_of: date | None
) -> ProposedGroup:
    people = cohort.people
    members = sorted(group.members)  # people are in user-ID order
    tz = _majority_timezone([people[m] for m in members])
    common = group.common if group.known else 0
    slots = [describe_hour(h, tz, week_of) for h in range(HOURS_PER_WEEK) if common >> h & 1]
    warnings = _size_warnings(len(members), settings)
    warnings += [
        f"{people[a].user_id} and {people[b].user_id} share this group although one supervises or evaluates the other"
        for a, b in combinations(members, 2)
        if b in cohort.related[a]
    ]
    if cohort.same_specialty and group.cost[1]:
        warnings.append(f"specialties had to mix: {_specialty_mix(cohort, members)}")
    if not slots:
        warnings.append(_no_common_hour(cohort, group, members, tz, week_of))
    lead = _choose_lead([people[m] for m in members])
    if lead is None:
        warnings.append("no member is willing to lead")
    return ProposedGroup(
        name=name,
        members=[people[m].user_id for m in members],
        lead=lead,
        common_slots=slots,
        timezone=tz,
        specialty=_shared_specialty(cohort, members),
        warnings=warnings,
    )


def _overall_warnings(cohort: _Cohort, groups: list[_Group], proposed: list[ProposedGroup]) -> list[str]:
    warnings = []
    checks = [
        (
            lambda g, p: g.cost[0] > 0,
            "{n} group(s) keep a supervisor or evaluator with someone they supervise or evaluate, "
            "because no arrangement separating them was found: {names}",
        ),
        (
            lambda g, p: cohort.same_specialty and g.cost[1] > 0,
            "{n} group(s) had to mix specialties, as the numbers did not allow same-specialty groups "
            "for everyone: {names}",
        ),
        (lambda g, p: not p.common_slots, "{n} group(s) have no known common hour: {names}"),
        (lambda g, p: p.lead is None, "{n} group(s) have nobody willing to lead: {names}"),
    ]
    for condition, template in checks:
        flagged = [p.name for g, p in zip(groups, proposed) if condition(g, p)]
        if flagged:
            warnings.append(template.format(n=len(flagged), names=", ".join(flagged)))
    unknown_specialty = sum(1 for code in cohort.specialty if code == _UNKNOWN)
    if cohort.same_specialty and unknown_specialty:
        who = "1 person has" if unknown_specialty == 1 else f"{unknown_specialty} people have"
        warnings.append(f"{who} no specialty on file; they count as fitting any group")
    return warnings


def _size_warnings(size: int, settings: FormationSettings) -> list[str]:
    if size < settings.size_min:
        return [f"{size} members, below the minimum of {settings.size_min}"]
    if size > settings.size_max:
        return [f"{size} members, above the maximum of {settings.size_max}"]
    return []


def _shared_specialty(cohort: _Cohort, members: list[int]) -> str | None:
    codes = {cohort.specialty[m] for m in members} - {_UNKNOWN}
    return cohort.specialty_name[codes.pop()] if len(codes) == 1 else None


def _specialty_mix(cohort: _Cohort, members: list[int]) -> str:
    counts = Counter(
        cohort.specialty_name[cohort.specialty[m]] if cohort.specialty[m] != _UNKNOWN else "not given" for m in members
    )
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _no_common_hour(cohort: _Cohort, group: _Group, members: list[int], tz: str, week_of: date | None) -> str:
    silent = sum(1 for m in members if not cohort.gave_availability[m])
    if group.known == 0:
        return "no member gave availability, so no common hour is known: ask the group to pick a time"
    coverage = Counter(chain.from_iterable(cohort.hour_list[m] for m in members if cohort.gave_availability[m]))
    text = f"no weekly hour suits all {group.known} members who gave availability"
    if coverage:
        best = min(coverage, key=lambda h: (-coverage[h], h))
        text += f" (best: {describe_hour(best, tz, week_of)}, {coverage[best]} of {group.known})"
    if silent:
        text += f"; {silent} gave none"
    return text


def _majority_timezone(people: list[Person]) -> str:
    counts = Counter(p.timezone for p in people if p.timezone)
    if not counts:
        return "UTC"
    return min(counts, key=lambda tz: (-counts[tz], tz))


def _choose_lead(people: list[Person]) -> str | None:
    """The willing member with the most experience (attendings first, then years; ties: user ID), or None."""

    def seniority(person: Person) -> tuple:
        stage = person.career_stage
        return (stage is None or stage.is_trainee, -stage.years if stage else 0, person.user_id)

    willing = [p for p in people if p.lead_willing]
    return min(willing, key=seniority).user_id if willing else None
