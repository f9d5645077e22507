"""Near-peer pairing: rounds, pairs and check-ins. Keyword-only data access.

A round is first a *preview* (the match result as JSON, which admins may edit), then
*published* (its pairs become rows of ``pairs``) or *discarded*. A team has at most one
open preview. A pair is ``active``, ``paused`` (check-ins on hold after three silent
check-ins in a row) or ``ended``; active and paused pairs hold their places: the mentee
keeps their mentor and the mentor's slot stays taken.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Iterable, Sequence

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from bot.domain.matching import MENTEE_ROLES, MENTOR_ROLES, PastPair
from bot.domain.people import Person
from storage.db import utcnow
from storage.members import to_person
from storage.models import Member, Pair, PairCheckin, PairingRound, ScheduledAction

OPEN_PAIR_STATUSES = ("active", "paused")
CHECKIN_KIND = "pair_checkin"  # the schedule kind of a pair's check-in (delivered by bot.flows.pairing)
CHECKIN_ANSWERS = ("met", "not_yet", "end")
# An unanswered check-in of a pair that was later resumed: it no longer counts as silence.
LAPSED = "lapsed"


# --- who takes part in a round -------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    """Everyone who may be matched this round, with the places their current pairs leave them."""

    people: list[Person]
    history: list[PastPair]
    current_round: int
    paused: frozenset[str]
    already_paired: int  # mentees who keep their current mentor and sit this round out


def load_pool(session: Session, *, team_id: str, round_number: int | None = None) -> Pool:
    """The people, history and paused set for matching ``round_number`` (default: the round of the
    open preview, which a new match replaces, else the next round).

    Eligible: consented members, active or paused, who opted in as mentee, mentor or both.
    Paused members and people whose pairing is paused sit the round out. A mentee in an
    open pair is not matched as a mentee again; a mentor offers what is left of their
    capacity after their open pairs.
    """
    members = session.exec(
        select(Member)
        .where(
            Member.team_id == team_id,
            col(Member.status).in_(("active", "paused")),
            col(Member.consented_at).is_not(None),
            col(Member.near_peer_role).in_(sorted(MENTEE_ROLES | MENTOR_ROLES)),
        )
        .order_by(Member.slack_user_id)
    ).all()
    open_pairs = session.exec(select(Pair).where(Pair.team_id == team_id, col(Pair.status).in_(OPEN_PAIR_STATUSES))).all()
    has_mentor = {p.mentee_id for p in open_pairs}
    mentoring: dict[str, int] = {}
    for pair in open_pairs:
        mentoring[pair.mentor_id] = mentoring.get(pair.mentor_id, 0) + 1
    in_paused_pair = {user for p in open_pairs if p.status == "paused" for user in (p.mentee_id, p.mentor_id)}

    people: list[Person] = []
    paused: set[str] = set()
    already_paired = 0
    for member in members:
        keeps_mentor = member.slack_user_id in has_mentor
        already_paired += keeps_mentor and member.near_peer_role in MENTEE_ROLES
        person = _with_open_places(to_person(member), has_mentor=keeps_mentor, mentoring=mentoring.get(member.slack_user_id, 0))
        if person is None:
            continue
        people.append(person)
        if member.status == "paused" or member.slack_user_id in in_paused_pair:
            paused.add(member.slack_user_id)
    if round_number is None:
        preview = open_preview(session, team_id=team_id)
        round_number = preview.number if preview is not None else next_round_number(session, team_id=team_id)
    return Pool(people=people, history=past_pairs(session, team_id=team_id), current_round=round_number,
                paused=frozenset(paused), already_paired=already_paired)


def _with_open_places(person: Person, *, has_mentor: bool, mentoring: int) -> Person | None:
    """The person as this round sees them, or None when their current pairs fill every place they offered."""
    role = person.near_peer_role
    capacity_left = max(0, person.mentor_capacity - mentoring)
    wants_mentor = role in MENTEE_ROLES and not has_mentor
    # A mentor who set a capacity of 0 stays in, so the preview can say why nobody was assigned.
    offers_mentoring = role in MENTOR_ROLES and (capacity_left > 0 or (mentoring == 0 and role == "mentor"))
    if wants_mentor and offers_mentoring:
        new_role = "both"
    elif wants_mentor:
        new_role = "mentee"
    elif offers_mentoring:
        new_role = "mentor"
    else:
        return None
    return replace(person, near_peer_role=new_role, mentor_capacity=capacity_left)  # type: ignore[arg-type]


def past_pairs(session: Session, *, team_id: str) -> list[PastPair]:
    """Every published pair, whatever became of it, with the number of its round."""
    rows = session.exec(
        select(Pair.mentee_id, Pair.mentor_id, PairingRound.number)
        .join(PairingRound, PairingRound.id == Pair.round_id)
        .where(Pair.team_id == team_id)
        .order_by(PairingRound.number, Pair.id)
    ).all()
    return [PastPair(mentee, mentor, number) for mentee, mentor, number in rows]


# --- rounds ------------------------------------------------------------------------------------


def next_round_number(session: Session, *, team_id: str) -> int:
    last = session.exec(select(func.max(PairingRound.number)).where(PairingRound.team_id == team_id)).one()
    return (last or 0) + 1


def open_preview(session: Session, *, team_id: str) -> PairingRound | None:
    return session.exec(
        select(PairingRound).where(PairingRound.team_id == team_id, PairingRound.status == "preview").order_by(col(PairingRound.id).desc())
    ).first()


def get_round(session: Session, *, team_id: str, round_id: int) -> PairingRound | None:
    round_ = session.get(PairingRound, round_id)
    return round_ if round_ is not None and round_.team_id == team_id else None


def save_preview(session: Session, *, team_id: str, preview: dict[str, Any], created_by: str,
                 now: datetime | None = None) -> PairingRound:
    """Store a new preview, replacing the open one (which keeps its round number)."""
    now = now or utcnow()
    round_ = open_preview(session, team_id=team_id)
    if round_ is None:
        round_ = PairingRound(team_id=team_id, number=next_round_number(session, team_id=team_id), status="preview",
                              created_at=now)
    round_.preview = json.dumps(preview, sort_keys=True)
    round_.created_by = created_by
    round_.created_at = now
    session.add(round_)
    session.flush()
    return round_


def update_preview(session: Session, *, round_: PairingRound, preview: dict[str, Any]) -> None:
    round_.preview = json.dumps(preview, sort_keys=True)
    session.add(round_)
    session.flush()


def preview_of(round_: PairingRound) -> dict[str, Any]:
    """The stored preview, with every list present even if the JSON was damaged or scrubbed."""
    try:
        data = json.loads(round_.preview or "{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    data["pairs"] = [p for p in data.get("pairs") or [] if isinstance(p, dict) and p.get("mentee") and p.get("mentor")]
    data["unmatched"] = [u for u in data.get("unmatched") or [] if isinstance(u, dict) and u.get("user")]
    data["stats"] = data.get("stats") if isinstance(data.get("stats"), dict) else {}
    return data


def claim_for_publishing(session: Session, *, round_: PairingRound, now: datetime | None = None) -> bool:
    """Mark a preview published; False if someone else published or discarded it first."""
    result = session.execute(
        update(PairingRound)
        .where(PairingRound.id == round_.id, PairingRound.status == "preview")
        .values(status="published", published_at=now or utcnow())
    )
    return bool(result.rowcount)


def discard(session: Session, *, round_: PairingRound) -> bool:
    result = session.execute(
        update(PairingRound).where(PairingRound.id == round_.id, PairingRound.status == "preview").values(status="discarded")
    )
    return bool(result.rowcount)


# --- pairs -------------------------------------------------------------------------------------


def create_pair(session: Session, *, round_: PairingRound, mentee_id: str, mentor_id: str, score: float,
                reasons: Sequence[str], now: datetime | None = None) -> Pair:
    pair = Pair(round_id=round_.id, team_id=round_.team_id, mentee_id=mentee_id, mentor_id=mentor_id, score=score,
                reasons=json.dumps(list(reasons)), status="active", started_at=now or utcnow())
    session.add(pair)
    session.flush()
    return pair


def get_pair(session: Session, *, pair_id: int, team_id: str | None = None) -> Pair | None:
    pair = session.get(Pair, pair_id)
    if pair is None or (team_id is not None and pair.team_id != team_id):
        return None
    return pair


def pairs_of_member(session: Session, *, team_id: str, user_id: str,
                    statuses: Iterable[str] = OPEN_PAIR_STATUSES) -> list[Pair]:
    return list(
        session.exec(
            select(Pair)
            .where(Pair.team_id == team_id, (Pair.mentee_id == user_id) | (Pair.mentor_id == user_id),
                   col(Pair.status).in_(list(statuses)))
            .order_by(Pair.started_at, Pair.id)
        )
    )


def reasons_of(pair: Pair) -> list[str]:
    try:
        reasons = json.loads(pair.reasons or "[]")
    except ValueError:
        return []
    return [str(r) for r in reasons] if isinstance(reasons, list) else []


def set_pair_status(session: Session, *, pair: Pair, status: str, now: datetime | None = None) -> None:
    pair.status = status
    if status == "ended":
        pair.ended_at = now or utcnow()
    session.add(pair)
    session.flush()


def meeting_counts(session: Session, *, team_id: str) -> dict[str, int]:
    """How many pairs there are by status, and how many of them met at least once. Aggregates only."""
    rows = session.exec(
        select(Pair.status, Pair.met, func.count()).where(Pair.team_id == team_id).group_by(Pair.status, Pair.met)
    ).all()
    counts = {"total": 0, "met": 0, "active": 0, "paused": 0, "ended": 0}
    for status, met, count in rows:
        counts["total"] += count
        counts["met"] += count if met else 0
        if status in counts:
            counts[status] += count
    return counts


# --- check-ins ---------------------------------------------------------------------------------


def record_checkin_sent(session: Session, *, pair_id: int, user_id: str, number: int,
                        now: datetime | None = None) -> PairCheckin:
    """The check-in row for a delivered question (created once, however often delivery is retried)."""
    existing = get_checkin(session, pair_id=pair_id, user_id=user_id, number=number)
    if existing is not None:
        return existing
    checkin = PairCheckin(pair_id=pair_id, slack_user_id=user_id, number=number, sent_at=now or utcnow())
    session.add(checkin)
    session.flush()
    return checkin


def get_checkin(session: Session, *, pair_id: int, user_id: str, number: int) -> PairCheckin | None:
    return session.exec(
        select(PairCheckin).where(PairCheckin.pair_id == pair_id, PairCheckin.slack_user_id == user_id,
                                  PairCheckin.number == number)
    ).first()


def answer_checkin(session: Session, *, pair: Pair, user_id: str, number: int, answer: str,
                   now: datetime | None = None) -> PairCheckin:
    if answer not in CHECKIN_ANSWERS:
        raise ValueError(f"unknown check-in answer {answer!r}")
    now = now or utcnow()
    checkin = record_checkin_sent(session, pair_id=pair.id, user_id=user_id, number=number, now=now)
    checkin.answer = answer
    checkin.answered_at = now
    session.add(checkin)
    if answer == "met" and not pair.met:
        pair.met = True
        session.add(pair)
    session.flush()
    return checkin


def silent_streak(session: Session, *, pair_id: int, user_id: str) -> int:
    """How many of this person's most recent check-ins on the pair went unanswered, in a row."""
    answers = session.exec(
        select(PairCheckin.answer)
        .where(PairCheckin.pair_id == pair_id, PairCheckin.slack_user_id == user_id)
        .order_by(col(PairCheckin.number).desc())
    ).all()
    streak = 0
    for answer in answers:
        if answer:
            break
        streak += 1
    return streak


def lapse_unanswered(session: Session, *, pair_id: int) -> int:
    """On resume, earlier silence stops counting towards the next pause."""
    result = session.execute(
        update(PairCheckin).where(PairCheckin.pair_id == pair_id, PairCheckin.answer == "").values(answer=LAPSED)
    )
    return result.rowcount or 0


def last_checkin_number(session: Session, *, pair_id: int) -> int:
    return session.exec(select(func.max(PairCheckin.number)).where(PairCheckin.pair_id == pair_id)).one() or 0


def members_by_id(session: Session, *, team_id: str, user_ids: Iterable[str]) -> dict[str, Member]:
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = session.exec(select(Member).where(Member.team_id == team_id, col(Member.slack_user_id).in_(ids)))
    return {m.slack_user_id: m for m in rows}


def next_checkin_due(session: Session, *, pair_id: int) -> datetime | None:
    """When the pair's next check-in is due, if one is scheduled."""
    return session.exec(
        select(func.min(ScheduledAction.due_at)).where(
            ScheduledAction.kind == CHECKIN_KIND,
            col(ScheduledAction.key).startswith(f"pair:{pair_id}:"),
            col(ScheduledAction.status).in_(("pending", "claimed")),
        )
    ).one()
