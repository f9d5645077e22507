"""The baseline: pair people the way simple pairing bots do.

Shuffle the people who want a mentor, shuffle the mentor places (a mentor appears
once per place offered) and pair them off in order. Declared roles and capacities
are honoured; career stage, supervision and past pairs are not looked at.
"""

from __future__ import annotations

import random
from typing import Sequence

from bot.domain.people import Person


def random_pairs(people: Sequence[Person], *, seed: int) -> list[tuple[str, str]]:
    """(mentee, mentor) user ids, one shuffle's worth."""
    rng = random.Random(seed)
    mentees = [p.user_id for p in people if p.near_peer_role in ("mentee", "both")]
    places = [
        p.user_id
        for p in people
        if p.near_peer_role in ("mentor", "both")
        for _ in range(max(0, min(p.mentor_capacity, 5)))
    ]
    rng.shuffle(mentees)
    rng.shuffle(places)
    return list(zip(mentees, places))
