"""The people to be grouped, as numbers: relationships, hour bitsets, career bands and codes."""

from __future__ import annotations

from collections import Counter
from datetime import date

from bot.domain.availability import utc_hours_of_week
from bot.domain.group_formation.model import FormationSettings
from bot.domain.people import CareerStage, Person

_UNKNOWN = -1


def career_band(stage: CareerStage | None) -> int:
    """0-3: PGY-1, PGY-2, PGY-3, PGY-4 and beyond; 4-6: attending <5, 5-14, 15+ years; -1 unknown."""
    if stage is None:
        return _UNKNOWN
    if stage.is_trainee:
        return min(stage.years, 4) - 1
    return 4 if stage.years < 5 else 5 if stage.years < 15 else 6


def career_track(stage: CareerStage | None) -> str | None:
    """"residents" (any PGY year), "attendings", or None when no career stage is on file."""
    if stage is None:
        return None
    return "residents" if stage.is_trainee else "attendings"


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
        if settings.career_bands == "mixed":
            # Mixed by an admin's choice: still never a resident with an attending of their own department.
            departments = [_normalise(p.department) for p in people]
            for i, resident in enumerate(people):
                if resident.career_stage is None or not resident.career_stage.is_trainee or not departments[i]:
                    continue
                for j, attending in enumerate(people):
                    stage = attending.career_stage
                    if stage is not None and not stage.is_trainee and departments[j] == departments[i]:
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
