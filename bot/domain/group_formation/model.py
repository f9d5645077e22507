"""What group formation takes and gives: settings, the objective, proposed groups.

The objective, compared lexicographically (an earlier item always outweighs every
later one), summed over groups:

1. ``conflicts`` - pairs in one group where one person supervises or evaluates the
   other (``supervisor_ids``, either direction), and, when an admin mixes career bands,
   a resident with an attending of their own department. Hard.
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
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal, NamedTuple

Mode = Literal["mixed", "same-specialty"]
MODES: tuple[str, ...] = ("mixed", "same-specialty")
# "single" (the default): residents are grouped with residents and attendings with attendings,
# as COMPASS enrolled practising physicians and trainees speak more freely away from the people
# who evaluate them. "mixed" is an admin's explicit choice; even then a resident never shares a
# group with an attending of their own department.
CareerBands = Literal["single", "mixed"]
CAREER_BANDS: tuple[str, ...] = ("single", "mixed")
ALLOWED_SIZE_MIN = 4
ALLOWED_SIZE_MAX = 10


@dataclass(frozen=True)
class FormationSettings:
    size_min: int = 6
    size_max: int = 8
    mode: Mode = "mixed"
    seed: int = 0
    career_bands: CareerBands = "single"

    def __post_init__(self) -> None:
        for name in ("size_min", "size_max"):
            value = getattr(self, name)
            if not ALLOWED_SIZE_MIN <= value <= ALLOWED_SIZE_MAX:
                raise ValueError(f"{name.replace('_', '-')} must be {ALLOWED_SIZE_MIN}-{ALLOWED_SIZE_MAX}, got {value}")
        if self.size_min > self.size_max:
            raise ValueError(f"size-min ({self.size_min}) must not exceed size-max ({self.size_max})")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.career_bands not in CAREER_BANDS:
            raise ValueError(f"career bands must be one of {', '.join(CAREER_BANDS)}, got {self.career_bands!r}")


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
    career_band: str | None = None  # "residents", "attendings", "mixed" or None when no stage is on file


@dataclass
class FormationResult:
    groups: list[ProposedGroup]
    warnings: list[str]
    objective: Objective

    def as_dict(self) -> dict:
        return {"groups": [asdict(group) for group in self.groups], "warnings": list(self.warnings)}

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent, ensure_ascii=False)
