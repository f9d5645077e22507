"""Ending a pairing without blame, pausing it after silent check-ins, resuming it, and the notes that tell people.

Either person may end a pairing, and the other is only told that it ended. A paused pairing waits until
someone resumes it (``/compass pair resume``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from slack_sdk import WebClient
from sqlmodel import Session

from bot.flows.commands import action_value, who
from bot.flows.home import publish_home
from bot.flows.pairing.button_clicks import parse_ints
from bot.flows.pairing.pair_members import partner_of
from bot.flows.pairing.scheduling import FIRST_CHECKIN_AFTER, SILENCE_LIMIT, pair_prefix, schedule_checkin, schedule_note
from bot.runtime.delivery import DeliveryFailed, DropDelivery, post_once
from bot.runtime.quiet import awake_recipients
from bot.runtime.services import Services
from bot.slack.render import check_blocks, fallback_text, render, section_blocks
from storage import audit, schedule
from storage import pairing as store
from storage.db import session_scope, utcnow
from storage.members import get_member
from storage.models import Member, Pair, ScheduledAction

ACTION_END = "pair_end"


def end_pair(session: Session, *, pair: Pair, actor_id: str, now: datetime) -> None:
    """End without blame: pending check-ins go, and each person not ending it gets the same kind note."""
    store.set_pair_status(session, pair=pair, status="ended", now=now)
    schedule.cancel(session, key_prefix=pair_prefix(pair.id))
    for user_id in (pair.mentee_id, pair.mentor_id):
        if user_id != actor_id:
            schedule_note(session, pair=pair, user_id=user_id, note="ended", at=now)
    audit.record(session, team_id=pair.team_id, actor_id=actor_id, action="pair_ended",
                 subject_id="" if actor_id == "system" else actor_id, pair_id=pair.id)


def pause_pair(session: Session, *, pair: Pair, silent: list[str], now: datetime) -> None:
    store.set_pair_status(session, pair=pair, status="paused")
    schedule.cancel(session, key_prefix=pair_prefix(pair.id))
    for user_id in (pair.mentee_id, pair.mentor_id):
        schedule_note(session, pair=pair, user_id=user_id, note="paused_silent" if user_id in silent else "paused_partner", at=now)
    # Who went quiet is not recorded anywhere but in their own unanswered check-ins.
    audit.record(session, team_id=pair.team_id, actor_id="system", action="pair_paused", pair_id=pair.id)


def resume_pair(session: Session, *, pair: Pair, actor_id: str, now: datetime) -> None:
    store.set_pair_status(session, pair=pair, status="active")
    store.lapse_unanswered(session, pair_id=pair.id)
    schedule_checkin(session, pair=pair, number=store.last_checkin_number(session, pair_id=pair.id) + 1,
                     due=now + FIRST_CHECKIN_AFTER)
    schedule_note(session, pair=pair, user_id=partner_of(pair, actor_id), note="resumed_partner", at=now)
    audit.record(session, team_id=pair.team_id, actor_id=actor_id, action="pair_resumed", subject_id=actor_id, pair_id=pair.id)


def end_if_someone_left(session: Session, *, pair: Pair, members: dict[str, Member], now: datetime) -> bool:
    """A pair whose member left Compass ends; the other person hears only that it ended."""
    if all(user in members and members[user].status != "left" for user in (pair.mentee_id, pair.mentor_id)):
        return False
    end_pair(session, pair=pair, actor_id="system", now=now)
    return True


@dataclass
class PersonalChange:
    note: str  # the pair_note.j2 note for the person who asked
    partner: str = ""
    pair_id: int = 0


def end_for(services: Services, *, team_id: str, user_id: str, pair_id: int) -> PersonalChange:
    with session_scope(services.engine) as session:
        pair = store.get_pair(session, pair_id=pair_id, team_id=team_id)
        if pair is None or user_id not in (pair.mentee_id, pair.mentor_id):
            return PersonalChange("not_found")
        if pair.status == "ended":
            return PersonalChange("already_ended", partner_of(pair, user_id), pair.id)
        end_pair(session, pair=pair, actor_id=user_id, now=utcnow())
        return PersonalChange("ended_by_you", partner_of(pair, user_id), pair.id)


def resume_for(services: Services, *, team_id: str, user_id: str) -> tuple[list[PersonalChange], bool]:
    """Resume the person's paused pairings; also says whether they have any open pairing at all."""
    now = utcnow()
    with session_scope(services.engine) as session:
        pairs = store.pairs_of_member(session, team_id=team_id, user_id=user_id)
        resumed = []
        for pair in pairs:
            if pair.status == "paused":
                resume_pair(session, pair=pair, actor_id=user_id, now=now)
                resumed.append(PersonalChange("resumed", partner_of(pair, user_id), pair.id))
        return resumed, bool(pairs)


def resume_reply(resumed: list[PersonalChange], *, has_pairs: bool, member_paused: bool) -> str:
    if not resumed:
        return render("pair_note.j2", note="nothing_to_resume", has_pairs=has_pairs)
    lines = [render("pair_note.j2", note=change.note, partner=change.partner) for change in resumed]
    if member_paused:
        lines.append(render("pair_note.j2", note="still_paused"))
    return "\n".join(lines)


def deliver_note(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """A kind note about a pairing: it ended, was paused or resumed."""
    user_id, note = payload.get("user"), payload.get("note")
    if not isinstance(user_id, str) or not isinstance(note, str):
        raise DeliveryFailed(f"malformed payload: {payload!r}")
    with Session(services.engine) as session:
        member = get_member(session, team_id=action.team_id, user_id=user_id)
    if member is None or member.status == "left":
        raise DropDelivery("the person is no longer in Compass")
    if not awake_recipients(services, action, payload, [user_id]):
        raise DropDelivery("held until the end of the person's quiet hours")
    text = render("pair_note.j2", note=note, partner=str(payload.get("partner") or ""), limit=SILENCE_LIMIT)
    post_once(client, action, channel=user_id, text=fallback_text(text), blocks=check_blocks(section_blocks(text)))
    publish_home(services, client, team_id=action.team_id, user_id=user_id)


def end_from_button(services: Services, client: WebClient, body: dict, respond) -> None:  # noqa: ANN001
    team_id, user_id = who(body)
    pair_id = parse_ints(action_value(body), 1)
    if pair_id is None:
        respond(text=render("pair_note.j2", note="not_found"), replace_original=False)
        return
    change = end_for(services, team_id=team_id, user_id=user_id, pair_id=pair_id[0])
    respond(text=render("pair_note.j2", note=change.note, partner=change.partner), replace_original=True)
    publish_home(services, client, team_id=team_id, user_id=user_id)
