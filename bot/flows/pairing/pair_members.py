"""Who is who in a pair, the pair and its people as a delivery loads them, and names and days as people read them."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.runtime.delivery import DeliveryFailed, DropDelivery
from bot.runtime.services import Services
from storage import pairing as store
from storage.models import Member, Pair, ScheduledAction


def partner_of(pair: Pair, user_id: str) -> str:
    return pair.mentor_id if user_id == pair.mentee_id else pair.mentee_id


def role_in(pair: Pair, user_id: str) -> str:
    return "mentee" if user_id == pair.mentee_id else "mentor"


def local_day(moment: datetime, tz_name: str) -> str:
    day = moment.astimezone(ZoneInfo(tz_name)).date()
    return f"{day.strftime('%a')} {day.day} {day.strftime('%b %Y')}"


def display_names(session: Session, *, team_id: str, user_ids: Iterable[str]) -> dict[str, str]:
    members = store.members_by_id(session, team_id=team_id, user_ids=user_ids)
    return {user: (members[user].display_name if user in members and members[user].display_name else user) for user in user_ids}


def load_pair_and_members(services: Services, action: ScheduledAction, payload: dict) -> tuple[Pair, dict[str, Member]]:
    pair_id = payload.get("pair_id")
    if not isinstance(pair_id, int):
        raise DeliveryFailed(f"malformed payload: {payload!r}")
    with Session(services.engine) as session:
        pair = store.get_pair(session, pair_id=pair_id, team_id=action.team_id)
        if pair is None:
            raise DropDelivery("the pairing no longer exists")
        members = store.members_by_id(session, team_id=pair.team_id, user_ids=(pair.mentee_id, pair.mentor_id))
    return pair, members
