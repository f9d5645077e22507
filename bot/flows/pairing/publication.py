"""Publishing a preview: its pairs are stored, and their introductions, the notes to everyone not
matched and the first check-ins go on the schedule."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from bot.domain.matching import ZERO_CAPACITY
from bot.flows.pairing.pair_members import display_names
from bot.flows.pairing.preview import describe_violations, rules_of, violations_in
from bot.flows.pairing.scheduling import (
    CHECKIN_EVERY,
    FIRST_CHECKIN_AFTER,
    INTRO_KIND,
    UNMATCHED_KIND,
    intro_key,
    pair_payload,
    schedule_checkin,
    unmatched_key,
)
from bot.runtime.services import Services
from bot.slack.render import render
from storage import audit, schedule
from storage import pairing as store
from storage.db import session_scope, utcnow

CHECKIN_STAGGER = timedelta(weeks=2)  # a check-in's nudge comes a week later: the next pair's check-in a week after that
CHECKIN_EVERY_WEEKS = CHECKIN_EVERY // CHECKIN_STAGGER


@dataclass
class PublishOutcome:
    status: str  # published | gone | empty | refused
    number: int = 0
    pairs: int = 0
    unmatched: int = 0
    problems: list[str] = field(default_factory=list)

    def message(self) -> str:
        return render("pair_admin.j2", kind=self.status, number=self.number, pairs=self.pairs, unmatched=self.unmatched,
                      problems=self.problems)


def stagger(*earlier_pairs: int) -> timedelta:
    """How much later a pair's check-ins run when someone in it already has ``earlier_pairs`` in this round:
    a mentor of two hears about one pairing every other week, not both in the same minute."""
    return CHECKIN_STAGGER * (max(earlier_pairs, default=0) % CHECKIN_EVERY_WEEKS)


def publish_round(services: Services, *, team_id: str, round_id: int, actor_id: str) -> PublishOutcome:
    """Publish a preview: store its pairs and schedule their introductions, notes and check-ins.

    The preview is checked against every hard rule as things stand now (someone may have
    paused, left or been paired since); if it breaks one, nothing is published.
    """
    now = utcnow()
    with session_scope(services.engine) as session:
        round_ = store.get_round(session, team_id=team_id, round_id=round_id)
        if round_ is None or round_.status != "preview":
            return PublishOutcome("gone")
        preview = store.preview_of(round_)
        if not preview["pairs"]:
            return PublishOutcome("empty", number=round_.number)
        pool = store.load_pool(session, team_id=team_id, round_number=round_.number)
        proposed = [(p["mentee"], p["mentor"]) for p in preview["pairs"]]
        violations = violations_in(proposed, pool, rules_of(preview))
        if violations:
            names = display_names(session, team_id=team_id, user_ids={u for v in violations for u in (v.mentee, v.mentor)})
            return PublishOutcome("refused", number=round_.number, problems=describe_violations(violations, names))
        if not store.claim_for_publishing(session, round_=round_, now=now):
            return PublishOutcome("gone")
        pairs_of: Counter[str] = Counter()
        for entry in preview["pairs"]:
            pair = store.create_pair(session, round_=round_, mentee_id=entry["mentee"], mentor_id=entry["mentor"],
                                     score=float(entry.get("score") or 0), reasons=entry.get("reasons") or [], now=now)
            schedule.schedule(session, key=intro_key(pair.id), kind=INTRO_KIND, due_at=now, team_id=team_id,
                              subject_user_id=pair.mentee_id, payload=pair_payload(pair))
            schedule_checkin(session, pair=pair, number=1,
                             due=now + FIRST_CHECKIN_AFTER + stagger(pairs_of[pair.mentee_id], pairs_of[pair.mentor_id]))
            pairs_of.update((pair.mentee_id, pair.mentor_id))
        told = [entry for entry in preview["unmatched"] if entry.get("code") != ZERO_CAPACITY]  # ZERO_CAPACITY: offered no places
        for entry in told:
            schedule.schedule(session, key=unmatched_key(round_.id, entry["user"]), kind=UNMATCHED_KIND, due_at=now,
                              team_id=team_id, subject_user_id=entry["user"],
                              payload={"round_id": round_.id, "user": entry["user"], "role": entry.get("role", "mentee"),
                                       "code": entry.get("code", ""), "reason": entry.get("reason", "")})
        audit.record(session, team_id=team_id, actor_id=actor_id, action="pairing_round_published", round=round_.number,
                     pairs=len(proposed), unmatched=len(preview["unmatched"]))
        return PublishOutcome("published", number=round_.number, pairs=len(proposed), unmatched=len(told))
