"""One group's cost tuple (see the objective in ``model``), and what it would be after a move or swap."""

from __future__ import annotations

from collections import Counter
from itertools import chain

from bot.domain.availability import HOURS_PER_WEEK
from bot.domain.group_formation.cohort import _UNKNOWN, _Cohort

_ALL_HOURS = (1 << HOURS_PER_WEEK) - 1
# Packing the objective into one integer keeps the local search cheap; each component
# stays far below the base for any realistic cohort, so integer order is tuple order.
_BASE = 1 << 24


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
