"""Matching a round into the stored preview, and the admins' edits to it.

Admins may swap the mentors of two pairs or remove a pair; every hard rule is checked again
(:func:`bot.domain.matching.check_pairs`) before an edit is saved.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Iterable

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.domain.matching import MatchingRules, MatchResult, Violation, check_pairs, match
from bot.domain.people import Person
from bot.runtime.services import Services
from bot.slack.render import escape_plain, render
from storage import audit
from storage import pairing as store
from storage.db import session_scope
from storage.models import PairingRound

log = logging.getLogger(__name__)

REMOVED = "removed"  # Unmatched.code of people taken out of a preview by an admin


def rules_of(preview: dict) -> MatchingRules:
    cooldown = (preview.get("rules") or {}).get("cooldown_rounds")
    valid = isinstance(cooldown, int) and not isinstance(cooldown, bool) and cooldown >= 0
    return MatchingRules(cooldown_rounds=cooldown if valid else None)


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
