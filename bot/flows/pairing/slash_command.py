"""``/compass pair``: status, end and resume for anyone enrolled; preview and publish for admins."""

from __future__ import annotations

from typing import Callable

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ConfirmObject
from sqlmodel import Session

from bot.domain.matching import MENTEE_ROLES, MENTOR_ROLES
from bot.flows.commands import CommandContext
from bot.flows.home import publish_home
from bot.flows.pairing.admin_home import OPTION_TEXT_MAX
from bot.flows.pairing.pair_members import display_names, local_day, partner_of, role_in
from bot.flows.pairing.pausing_and_ending import ACTION_END, end_for, resume_for, resume_reply
from bot.flows.pairing.preview import make_preview
from bot.flows.pairing.publication import publish_round
from bot.slack.render import check_blocks, escape_plain, render, section_blocks
from storage import pairing as store
from storage.members import get_member
from storage.models import Member


def pair_command(ctx: CommandContext) -> None:
    word = ctx.args[0].lower() if ctx.args else ""
    handler = SUBCOMMANDS.get(word)
    if handler is None:
        ctx.reply(render("pair_help.j2", admin=ctx.is_admin))
        return
    handler(ctx)


def enrolled(ctx: CommandContext) -> Member | None:
    with Session(ctx.services.engine) as session:
        member = get_member(session, team_id=ctx.team_id, user_id=ctx.user_id)
    if member is None or member.consented_at is None:
        ctx.reply(render("errors.j2", kind="not_enrolled"))
        return None
    return member


def status_command(ctx: CommandContext) -> None:
    with Session(ctx.services.engine) as session:
        member = get_member(session, team_id=ctx.team_id, user_id=ctx.user_id)
        if member is None or member.consented_at is None:
            ctx.reply(render("pair_status.j2", enrolled=False, pairs=[], opted_in=False))
            return
        tz = member.timezone or ctx.services.settings.compass_timezone
        pairs = []
        for pair in store.pairs_of_member(session, team_id=ctx.team_id, user_id=ctx.user_id):
            due = store.next_checkin_due(session, pair_id=pair.id)
            pairs.append({"role": role_in(pair, ctx.user_id), "partner": partner_of(pair, ctx.user_id), "status": pair.status,
                          "since": local_day(pair.started_at, tz), "next_checkin": local_day(due, tz) if due else ""})
    opted_in = member.near_peer_role in MENTEE_ROLES | MENTOR_ROLES
    ctx.reply(render("pair_status.j2", enrolled=True, pairs=pairs, opted_in=opted_in))


def end_command(ctx: CommandContext) -> None:
    member = enrolled(ctx)
    if member is None:
        return
    with Session(ctx.services.engine) as session:
        pairs = store.pairs_of_member(session, team_id=ctx.team_id, user_id=ctx.user_id)
        names = display_names(session, team_id=ctx.team_id, user_ids=[partner_of(p, ctx.user_id) for p in pairs])
    if not pairs:
        opted_in = member.near_peer_role in MENTEE_ROLES | MENTOR_ROLES
        ctx.reply(render("pair_status.j2", enrolled=True, pairs=[], opted_in=opted_in))
        return
    if len(pairs) == 1:
        change = end_for(ctx.services, team_id=ctx.team_id, user_id=ctx.user_id, pair_id=pairs[0].id)
        ctx.reply(render("pair_note.j2", note=change.note, partner=change.partner))
        publish_home(ctx.services, ctx.client, team_id=ctx.team_id, user_id=ctx.user_id)
        return
    text = render("pair_note.j2", note="choose_end")
    confirm = ConfirmObject(title="End this pairing?", text=render("pair_checkin.j2", kind="confirm_end"),
                            confirm="End it", deny="Keep it", style="danger")
    buttons = [
        ButtonElement(text=f"End pairing with {escape_plain(names[partner_of(p, ctx.user_id)])}"[:OPTION_TEXT_MAX],
                      action_id=f"{ACTION_END}_{p.id}", value=str(p.id), confirm=confirm)
        for p in pairs[:25]
    ]
    blocks = section_blocks(text) + [ActionsBlock(block_id="pair_end_choice", elements=buttons)]
    ctx.reply(text, blocks=check_blocks(blocks))


def resume_command(ctx: CommandContext) -> None:
    member = enrolled(ctx)
    if member is None:
        return
    resumed, has_pairs = resume_for(ctx.services, team_id=ctx.team_id, user_id=ctx.user_id)
    ctx.reply(resume_reply(resumed, has_pairs=has_pairs, member_paused=member.status == "paused"))
    if resumed:
        publish_home(ctx.services, ctx.client, team_id=ctx.team_id, user_id=ctx.user_id)


def preview_command(ctx: CommandContext) -> None:
    if not ctx.is_admin:
        ctx.reply(render("errors.j2", kind="admin_only", admins=""))
        return
    summary = make_preview(ctx.services, team_id=ctx.team_id, actor_id=ctx.user_id)
    if summary is None:
        ctx.reply(render("pair_admin.j2", kind="nobody"))
        return
    ctx.reply(render("pair_admin.j2", kind="preview_saved", number=summary.number, matched=summary.matched,
                     mentees=summary.mentees, unmatched=summary.unmatched))
    publish_home(ctx.services, ctx.client, team_id=ctx.team_id, user_id=ctx.user_id)


def publish_command(ctx: CommandContext) -> None:
    if not ctx.is_admin:
        ctx.reply(render("errors.j2", kind="admin_only", admins=""))
        return
    with Session(ctx.services.engine) as session:
        round_ = store.open_preview(session, team_id=ctx.team_id)
    if round_ is None:
        ctx.reply(render("pair_admin.j2", kind="no_preview"))
        return
    outcome = publish_round(ctx.services, team_id=ctx.team_id, round_id=round_.id, actor_id=ctx.user_id)
    ctx.reply(outcome.message())
    publish_home(ctx.services, ctx.client, team_id=ctx.team_id, user_id=ctx.user_id)


SUBCOMMANDS: dict[str, Callable[[CommandContext], None]] = {
    "status": status_command,
    "end": end_command,
    "resume": resume_command,
    "preview": preview_command,
    "publish": publish_command,
}
