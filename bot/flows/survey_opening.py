"""Opening surveys under the one-open-survey rule, and noting where their DMs went.

A pulse after a session opens a check-in for every member of a group. That is one transaction for
the group, not one a person: their member rows are locked in one query (in user order, so two
transactions never wait on each other crosswise), their surveys read in one query, and the new
surveys and their close rows written in one statement each. Where each DM went is noted once the
group's DMs are posted, in one transaction. At a health system's size the wave's CPU is mostly
these round trips (bench/README.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterable, Sequence

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from storage import schedule
from storage import surveys as store
from storage.db import session_scope, utcnow
from storage.models import Survey

log = logging.getLogger(__name__)

REMINDER_KIND = "survey_reminder"
CLOSE_KIND = "survey_close"
# Halfway through the two weeks a long check-in stays open: the nudge lands in another week than the
# check-in itself (a physician's busiest week is the one they join in).
REMIND_AFTER = timedelta(days=7)
OPEN_FOR = {"pulse": timedelta(days=5), "baseline": timedelta(days=14), "followup": timedelta(days=14)}


@dataclass
class Opened:
    survey_id: int
    superseded: list[dict]  # where the DMs of the open survey this one replaced are


class Skip(Exception):
    """This person is not asked now; the message is the reason."""


def reminder_key(survey_id: int) -> str:
    return f"survey-reminder:{survey_id}"


def close_key(survey_id: int) -> str:
    return f"survey-close:{survey_id}"


def close_payload(survey_id: int, messages: list[dict]) -> dict:
    return {"survey_id": survey_id, "messages": messages}


def open_for(session: Session, *, team_id: str, user_id: str, kind: str, wave: str, instruments: Sequence[str],
             replaces_open: bool) -> Opened:
    """Open a survey for one person; raises :class:`Skip` with the reason they are not asked. Call inside a transaction."""
    outcome = open_for_people(session, team_id=team_id, user_ids=[user_id], kind=kind, wave=wave, instruments=instruments,
                              replaces_open=replaces_open)[user_id]
    if isinstance(outcome, Skip):
        raise outcome
    return outcome


def open_for_people(session: Session, *, team_id: str, user_ids: Iterable[str], kind: str, wave: str,
                    instruments: Sequence[str], replaces_open: bool) -> dict[str, Opened | Skip]:
    """Open a survey of ``wave`` for each person, by user ID: what was opened, or why they are skipped.

    A person never has two open surveys: one whose other survey is open is skipped, unless
    ``replaces_open`` (a trial time point), which closes it. A survey of ``wave`` already open is a retry
    of this delivery and is returned as it is. Call inside a transaction."""
    wanted = list(dict.fromkeys(user_ids))
    members = store.lock_people(session, team_id=team_id, user_ids=wanted)
    surveys = store.for_wave_and_open(session, team_id=team_id, user_ids=wanted, wave=wave)
    outcomes: dict[str, Opened | Skip] = {}
    to_start: list[tuple[str, list[dict]]] = []
    for user_id in wanted:
        member = members.get(user_id)
        existing, current = surveys.get(user_id, (None, None))
        if member is None or member.consented_at is None or member.status in ("invited", "left"):
            outcomes[user_id] = Skip("not a member now")
        elif existing is not None:
            outcomes[user_id] = (Opened(existing.id, superseded=[]) if existing.status == store.SENT  # a retry
                                 else Skip(f"already {existing.status}"))
        elif current is not None and not replaces_open:
            outcomes[user_id] = Skip("another check-in is open")
        else:
            to_start.append((user_id, close(session, current) if current is not None else []))
    now = utcnow()
    started = store.start_surveys(session, team_id=team_id, user_ids=[user_id for user_id, _ in to_start], kind=kind,
                                  wave=wave, instruments=instruments, now=now)
    actions = []
    for (user_id, superseded), survey in zip(to_start, started):
        outcomes[user_id] = Opened(survey.id, superseded=superseded)
        if kind != "pulse":  # a pulse is one message after a session; only the longer surveys get a nudge
            actions.append(dict(key=reminder_key(survey.id), kind=REMINDER_KIND, due_at=now + REMIND_AFTER,
                                team_id=team_id, subject_user_id=user_id, payload={"survey_id": survey.id}))
        actions.append(dict(key=close_key(survey.id), kind=CLOSE_KIND, due_at=now + OPEN_FOR[kind],
                            team_id=team_id, subject_user_id=user_id, payload=close_payload(survey.id, [])))
    schedule.schedule_many(session, actions)
    return {user_id: outcomes[user_id] for user_id in wanted}


def close(session: Session, survey: Survey) -> list[dict]:
    """Close an open survey now; returns where its DMs are, to edit them."""
    store.expire_survey(session, survey=survey)
    messages = messages_of(session, survey.id)
    schedule.cancel(session, keys=[reminder_key(survey.id), close_key(survey.id)])
    return messages


def messages_of(session: Session, survey_id: int) -> list[dict]:
    row = schedule.get(session, key=close_key(survey_id))
    return list(schedule.payload_of(row).get("messages", [])) if row is not None else []


def remember_messages(engine: Engine, posted: Sequence[tuple[int, dict]]) -> None:
    """Note where survey DMs went ((survey ID, Slack's answer to the post)), so closing a survey can take
    its button away. One transaction for them all."""
    places = [(survey_id, {"channel": p.get("channel"), "ts": p.get("ts")}) for survey_id, p in posted
              if p.get("channel") and p.get("ts")]
    if not places:
        return
    try:
        with session_scope(engine) as session:
            for survey_id, here in places:
                _remember(session, survey_id, here)
    except SQLAlchemyError:
        log.warning("could not note where %d survey DM(s) went; their buttons stay after the surveys close", len(places))


def _remember(session: Session, survey_id: int, here: dict) -> None:
    # Most often the survey's first DM: the close row still holds no message, and one statement notes it.
    if schedule.swap_payload(session, key=close_key(survey_id), expected=close_payload(survey_id, []),
                             payload=close_payload(survey_id, [here])):
        return
    row = schedule.get(session, key=close_key(survey_id))
    if row is None:
        return
    payload = schedule.payload_of(row)
    messages = [m for m in payload.get("messages", []) if m.get("ts") != here["ts"]] + [here]
    schedule.move(session, key=row.key, due_at=row.due_at, payload=payload | {"messages": messages})
