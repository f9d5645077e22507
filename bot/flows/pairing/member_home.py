"""A member's own pairings in App Home, with a button to resume paused check-ins."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, ButtonElement
from sqlmodel import Session

from bot.domain.matching import MENTEE_ROLES, MENTOR_ROLES
from bot.flows.commands import who
from bot.flows.home import publish_home
from bot.flows.pairing.button_clicks import Reply
from bot.flows.pairing.pair_members import local_day, partner_of, role_in
from bot.flows.pairing.pausing_and_ending import resume_for, resume_reply
from bot.runtime.services import Services
from bot.slack.render import render, section_blocks
from storage import pairing as store
from storage.members import get_member
from storage.models import Member

ACTION_RESUME = "pair_resume"


def home_section(services: Services, session: Session, *, member: Member) -> list:
    if member.status not in ("active", "paused"):
        return []
    user_id = member.slack_user_id
    pairs = store.pairs_of_member(session, team_id=member.team_id, user_id=user_id)
    role = member.near_peer_role
    if not pairs and role not in MENTEE_ROLES | MENTOR_ROLES:
        return []
    tz = member.timezone or services.settings.compass_timezone
    mentoring = sum(1 for p in pairs if p.mentor_id == user_id)
    wants_mentor = role in MENTEE_ROLES and not any(p.mentee_id == user_id for p in pairs)
    offers_more = role in MENTOR_ROLES and member.mentor_capacity > mentoring
    listed = [{"role": role_in(p, user_id), "partner": partner_of(p, user_id), "status": p.status, "met": p.met,
               "since": local_day(p.started_at, tz)} for p in pairs]
    blocks: list = section_blocks(render("pair_home.j2", pairs=listed, waiting=wants_mentor or offers_more))
    if any(p.status == "paused" for p in pairs):
        blocks.append(ActionsBlock(block_id="home_pair_resume", elements=[
            ButtonElement(text="Resume check-ins", action_id=ACTION_RESUME, value="resume", style="primary"),
        ]))
    return blocks


def on_resume_button(services: Services, client: WebClient, body: dict, reply: Reply) -> None:
    team_id, user_id = who(body)
    with Session(services.engine) as session:
        member = get_member(session, team_id=team_id, user_id=user_id)
    if member is None:
        reply(render("errors.j2", kind="not_enrolled"))
        return
    resumed, has_pairs = resume_for(services, team_id=team_id, user_id=user_id)
    publish_home(services, client, team_id=team_id, user_id=user_id)
    reply(resume_reply(resumed, has_pairs=has_pairs, member_paused=member.status == "paused"))
