"""Near-peer mentoring in Slack: a round from preview to introductions, then check-ins.

Admins match a round (``/compass pair preview`` or App Home) and review the stored preview
in App Home: the pairs with their reasons and everyone not matched, with why. They may
swap the mentors of two pairs or remove a pair; every hard rule is checked again
(:func:`bot.domain.matching.check_pairs`) before an edit is saved. Publishing (App Home,
``/compass pair publish`` or ``compass-bot pair --publish``) stores the pairs and puts on
the exactly-once schedule an introduction in a group DM for each pair, a kind note for
everyone not matched, and each pair's check-ins: 14 days after the start, then every
4 weeks. A week after each check-in, pairs who have never met get a gentle reminder.
Three unanswered check-ins in a row pause a pairing until someone resumes it
(``/compass pair resume``); either person may end it without blame (``/compass pair
end``), and the other is only told that it ended.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from slack_bolt import App
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
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session

from bot.runtime.delivery import HISTORY_WINDOW, METADATA_EVENT, DeliveryFailed, DropDelivery, RetryLater, ensure_ok, find_delivered, post_once
from bot.flows.commands import CommandContext, CommandRouter, action_value, answer_privately, bounded_int, run_guarded, who
from bot.flows.home import publish_home
from bot.domain.matching import MENTEE_ROLES, MENTOR_ROLES, ZERO_CAPACITY, MatchingRules, MatchResult, Violation, check_pairs, match
from bot.domain.people import CareerStage, Person
from bot.slack.render import check_blocks, escape_plain, fallback_text, render, render_sections, section_blocks
from bot.runtime.services import Services
from bot.slack.client import call
from storage import audit, schedule
from storage import pairing as store
from storage.db import session_scope, utcnow
from storage.members import get_member
from storage.models import Member, Pair, PairingRound, ScheduledAction

log = logging.getLogger(__name__)

INTRO_KIND = "pair_intro"
CHECKIN_KIND = store.CHECKIN_KIND
REMINDER_KIND = "pair_reminder"
NOTE_KIND = "pair_note"
UNMATCHED_KIND = "pair_unmatched"

FIRST_CHECKIN_AFTER = timedelta(days=14)
CHECKIN_EVERY = timedelta(weeks=4)
REMINDER_AFTER = timedelta(days=7)
SILENCE_LIMIT = 3

PAIRS_WITH_CONTROLS = 25  # App Home shows a Remove button for this many pairs, the rest as lines
MORE_PAIRS_LISTED = 40
UNMATCHED_LISTED = 15
SWAP_OPTIONS = 100  # Slack's limit for a static select
OPTION_TEXT_MAX = 75
NAME_IN_OPTION_MAX = 34
REMOVED = "removed"  # Unmatched.code of people taken out of a preview by an admin

ACTION_PREVIEW = "pair_preview"
ACTION_PUBLISH = "pair_preview_publish"
ACTION_DISCARD = "pair_preview_discard"
ACTION_REMOVE = "pair_preview_remove"
ACTION_SWAP = "pair_preview_swap"
VIEW_SWAP = "pair_swap_submit"
ACTION_CHECKIN = {"met": "pair_checkin_met", "not_yet": "pair_checkin_not_yet", "end": "pair_checkin_end"}
ACTION_END = "pair_end"
ACTION_RESUME = "pair_resume"
SWAP_FIRST, SWAP_SECOND, SWAP_ELEMENT = "first", "second", "pair"

Reply = Callable[[str], None]


# --- schedule keys ---------------------------------------------------------------------------------------
# Every key of a pair's own actions starts with pair_prefix(), so ending or pausing a pair can cancel them
# at once; notes about the pair use another prefix so that cancelling never swallows them.


def pair_prefix(pair_id: int) -> str:
    return f"pair:{pair_id}:"


def intro_key(pair_id: int) -> str:
    return f"pair:{pair_id}:intro"


def checkin_key(pair_id: int, number: int, due: datetime) -> str:
    return f"pair:{pair_id}:checkin:{number}:{int(due.timestamp())}"


def reminder_key(pair_id: int, number: int) -> str:
    return f"pair:{pair_id}:reminder:{number}"


def note_key(pair_id: int, note: str, user_id: str, at: datetime) -> str:
    return f"pairnote:{pair_id}:{note}:{user_id}:{int(at.timestamp())}"


def unmatched_key(round_id: int, user_id: str) -> str:
    return f"pairing:{round_id}:unmatched:{user_id}"


# --- small helpers -------------------------------------------------------------------------------------


def parse_ints(text: str, count: int) -> tuple[int, ...] | None:
    parts = text.split(":")
    if len(parts) != count:
        return None
    numbers = tuple(bounded_int(part) for part in parts)
    return None if None in numbers else numbers  # type: ignore[return-value]


def partner_of(pair: Pair, user_id: str) -> str:
    return pair.mentor_id if user_id == pair.mentee_id else pair.mentee_id


def role_in(pair: Pair, user_id: str) -> str:
    return "mentee" if user_id == pair.mentee_id else "mentor"


def about(member: Member) -> str:
    """Career stage, specialty and site, as a person reads them."""
    stage = member.career_stage
    try:
        stage = CareerStage.parse(stage).label() if stage else ""
    except ValueError:
        pass
    parts = [part for part in (stage, member.specialty, member.site) if part]
    return " · ".join(parts) if parts else "details not on file yet"


def local_day(moment: datetime, tz_name: str) -> str:
    day = moment.astimezone(ZoneInfo(tz_name)).date()
    return f"{day.strftime('%a')} {day.day} {day.strftime('%b %Y')}"


def rules_of(preview: dict) -> MatchingRules:
    cooldown = (preview.get("rules") or {}).get("cooldown_rounds")
    valid = isinstance(cooldown, int) and not isinstance(cooldown, bool) and cooldown >= 0
    return MatchingRules(cooldown_rounds=cooldown if valid else None)


def display_names(session: Session, *, team_id: str, user_ids: Iterable[str]) -> dict[str, str]:
    members = store.members_by_id(session, team_id=team_id, user_ids=user_ids)
    return {user: (members[user].display_name if user in members and members[user].display_name else user) for user in user_ids}


def post_keyed(client: WebClient, action: ScheduledAction, *, channel: str, key: str, text: str, blocks: list) -> dict:
    """:func:`bot.runtime.delivery.post_once` for an action that posts more than one message (one per person)."""
    if action.attempts > 1:
        found = find_delivered(client, channel=channel, key=key, since=action.due_at - HISTORY_WINDOW)
        if found is not None:
            log.info("delivery %s was already posted; not posting again", key)
            return found
    outcome = call(client, "chat.postMessage", channel=channel, text=text, blocks=blocks,
                   metadata={"event_type": METADATA_EVENT, "event_payload": {"key": key}})
    return ensure_ok(outcome, "chat.postMessage")


@dataclass
class Fanout:
    """Who a per-person delivery reached, and the failures of the rest."""

    reached: list[str] = field(default_factory=list)
    passing: list[str] = field(default_factory=list)
    permanent: list[str] = field(default_factory=list)

    def settle(self) -> None:
        """Passing failures are retried (the retry finds the DMs already sent); if nobody could be
        reached for good, the delivery fails. Someone Slack refuses for good is only logged."""
        if self.passing:
            raise RetryLater(f"{len(self.passing)} DM(s) to retry: {self.passing[0]}")
        if self.permanent and not self.reached:
            raise DeliveryFailed(self.permanent[0])


def dm_each(client: WebClient, action: ScheduledAction, messages: dict[str, tuple[str, list]]) -> Fanout:
    """DM each person their message, once whatever happened on an earlier attempt."""
    fanout = Fanout()
    for user_id, (text, blocks) in messages.items():
        try:
            post_keyed(client, action, channel=user_id, key=f"{action.key}:{user_id}", text=text, blocks=check_blocks(blocks))
            fanout.reached.append(user_id)
        except RetryLater as exc:
            fanout.passing.append(str(exc))
        except DeliveryFailed as exc:
            log.warning("%s: could not DM %s: %s", action.key, user_id, exc)
            fanout.permanent.append(str(exc))
    return fanout


# --- matching and the preview ---------------------------------------------------------------------------


def match_pool(pool: store.Pool, rules: MatchingRules) -> MatchResult:
    return match(pool.people, history=pool.history, current_round=pool.current_round, rules=rules, paused=pool.paused)


def preview_payload(result: MatchResult, pool: store.Pool, rules: MatchingRules) -> dict:
    """What a preview stores. User IDs live only in ``pairs`` and ``unmatched`` (erasure scrubs those)."""
    data = result.to_dict()
    data["stats"]["already_paired"] = pool.already_paired
    data["rules"] = {"cooldown_rounds": rules.cooldown_rounds}
    data["edits"] = 0
    return data


@dataclass(frozen=True)
class PreviewSummary:
    round_id: int
    number: int
    matched: int
    mentees: int
    unmatched: int


def summarise(round_: PairingRound, preview: dict) -> PreviewSummary:
    pairs, unmatched = preview["pairs"], preview["unmatched"]
    waiting_mentees = sum(1 for u in unmatched if u.get("role") == "mentee")
    return PreviewSummary(round_.id, round_.number, len(pairs), len(pairs) + waiting_mentees, len(unmatched))


def save_match(session: Session, *, team_id: str, actor_id: str, result: MatchResult, pool: store.Pool,
               rules: MatchingRules) -> PairingRound:
    round_ = store.save_preview(session, team_id=team_id, preview=preview_payload(result, pool, rules), created_by=actor_id)
    audit.record(session, team_id=team_id, actor_id=actor_id, action="pairing_previewed", round=round_.number,
                 pairs=len(result.pairs), unmatched=len(result.unmatched))
    return round_


def make_preview(services: Services, *, team_id: str, actor_id: str, rules: MatchingRules = MatchingRules()) -> PreviewSummary | None:
    """Match the next round from the enrolled members and store it as the open preview.

    None when nobody is looking for a mentor. Two admins saving the first preview at the
    same moment collide on the round number; the loser matches again and replaces it.
    """
    for attempt in (1, 2):
        try:
            with session_scope(services.engine) as session:
                pool = store.load_pool(session, team_id=team_id)
                result = match_pool(pool, rules)
                if not result.stats.get("mentees"):
                    return None
                round_ = save_match(session, team_id=team_id, actor_id=actor_id, result=result, pool=pool, rules=rules)
                return summarise(round_, store.preview_of(round_))
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("another preview was saved at the same moment; matching again")
    return None


def describe_violations(violations: Iterable[Violation], names: dict[str, str]) -> list[str]:
    lines: list[str] = []
    for violation in violations:
        line = render("pair_rules.j2", rule=violation.rule, mentee=escape_plain(names.get(violation.mentee, violation.mentee)),
                      mentor=escape_plain(names.get(violation.mentor, violation.mentor)))
        if line not in lines:
            lines.append(line)
    return lines


def violations_in(preview_pairs: list[tuple[str, str]], pool: store.Pool, rules: MatchingRules) -> list[Violation]:
    """Every hard rule the pairs break as things stand now; someone paused counts as unavailable."""
    available = [p for p in pool.people if p.user_id not in pool.paused]
    return check_pairs(preview_pairs, available, history=pool.history, current_round=pool.current_round, rules=rules)


def pair_fit(mentee: Person, mentor: Person, pool: store.Pool, rules: MatchingRules) -> dict:
    """Score and reasons of one allowed pair, worked out by the matcher itself on just the two of them."""
    result = match(
        [replace(mentee, near_peer_role="mentee"), replace(mentor, near_peer_role="mentor", mentor_capacity=1)],
        history=pool.history, current_round=pool.current_round, rules=rules,
    )
    if not result.pairs:
        raise ValueError(f"{mentor.user_id} may not mentor {mentee.user_id}")
    found = result.pairs[0]
    return {"mentee": found.mentee, "mentor": found.mentor, "score": found.score, "reasons": list(found.reasons)}


@dataclass
class Edit:
    preview: dict | None
    problems: list[str] = field(default_factory=list)


def remove_pair(preview: dict, *, mentee_id: str) -> Edit:
    target = next((p for p in preview["pairs"] if p["mentee"] == mentee_id), None)
    if target is None:
        return Edit(None, [render("pair_admin.j2", kind="swap_missing")])
    remaining = [p for p in preview["pairs"] if p is not target]
    still_paired = {user for p in remaining for user in (p["mentee"], p["mentor"])}
    unmatched = list(preview["unmatched"])
    listed = {u["user"] for u in unmatched}
    reason = render("pair_admin.j2", kind="removed_reason")
    for user, role in ((target["mentee"], "mentee"), (target["mentor"], "mentor")):
        if user in listed or (role == "mentor" and user in still_paired):
            continue
        unmatched.append({"user": user, "role": role, "code": REMOVED, "reason": reason})
        listed.add(user)
    edited = {**preview, "pairs": remaining, "unmatched": sorted(unmatched, key=lambda u: u["user"]),
              "edits": int(preview.get("edits") or 0) + 1}
    return Edit(edited)


def swap_mentors(preview: dict, *, first: str, second: str, pool: store.Pool, rules: MatchingRules,
                 names: dict[str, str]) -> Edit:
    """Give the mentee of each pair the other pair's mentor, if every hard rule still holds."""
    if first == second:
        return Edit(None, [render("pair_admin.j2", kind="swap_same")])
    by_mentee = {p["mentee"]: p for p in preview["pairs"]}
    a, b = by_mentee.get(first), by_mentee.get(second)
    if a is None or b is None:
        return Edit(None, [render("pair_admin.j2", kind="swap_missing")])
    if a["mentor"] == b["mentor"]:
        return Edit(None, [render("pair_admin.j2", kind="swap_same_mentor")])
    untouched = [p for p in preview["pairs"] if p["mentee"] not in (first, second)]
    proposed = [(p["mentee"], p["mentor"]) for p in untouched] + [(first, b["mentor"]), (second, a["mentor"])]
    violations = violations_in(proposed, pool, rules)
    if violations:
        return Edit(None, describe_violations(violations, names))
    people = {p.user_id: p for p in pool.people}
    swapped = [pair_fit(people[first], people[b["mentor"]], pool, rules), pair_fit(people[second], people[a["mentor"]], pool, rules)]
    pairs = sorted(untouched + swapped, key=lambda p: (p["mentee"], p["mentor"]))
    return Edit({**preview, "pairs": pairs, "edits": int(preview.get("edits") or 0) + 1})


# --- publishing -----------------------------------------------------------------------------------------


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
        for entry in preview["pairs"]:
            pair = store.create_pair(session, round_=round_, mentee_id=entry["mentee"], mentor_id=entry["mentor"],
                                     score=float(entry.get("score") or 0), reasons=entry.get("reasons") or [], now=now)
            schedule.schedule(session, key=intro_key(pair.id), kind=INTRO_KIND, due_at=now, team_id=team_id,
                              subject_user_id=pair.mentee_id, payload=pair_payload(pair))
            schedule_checkin(session, pair=pair, number=1, due=now + FIRST_CHECKIN_AFTER)
        told = [entry for entry in preview["unmatched"] if entry.get("code") != ZERO_CAPACITY]  # ZERO_CAPACITY: offered no places
        for entry in told:
            schedule.schedule(session, key=unmatched_key(round_.id, entry["user"]), kind=UNMATCHED_KIND, due_at=now,
                              team_id=team_id, subject_user_id=entry["user"],
                              payload={"round_id": round_.id, "user": entry["user"], "role": entry.get("role", "mentee"),
                                       "code": entry.get("code", ""), "reason": entry.get("reason", "")})
        audit.record(session, team_id=team_id, actor_id=actor_id, action="pairing_round_published", round=round_.number,
                     pairs=len(proposed), unmatched=len(preview["unmatched"]))
        return PublishOutcome("published", number=round_.number, pairs=len(proposed), unmatched=len(told))


def pair_payload(pair: Pair, **extra: Any) -> dict:
    # Both people are named so that erasing either one also erases the pair's scheduled actions.
    return {"pair_id": pair.id, "mentee": pair.mentee_id, "mentor": pair.mentor_id, **extra}


def schedule_checkin(session: Session, *, pair: Pair, number: int, due: datetime) -> None:
    schedule.schedule(session, key=checkin_key(pair.id, number, due), kind=CHECKIN_KIND, due_at=due, team_id=pair.team_id,
                      subject_user_id=pair.mentee_id, payload=pair_payload(pair, number=number))


def schedule_note(session: Session, *, pair: Pair, user_id: str, note: str, at: datetime) -> None:
    schedule.schedule(session, key=note_key(pair.id, note, user_id, at), kind=NOTE_KIND, due_at=at, team_id=pair.team_id,
                      subject_user_id=user_id, payload=pair_payload(pair, user=user_id, partner=partner_of(pair, user_id), note=note))


# --- changes to a pair ----------------------------------------------------------------------------------


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


# --- deliveries (called by the clock) ---------------------------------------------------------------------


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


def deliver_intro(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    pair, members = load_pair_and_members(services, action, payload)
    if pair.status == "ended":
        raise DropDelivery("the pairing ended before its introduction")
    with session_scope(services.engine) as session:
        stored = store.get_pair(session, pair_id=pair.id)
        ended = stored is not None and end_if_someone_left(session, pair=stored, members=members, now=utcnow())
    if ended:
        raise DropDelivery("someone in the pair left Compass; the pairing ended")
    opened = ensure_ok(call(client, "conversations.open", users=f"{pair.mentee_id},{pair.mentor_id}"), "conversations.open")
    channel_id = opened["channel"]["id"]
    parts = render_sections("pair_intro.j2", mentee=pair.mentee_id, mentor=pair.mentor_id, reasons=store.reasons_of(pair),
                            mentee_about=about(members[pair.mentee_id]), mentor_about=about(members[pair.mentor_id]))
    blocks = [block for part in parts for block in section_blocks(part)]
    post_once(client, action, channel=channel_id, text=fallback_text(parts[0]), blocks=check_blocks(blocks))
    with session_scope(services.engine) as session:
        stored = store.get_pair(session, pair_id=pair.id)
        if stored is not None and stored.dm_channel_id != channel_id:
            stored.dm_channel_id = channel_id
            session.add(stored)
    for user_id in (pair.mentee_id, pair.mentor_id):
        publish_home(services, client, team_id=pair.team_id, user_id=user_id)


def checkin_message(pair: Pair, user_id: str, number: int) -> tuple[str, list]:
    text = render("pair_checkin.j2", kind="question", partner=partner_of(pair, user_id), number=number,
                  role=role_in(pair, user_id), met=pair.met)
    value = f"{pair.id}:{number}"
    confirm = ConfirmObject(title="End this pairing?", text=render("pair_checkin.j2", kind="confirm_end"),
                            confirm="End it", deny="Keep it", style="danger")
    blocks: list = section_blocks(text)
    blocks.append(ActionsBlock(block_id=f"pair_checkin_{pair.id}_{number}", elements=[
        ButtonElement(text="Yes, we met", action_id=ACTION_CHECKIN["met"], value=value, style="primary"),
        ButtonElement(text="Not yet", action_id=ACTION_CHECKIN["not_yet"], value=value),
        ButtonElement(text="End this pairing", action_id=ACTION_CHECKIN["end"], value=value, style="danger", confirm=confirm),
    ]))
    return fallback_text(text), blocks


def deliver_checkin(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """"Did you meet?" to each person, or a pause after three silences in a row."""
    number = payload.get("number")
    if not isinstance(number, int) or number < 1:
        raise DeliveryFailed(f"malformed payload: {payload!r}")
    pair, members = load_pair_and_members(services, action, payload)
    if pair.status != "active":
        raise DropDelivery(f"the pairing is {pair.status}")
    now = utcnow()
    with session_scope(services.engine) as session:
        stored = store.get_pair(session, pair_id=pair.id)
        if stored is None or stored.status != "active":
            raise DropDelivery("the pairing changed meanwhile")
        if end_if_someone_left(session, pair=stored, members=members, now=now):
            return
        silent = [u for u in (pair.mentee_id, pair.mentor_id)
                  if store.silent_streak(session, pair_id=pair.id, user_id=u) >= SILENCE_LIMIT]
        if silent:
            pause_pair(session, pair=stored, silent=silent, now=now)
            return
        # Scheduled before posting, so that a Slack failure cannot end the series; the keys make it idempotent.
        schedule_checkin(session, pair=stored, number=number + 1, due=action.due_at + CHECKIN_EVERY)
        if not stored.met:
            schedule.schedule(session, key=reminder_key(pair.id, number), kind=REMINDER_KIND,
                              due_at=action.due_at + REMINDER_AFTER, team_id=pair.team_id,
                              subject_user_id=pair.mentee_id, payload=pair_payload(pair, number=number))
    # Someone on a break (paused in Compass) gets no check-in, and none is counted against them.
    recipients = [u for u in (pair.mentee_id, pair.mentor_id) if members[u].status == "active"]
    fanout = dm_each(client, action, {user_id: checkin_message(pair, user_id, number) for user_id in recipients})
    record_sent(services, pair, fanout.reached, number)
    fanout.settle()


def record_sent(services: Services, pair: Pair, user_ids: Iterable[str], number: int) -> None:
    with session_scope(services.engine) as session:
        for user_id in user_ids:
            store.record_checkin_sent(session, pair_id=pair.id, user_id=user_id, number=number)


def deliver_reminder(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """A nudge a week after a check-in, only to pairs who have never met."""
    pair, members = load_pair_and_members(services, action, payload)
    if pair.status != "active":
        raise DropDelivery(f"the pairing is {pair.status}")
    if pair.met:
        raise DropDelivery("the pair has met")
    recipients = [u for u in (pair.mentee_id, pair.mentor_id) if u in members and members[u].status == "active"]
    messages = {}
    for user_id in recipients:
        text = render("pair_reminder.j2", role=role_in(pair, user_id), partner=partner_of(pair, user_id))
        messages[user_id] = (fallback_text(text), section_blocks(text))
    dm_each(client, action, messages).settle()


def deliver_note(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    """A kind note about a pairing: it ended, was paused or resumed."""
    user_id, note = payload.get("user"), payload.get("note")
    if not isinstance(user_id, str) or not isinstance(note, str):
        raise DeliveryFailed(f"malformed payload: {payload!r}")
    with Session(services.engine) as session:
        member = get_member(session, team_id=action.team_id, user_id=user_id)
    if member is None or member.status == "left":
        raise DropDelivery("the person is no longer in Compass")
    text = render("pair_note.j2", note=note, partner=str(payload.get("partner") or ""), limit=SILENCE_LIMIT)
    post_once(client, action, channel=user_id, text=fallback_text(text), blocks=check_blocks(section_blocks(text)))
    publish_home(services, client, team_id=action.team_id, user_id=user_id)


def deliver_unmatched(services: Services, client: WebClient, action: ScheduledAction, payload: dict) -> None:
    user_id = payload.get("user")
    if not isinstance(user_id, str):
        raise DeliveryFailed(f"malformed payload: {payload!r}")
    with Session(services.engine) as session:
        member = get_member(session, team_id=action.team_id, user_id=user_id)
    if member is None or member.status != "active":
        raise DropDelivery("the person is not active in Compass")
    text = render("pair_unmatched.j2", role=payload.get("role", "mentee"), code=payload.get("code", ""),
                  reason=payload.get("reason", ""))
    post_once(client, action, channel=user_id, text=fallback_text(text), blocks=check_blocks(section_blocks(text)))


def on_intro_failed(services: Services, action: ScheduledAction, error: str) -> None:
    """An introduction Slack refused for good: the admins hear about it, so they can introduce the pair."""
    payload = schedule.payload_of(action)
    with Session(services.engine) as session:
        pair = store.get_pair(session, pair_id=payload.get("pair_id") or 0)
        round_ = session.get(PairingRound, pair.round_id) if pair else None
        admins = store.admin_user_ids(session, team_id=action.team_id, configured=services.settings.admin_ids)
    text = render("pair_admin.j2", kind="intro_failed", mentee=payload.get("mentee", ""), mentor=payload.get("mentor", ""),
                  number=round_.number if round_ else "?", error=error.split(":")[-1].strip()[:80])
    client = services.clients.for_team(action.team_id)
    for admin_id in admins:
        call(client, "chat.postMessage", channel=admin_id, text=text)


DELIVERIES = {
    INTRO_KIND: deliver_intro,
    CHECKIN_KIND: deliver_checkin,
    REMINDER_KIND: deliver_reminder,
    NOTE_KIND: deliver_note,
    UNMATCHED_KIND: deliver_unmatched,
}
ON_FAILURE = {INTRO_KIND: on_intro_failed}


# --- /compass pair ---------------------------------------------------------------------------------------


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


# --- buttons in DMs: check-in answers and choosing a pairing to end --------------------------------------------


def answer_checkin(services: Services, client: WebClient, body: dict, answer: str, respond) -> None:  # noqa: ANN001
    team_id, user_id = who(body)
    parsed = parse_ints(action_value(body), 2)
    if parsed is None:
        log.warning("check-in answer with an unreadable value %r from %s", action_value(body), user_id)
        respond(text=render("pair_checkin.j2", kind="unreadable"), response_type="ephemeral", replace_original=False)
        return
    pair_id, number = parsed
    if answer == "end":
        change = end_for(services, team_id=team_id, user_id=user_id, pair_id=pair_id)
        respond(text=render("pair_note.j2", note=change.note, partner=change.partner), replace_original=change.note != "not_found")
        publish_home(services, client, team_id=team_id, user_id=user_id)
        return
    with session_scope(services.engine) as session:
        pair = store.get_pair(session, pair_id=pair_id, team_id=team_id)
        if pair is None or user_id not in (pair.mentee_id, pair.mentor_id):
            kind, partner, role = ("not_yours" if pair is not None else "ended"), "", ""
        elif pair.status == "ended":
            kind, partner, role = "ended", partner_of(pair, user_id), role_in(pair, user_id)
        else:
            store.answer_checkin(session, pair=pair, user_id=user_id, number=number, answer=answer)
            kind = "paused" if pair.status == "paused" else answer
            partner, role = partner_of(pair, user_id), role_in(pair, user_id)
    text = render("pair_checkin.j2", kind=kind, partner=partner, role=role, number=number, met=False)
    respond(text=text, replace_original=kind != "not_yours")
    if kind in ("met", "not_yet", "paused"):
        publish_home(services, client, team_id=team_id, user_id=user_id)


def end_from_button(services: Services, client: WebClient, body: dict, respond) -> None:  # noqa: ANN001
    team_id, user_id = who(body)
    pair_id = parse_ints(action_value(body), 1)
    if pair_id is None:
        respond(text=render("pair_note.j2", note="not_found"), replace_original=False)
        return
    change = end_for(services, team_id=team_id, user_id=user_id, pair_id=pair_id[0])
    respond(text=render("pair_note.j2", note=change.note, partner=change.partner), replace_original=True)
    publish_home(services, client, team_id=team_id, user_id=user_id)


# --- App Home -------------------------------------------------------------------------------------------------


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


def notice_view(text: str) -> dict:
    view = View(type="modal", title="Near-peer mentoring", close="Close", blocks=check_blocks(section_blocks(text), surface="modal"))
    return view.to_dict()


def notify(client: WebClient, body: dict) -> Reply:
    """Feedback for a click in App Home (which has no response URL): a small modal, else a DM."""
    _, user_id = who(body)

    def reply(text: str) -> None:
        if call(client, "views.open", trigger_id=body.get("trigger_id", ""), view=notice_view(text)).ok:
            return
        call(client, "chat.postMessage", channel=user_id, text=text)

    return reply


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


# --- registration -----------------------------------------------------------------------------------------------


def register(app: App, services: Services, router: CommandRouter) -> None:
    router.add("pair", pair_command, usage="pair [status|end|resume]",
               help="your near-peer mentoring: where it stands, end it without blame, or resume check-ins")

    def from_home(handler: Callable[[Services, WebClient, dict, Reply], None], what: str):  # noqa: ANN202
        def listener(ack, body, client):  # noqa: ANN001
            ack()
            reply = notify(client, body)
            run_guarded(lambda: handler(services, client, body, reply), reply=reply, what=what)

        return listener

    def from_message(handler: Callable[..., None], what: str):  # noqa: ANN202
        def listener(ack, body, client, respond):  # noqa: ANN001
            ack()
            respond = answer_privately(respond, client, body)

            def reply(text: str) -> None:
                respond(text=text, response_type="ephemeral", replace_original=False)

            run_guarded(lambda: handler(services, client, body, respond), reply=reply, what=what)

        return listener

    app.action(ACTION_PREVIEW)(from_home(on_preview, "pairing preview"))
    app.action(ACTION_PUBLISH)(from_home(on_publish, "pairing publish"))
    app.action(ACTION_DISCARD)(from_home(on_discard, "pairing discard"))
    app.action(ACTION_REMOVE)(from_home(on_remove, "pairing remove"))
    app.action(ACTION_SWAP)(from_home(on_swap_open, "pairing swap"))
    app.action(ACTION_RESUME)(from_home(on_resume_button, "pairing resume"))
    for answer, action_id in ACTION_CHECKIN.items():
        app.action(action_id)(from_message(
            lambda s, c, b, r, answer=answer: answer_checkin(s, c, b, answer, r), f"check-in {answer}"))
    app.action(re.compile(rf"^{ACTION_END}_\d+$"))(from_message(end_from_button, "end pairing"))

    @app.view(VIEW_SWAP)
    def on_swap_submit(ack, body, view, client):  # noqa: ANN001
        submit_swap(services, ack, body, view, client)
