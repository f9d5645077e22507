"""The demo's synthetic cohort: residents and attendings with profiles and habits.

Everything comes from one seeded ``random.Random``, so a seed always gives the same
people. A person's *profile* is what they type into the join form; their *habits*
(how engaged they are, how their wellbeing moves) decide how they answer what the bot
sends them, and are never shown to the bot.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FIRST_NAMES = (
    "Ana", "Ben", "Chidi", "Dana", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonah", "Kavya", "Liam", "Mei", "Nadia",
    "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoe", "Aisha", "Bruno",
    "Carmen", "Dev", "Esther", "Felix", "Gabi", "Hassan", "Ivy", "Jamal", "Kenji", "Lena", "Mateo", "Nora",
)
LAST_NAMES = (
    "Ruiz", "Okafor", "Nguyen", "Schmidt", "Kaplan", "Haddad", "Moreau", "Tanaka", "Silva", "Berg", "Iyer", "Walsh",
    "Chen", "Rahman", "Farouk", "Patel", "Dubois", "Ortega", "Kowalski", "Aziz", "Mensah", "Lindqvist", "Park", "Reyes",
    "Yilmaz", "Novak", "Abara", "Costa", "Fischer", "Malik", "Hughes", "Sato", "Romero", "Ali", "Keller", "Banda",
)
# (specialty, department), as people would type them into the join form
SPECIALTIES = (
    ("Internal Medicine", "Medicine"), ("Internal Medicine", "Medicine"), ("Pediatrics", "Pediatrics"),
    ("General Surgery", "Surgery"), ("Emergency Medicine", "Emergency Medicine"), ("Psychiatry", "Psychiatry"),
    ("Family Medicine", "Family Medicine"), ("Anesthesiology", "Anesthesiology"),
)
SITES = ("Main campus", "Main campus", "Northside", "Riverside clinic")
TIMEZONES = ("America/New_York",) * 6 + ("America/Chicago",) * 3 + ("America/Denver",)
# Values of the join form's common windows (see bot/prompts/join_form.toml); most people can manage
# weekday evenings, as real programs find, and some add other times.
COMMON_TIMES = ("weekday-evening",) * 5 + ("weekday-lunch",)
OTHER_TIMES = ("weekday-morning", "weekday-lunch", "weekday-evening", "weekend")
RESIDENT_SHARE = 0.6
DECLINE_SHARE = 0.06


@dataclass(frozen=True)
class Physician:
    user_id: str
    name: str
    # the profile, as entered in the join form
    career_stage: str  # PGY-n or ATTENDING-n
    specialty: str
    department: str  # not asked when joining; editable later in the profile form
    site: str
    timezone: str  # their Slack profile's
    availability: tuple[str, ...]
    lead_willing: bool
    near_peer_role: str
    mentor_capacity: int
    # habits, known only to the simulation
    joins: bool
    engagement: float  # 0..1: how likely they answer, RSVP and turn up
    wellbeing: float  # 0..1 at the start
    trend_per_week: float  # how wellbeing moves, per week

    @property
    def is_resident(self) -> bool:
        return self.career_stage.startswith("PGY")

    @property
    def stage_label(self) -> str:
        if self.is_resident:
            return self.career_stage
        years = int(self.career_stage.split("-")[1])
        return f"attending, {years} yr"

    def profile_text(self) -> str:
        """The profile in a few words, for the transcript."""
        mentoring = {"mentee": "wants a mentor", "mentor": "offers to mentor", "both": "mentor and mentee",
                     "none": "no mentoring"}
        parts = [self.stage_label, self.specialty, self.timezone.split("/")[-1].replace("_", " "),
                 mentoring[self.near_peer_role]]
        return ", ".join(parts + (["would lead"] if self.lead_willing else []))

    def wellbeing_at(self, weeks: float) -> float:
        return min(0.95, max(0.05, self.wellbeing + self.trend_per_week * weeks))


def cohort(size: int, rng: random.Random) -> list[Physician]:
    """``size`` distinct synthetic physicians (at least 2 so that a pair can form)."""
    if size < 2:
        raise ValueError("the demo needs at least 2 people")
    names = _distinct_names(size, rng)
    residents = round(size * RESIDENT_SHARE)
    people = []
    for index, name in enumerate(names):
        stage = f"PGY-{1 + index % 3}" if index < residents else f"ATTENDING-{rng.choice((1, 2, 3, 5, 8, 12, 20))}"
        specialty, department = rng.choice(SPECIALTIES)
        availability = tuple(sorted({rng.choice(COMMON_TIMES), *rng.sample(OTHER_TIMES, rng.randint(0, 2))}))
        worsening = rng.random() < 0.25
        people.append(Physician(
            user_id=f"U{index + 1:03d}DEMO",
            name=name,
            career_stage=stage,
            specialty=specialty,
            department=department,
            site=rng.choice(SITES),
            timezone=rng.choice(TIMEZONES),
            availability=availability,
            lead_willing=rng.random() < 0.2,
            near_peer_role=_near_peer_role(stage, rng),
            mentor_capacity=rng.choice((1, 1, 2)),
            joins=index < 2 or rng.random() >= DECLINE_SHARE,  # the first two always join: someone must
            engagement=round(rng.uniform(0.55, 0.98), 2),
            wellbeing=round(rng.uniform(0.35, 0.75), 2),
            trend_per_week=round(-rng.uniform(0.002, 0.01) if worsening else rng.uniform(0.004, 0.016), 4),
        ))
    return people


def _distinct_names(size: int, rng: random.Random) -> list[str]:
    pool = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
    if size > len(pool):
        raise ValueError(f"the demo can invent at most {len(pool)} people")
    firsts: set[str] = set()
    chosen = []
    for name in rng.sample(pool, len(pool)):
        first = name.split()[0]
        # distinct first names while they last: a transcript line reads better with them
        if first in firsts and len(firsts) < len(FIRST_NAMES):
            continue
        firsts.add(first)
        chosen.append(name)
        if len(chosen) == size:
            break
    return chosen


def _near_peer_role(stage: str, rng: random.Random) -> str:
    if rng.random() < 0.15:
        return "none"
    track, years = stage.split("-")
    if track == "PGY":
        return {"1": "mentee", "2": "both", "3": "mentor"}[years]
    return "both" if int(years) <= 3 else "mentor"
