"""The pulse flow's part of a person's App Home: their open check-in and their own trend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from slack_sdk.models.blocks import ActionsBlock, ButtonElement
from sqlmodel import Session

from bot.domain.instruments import Survey as SurveyDefinition
from bot.domain.instruments import UnknownInstrument, default_catalogue
from bot.runtime.services import Services
from bot.slack.render import render, section_blocks
from bot.slack.survey_forms import OPEN_SURVEY_ACTION_ID
from storage import surveys as store
from storage.models import Member, Survey

SPARK = "▁▂▃▄▅▆▇█"
SURVEY_OF_KIND = {"baseline": "baseline", "followup": "follow_up", "pulse": "pulse"}


def _length(survey: Survey) -> str:
    """"7 questions, about 2 minutes" (empty for a survey whose definition is gone)."""
    try:
        return default_survey(survey).length_text()
    except UnknownInstrument:
        return ""


def default_survey(survey: Survey) -> SurveyDefinition:
    return default_catalogue().survey(SURVEY_OF_KIND.get(survey.kind, "pulse"))


@dataclass(frozen=True)
class TrendLine:
    title: str
    sparkline: str
    values: list[str]
    maximum: int
    higher_is_better: bool
    baseline: str | None


def sparkline(values: Sequence[float], low: float, high: float) -> str:
    span = (high - low) or 1
    return "".join(SPARK[min(len(SPARK) - 1, max(0, round((v - low) / span * (len(SPARK) - 1))))] for v in values)


def home_section(services: Services, session: Session, *, member: Member) -> list:
    """The person's own open check-in and trend; only ever built for their own Home tab."""
    catalogue = default_catalogue()
    survey = store.open_survey(session, team_id=member.team_id, user_id=member.slack_user_id)
    history = store.personal_history(session, team_id=member.team_id, user_id=member.slack_user_id)
    first = store.first_responses(session, team_id=member.team_id, user_id=member.slack_user_id)
    lines = []
    for instrument_id, points in history.items():
        try:
            instrument = catalogue.instrument(instrument_id)
        except UnknownInstrument:
            continue
        if not instrument.personal_feedback:
            continue
        baseline = first.get(instrument_id)
        lines.append(TrendLine(
            title=instrument.title,
            sparkline=sparkline([p.value for p in points], instrument.minimum, instrument.maximum),
            values=[f"{p.value:g}" for p in points],
            maximum=instrument.maximum,
            higher_is_better=instrument.higher_is_better,
            baseline=f"{baseline.score:g}" if baseline is not None and len(points) > 1 else None,
        ))
    if survey is None and not lines:
        return []
    open_info = {"length": _length(survey)} if survey is not None else None
    blocks: list = section_blocks(render("pulse_home.j2", open_survey=open_info, lines=lines))
    if survey is not None:
        blocks.append(ActionsBlock(block_id="home_checkin", elements=[
            ButtonElement(text="Start check-in", action_id=OPEN_SURVEY_ACTION_ID, value=str(survey.id), style="primary"),
        ]))
    return blocks
