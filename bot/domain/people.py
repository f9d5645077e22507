"""Plain data about a participant, shared by group formation, matching and the flows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from bot.domain.availability import Window

NearPeerRole = Literal["mentee", "mentor", "both", "none"]
NEAR_PEER_ROLES: tuple[str, ...] = ("mentee", "mentor", "both", "none")
MAX_MENTOR_CAPACITY = 5
MAX_PGY = 10
MAX_ATTENDING_YEARS = 60

_STAGE = re.compile(r"^(PGY|ATTENDING)-(\d{1,2})$")
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


@dataclass(frozen=True, order=True)
class CareerStage:
    """`PGY-n` for trainees (n = postgraduate year) or `ATTENDING-n` (n = years in practice)."""

    track: Literal["PGY", "ATTENDING"]
    years: int

    @classmethod
    def parse(cls, text: str) -> "CareerStage":
        match = _STAGE.match(text.strip().upper())
        if not match:
            raise ValueError(f"career stage must be PGY-<n> or ATTENDING-<years>, got {text!r}")
        track, years = match.group(1), int(match.group(2))
        if track == "PGY" and not 1 <= years <= MAX_PGY:
            raise ValueError(f"PGY year must be 1-{MAX_PGY}, got {years}")
        if track == "ATTENDING" and not 0 <= years <= MAX_ATTENDING_YEARS:
            raise ValueError(f"years in practice must be 0-{MAX_ATTENDING_YEARS}, got {years}")
        return cls(track, years)  # type: ignore[arg-type]

    @property
    def is_trainee(self) -> bool:
        return self.track == "PGY"

    def __str__(self) -> str:
        return f"{self.track}-{self.years}"

    def label(self) -> str:
        """How a person reads it."""
        if self.is_trainee:
            return f"PGY-{self.years}"
        if self.years == 1:
            return "Attending, 1 year in practice"
        return f"Attending, {self.years} years in practice"


@dataclass(frozen=True)
class Person:
    user_id: str
    career_stage: CareerStage | None = None
    display_name: str = ""
    specialty: str = ""
    department: str = ""
    site: str = ""
    timezone: str = ""
    near_peer_role: NearPeerRole = "none"
    mentor_capacity: int = 1
    supervisor_ids: frozenset[str] = field(default_factory=frozenset)
    lead_willing: bool = False
    availability: tuple[Window, ...] = ()

    def supervises_or_is_supervised_by(self, other: "Person") -> bool:
        return other.user_id in self.supervisor_ids or self.user_id in other.supervisor_ids
