"""The admins' part of App Home: aggregates only, then the open preview to review, edit, publish or discard.

The preview lists the pairs with their reasons and everyone not matched, with why.
"""

from __future__ import annotations

import json
import logging

from slack_sdk import WebClient
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    InputBlock,
    MarkdownTextObject,
    Option,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.flows.commands import action_value, bounded_int, who
from bot.flows.home import publish_home
from bot.flows.pairing.button_clicks import Reply, notice_view, parse_ints
from bot.flows.pairing.pair_members import display_names
from bot.flows.pairing.preview import REMOVED, Edit, make_preview, remove_pair, rules_of, summarise, swap_mentors
from bot.flows.pairing.publication import publish_round
from bot.runtime.services import Services
from bot.slack.client import call
from bot.slack.render import check_blocks, escape_plain, render, section_blocks
from storage import audit
from storage import pairing as store
from storage.db import session_scope
from storage.models import PairingRound

log = logging.getLogger(__name__)

PAIRS_WITH_CONTROLS = 25  # App Home shows a Remove button for this many pairs, the rest as lines
MORE_PAIRS_LISTED = 40
UNMATCHED_LISTED = 15
SWAP_OPTIONS = 100  # Slack's limit for a static select
OPTION_TEXT_MAX = 75
NAME_IN_OPTION_MAX = 34

ACTION_PREVIEW = "pair_preview"
ACTION_PUBLISH = "pair_preview_publish"
ACTION_DISCARD = "pair_preview_discard"
ACTION_REMOVE = "pair_preview_remove"
ACTION_SWAP = "pair_preview_swap"
VIEW_SWAP = "pair_swap_submit"
SWAP_FIRST, SWAP_SECOND, SWAP_ELEMENT = "first", "second", "pair"


def shown(count: int, min_group: int) -> str:
    return str(count) if count >= min_group else f"fewer than {min_group}"


def admin_home_section(services: Services, session: Session, *, team_id: str, user_id: str) -> list:
    """Aggregates only (never a pair or a person), then the open preview or a way to make one."""
    k = services.settings.compass_min_group
    counts = store.meeting_counts(session, team_id=team_id)
    met, not_met = counts["met"], counts["total"] - counts["met"]
    blocks: list = section_blocks(render(
        "pair_home_admin.j2", kind="summary", total=counts["total"], going=shown(counts["active"] + counts["paused"], k),
        met=met if met >= k else None, not_met=not_met if not_met >= k else None, min_group=k,
    ))
    round_ = store.open_preview(session, team_id=team_id)
    if round_ is None:
        blocks.append(ActionsBlock(block_id="admin_pairing", elements=[
            ButtonElement(text="Preview a round", action_id=ACTION_PREVIEW, value="preview", style="primary"),
        ]))
        return blocks
    return blocks + preview_blocks(round_, store.preview_of(round_))


def preview_blocks(round_: PairingRound, preview: dict) -> list:
    summary = summarise(round_, preview)
    pairs = preview["pairs"]
    blocks: list = section_blocks(render("pair_home_admin.j2", kind="preview", number=round_.number, matched=summary.matched,
                                         mentees=summary.mentees, unmatched=summary.unmatched,
                                         edits=int(preview.get("edits") or 0)))
    for entry in pairs[:PAIRS_WITH_CONTROLS]:
        text = render("pair_home_admin.j2", kind="pair", mentor=entry["mentor"], mentee=entry["mentee"],
                      score=f"{float(entry.get('score') or 0):g}", reasons=entry.get("reasons") or [])
        blocks.append(SectionBlock(text=MarkdownTextObject(text=text[:3000]), accessory=ButtonElement(
            text="Remove", action_id=ACTION_REMOVE, value=f"{round_.id}:{entry['mentee']}")))
    rest = pairs[PAIRS_WITH_CONTROLS:]
    if rest:
        blocks += section_blocks(render("pair_home_admin.j2", kind="more_pairs", pairs=rest[:MORE_PAIRS_LISTED], count=len(rest)))
    if preview["unmatched"]:
        label = render("pair_admin.j2", kind="removed_label")
        entries = [{**u, "reason": label if u.get("code") == REMOVED else u.get("reason", "")}
                   for u in preview["unmatched"][:UNMATCHED_LISTED]]
        blocks += section_blocks(render("pair_home_admin.j2", kind="unmatched", entries=entries,
                                        more=max(0, len(preview["unmatched"]) - UNMATCHED_LISTED)))
    buttons = []
    if pairs:
        confirm = ConfirmObject(title=f"Publish round {round_.number}?",
                                text=render("pair_admin.j2", kind="confirm_publish", pairs=len(pairs), unmatched=summary.unmatched),
                                confirm="Publish", deny="Not yet")
        buttons.append(ButtonElement(text="Publish", action_id=ACTION_PUBLISH, value=str(round_.id), style="primary", confirm=confirm))
    if len(pairs) >= 2:
        buttons.append(ButtonElement(text="Swap mentors…", action_id=ACTION_SWAP, value=str(round_.id)))
    buttons.append(ButtonElement(text="Recompute", action_id=ACTION_PREVIEW, value="preview"))
    buttons.append(ButtonElement(text="Discard", action_id=ACTION_DISCARD, value=str(round_.id)))
    blocks.append(ActionsBlock(block_id=f"pair_preview_{round_.id}", elements=buttons))
    return blocks


def admin_only(services: Services, body: dict, reply: Reply) -> bool:
    team_id, user_id = who(body)
    if services.is_admin(team_id, user_id):
        return True
    log.info("refused a pairing admin action from non-admin %s", user_id)
    reply(render("errors.j2", kind="admin_only", admins=""))
    return False


def on_preview(services: Services, client: WebClient, body: dict, reply: Reply) -> None:
    if not admin_only(services, body, reply):
        return
    team_id, user_id = who(body)
    if make_preview(services, team_id=team_id, actor_id=user_id) is None:
        reply(render("pair_admin.j2", kind="nobody"))
    publish_home(services, client, team_id=team_id, user_id=user_id)


def on_publish(services: Services, client: WebClient, body: dict, reply: Reply) -> None:
    if not admin_only(services, body, reply):
        return
    team_id, user_id = who(body)
    round_id = parse_ints(action_value(body), 1)
    if round_id is None:
        reply(render("pair_admin.j2", kind="gone"))
        return
    outcome = publish_round(services, team_id=team_id, round_id=round_id[0], actor_id=user_id)
    publish_home(services, client, team_id=team_id, user_id=user_id)
    reply(outcome.message())


def on_discard(services: Services, client: WebClient, body: dict, reply: Reply) -> None:
    if not admin_only(services, body, reply):
        return
    team_id, user_id = who(body)
    round_id = parse_ints(action_value(body), 1)
    with session_scope(services.engine) as session:
        round_ = store.get_round(session, team_id=team_id, round_id=round_id[0]) if round_id else None
        discarded = round_ is not None and store.discard(session, round_=round_)
        if discarded:
            audit.record(session, team_id=team_id, actor_id=user_id, action="pairing_preview_discarded", round=round_.number)
    publish_home(services, client, team_id=team_id, user_id=user_id)
    if not discarded:
        reply(render("pair_admin.j2", kind="gone"))


def editable_round(session: Session, *, team_id: str, round_id: int | None) -> PairingRound | None:
    round_ = store.get_round(session, team_id=team_id, round_id=round_id) if round_id else None
    return round_ if round_ is not None and round_.status == "preview" else None


def on_remove(services: Services, client: WebClient, body: dict, reply: Reply) -> None:
    if not admin_only(services, body, reply):
        return
    team_id, user_id = who(body)
    value = action_value(body)
    round_text, _, mentee_id = value.partition(":")
    round_id = parse_ints(round_text, 1)
    with session_scope(services.engine) as session:
        round_ = editable_round(session, team_id=team_id, round_id=round_id[0] if round_id else None)
        if round_ is None:
            edit = Edit(None, [render("pair_admin.j2", kind="gone")])
        else:
            edit = remove_pair(store.preview_of(round_), mentee_id=mentee_id)
            if edit.preview is not None:
                store.update_preview(session, round_=round_, preview=edit.preview)
                audit.record(session, team_id=team_id, actor_id=user_id, action="pairing_preview_edited", round=round_.number,
                             change="remove")
    publish_home(services, client, team_id=team_id, user_id=user_id)
    if edit.problems:
        reply("\n".join(edit.problems))


def option_text(names: dict[str, str], entry: dict) -> str:
    def short(user_id: str) -> str:
        name = names.get(user_id, user_id)
        return name if len(name) <= NAME_IN_OPTION_MAX else name[: NAME_IN_OPTION_MAX - 1] + "…"

    return escape_plain(f"{short(entry['mentor'])} → {short(entry['mentee'])}")[:OPTION_TEXT_MAX]


def swap_view(round_: PairingRound, preview: dict, names: dict[str, str]) -> dict:
    options = [Option(value=entry["mentee"], text=option_text(names, entry)) for entry in preview["pairs"][:SWAP_OPTIONS]]
    blocks = section_blocks(render("pair_admin.j2", kind="swap_title")) + [
        InputBlock(block_id=SWAP_FIRST, label="A pair (mentor → mentee)",
                   element=StaticSelectElement(action_id=SWAP_ELEMENT, options=options, placeholder="Choose a pair")),
        InputBlock(block_id=SWAP_SECOND, label="Swap mentors with",
                   element=StaticSelectElement(action_id=SWAP_ELEMENT, options=options, placeholder="Choose another pair")),
    ]
    view = View(type="modal", callback_id=VIEW_SWAP, title="Swap mentors", submit="Swap", close="Cancel",
                private_metadata=json.dumps({"round_id": round_.id}), blocks=check_blocks(blocks, surface="modal"))
    view.validate_json()
    return view.to_dict()


def on_swap_open(services: Services, client: WebClient, body: dict, reply: Reply) -> None:
    if not admin_only(services, body, reply):
        return
    team_id, _ = who(body)
    round_id = parse_ints(action_value(body), 1)
    with Session(services.engine) as session:
        round_ = editable_round(session, team_id=team_id, round_id=round_id[0] if round_id else None)
        if round_ is None:
            reply(render("pair_admin.j2", kind="gone"))
            return
        preview = store.preview_of(round_)
        names = display_names(session, team_id=team_id, user_ids={u for p in preview["pairs"] for u in (p["mentee"], p["mentor"])})
    opened = call(client, "views.open", trigger_id=body.get("trigger_id", ""), view=swap_view(round_, preview, names))
    if not opened.ok:
        call(client, "chat.postMessage", channel=who(body)[1], text=opened.friendly)


def selected(view: dict, block_id: str) -> str:
    state = ((view.get("state") or {}).get("values") or {}).get(block_id) or {}
    option = (state.get(SWAP_ELEMENT) or {}).get("selected_option") or {}
    return str(option.get("value") or "")


def submit_swap(services: Services, ack, body: dict, view: dict, client: WebClient) -> None:  # noqa: ANN001
    team_id, user_id = who(body)
    if not services.is_admin(team_id, user_id):
        log.info("refused a pairing swap from non-admin %s", user_id)
        ack(response_action="update", view=notice_view(render("errors.j2", kind="admin_only", admins="")))
        return
    try:
        round_id = bounded_int(json.loads(view.get("private_metadata") or "{}")["round_id"])
        if round_id is None:
            raise ValueError("not a round id")
    except (ValueError, KeyError, TypeError):
        log.warning("swap submission with malformed metadata from %s", user_id)
        ack(response_action="update", view=notice_view(render("pair_admin.j2", kind="swap_missing")))
        return
    first, second = selected(view, SWAP_FIRST), selected(view, SWAP_SECOND)
    try:
        with session_scope(services.engine) as session:
            round_ = editable_round(session, team_id=team_id, round_id=round_id)
            if round_ is None:
                ack(response_action="update", view=notice_view(render("pair_admin.j2", kind="gone")))
                return
            preview = store.preview_of(round_)
            pool = store.load_pool(session, team_id=team_id, round_number=round_.number)
            involved = {u for p in preview["pairs"] if p["mentee"] in (first, second) for u in (p["mentee"], p["mentor"])}
            names = display_names(session, team_id=team_id, user_ids=involved | {first, second} - {""})
            edit = swap_mentors(preview, first=first, second=second, pool=pool, rules=rules_of(preview), names=names)
            if edit.preview is not None:
                store.update_preview(session, round_=round_, preview=edit.preview)
                audit.record(session, team_id=team_id, actor_id=user_id, action="pairing_preview_edited", round=round_.number,
                             change="swap")
    except SQLAlchemyError:
        log.exception("pairing swap: database error; nothing was changed")
        ack(response_action="errors", errors={SWAP_SECOND: render("errors.j2", kind="database")})
        return
    if edit.preview is None:
        ack(response_action="errors", errors={SWAP_SECOND: " ".join(edit.problems)})
        return
    ack()
    publish_home(services, client, team_id=team_id, user_id=user_id)
