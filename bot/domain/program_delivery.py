"""How the program ran: the enrolment funnel and each group's fidelity to the COMPASS model.

* **Funnel**: invited -> joined -> attended at least one session -> attended at least six ->
  still active at 6 months -> still active at 12 months (of those who joined long enough ago).
* **Fidelity** per group: sessions held of planned (COMPASS: 12 every two weeks), median
  attendance per held session, group size, and the topics discussed.

Counts of people below ``min_group`` are withheld (``None``), as every other figure; a
group smaller than the threshold shows no attendance figure. Topic titles and session counts
describe the group, not a person, and are always shown.

This module is pure: it imports neither Slack nor the database.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Sequence

COMPASS_SESSIONS = 12
FUNNEL_STEPS = (
    ("invited", "Invited"),
    ("joined", "Joined"),
    ("attended_one", "Attended at least one session"),
    ("attended_six", "Attended at least six sessions"),
    ("active_6m", "Still active at 6 months"),
    ("active_12m", "Still active at 12 months"),
)


@dataclass(frozen=True)
class FunnelStep:
    key: str
    label: str
    count: int | None  # None: fewer than the threshold (but not zero)


def funnel(counts: dict[str, int], *, min_group: int) -> list[FunnelStep]:
    """The funnel's steps in order; a count between 1 and ``min_group - 1`` is withheld."""
    steps = []
    for key, label in FUNNEL_STEPS:
        count = counts.get(key, 0)
        if count < 0:
            raise ValueError(f"{key} cannot be negative")
        steps.append(FunnelStep(key, label, count if count == 0 or count >= min_group else None))
    return steps


@dataclass(frozen=True)
class GroupRecord:
    """What storage knows about one group: its members and, per held session, who attended."""

    name: str
    size: int
    planned: int
    attendance: Sequence[int]  # people present at each held session
    topics: Sequence[str]  # titles of the topics of held sessions, in order


@dataclass(frozen=True)
class GroupFidelity:
    name: str
    size: int
    held: int
    planned: int
    median_attendance: float | None  # None when the group is smaller than the threshold
    topics: tuple[str, ...]


def fidelity(groups: Sequence[GroupRecord], *, min_group: int) -> list[GroupFidelity]:
    result = []
    for group in groups:
        shown = group.size >= min_group and bool(group.attendance)
        median = float(statistics.median(group.attendance)) if shown else None
        result.append(GroupFidelity(group.name, group.size, len(group.attendance), group.planned, median,
                                    tuple(dict.fromkeys(group.topics))))
    return result
