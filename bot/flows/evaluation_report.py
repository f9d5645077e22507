"""The program evaluation section of the admin report (Slack DM and the command line)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.domain.curriculum import Catalogue as TopicCatalogue
from bot.domain.evaluation import CAVEAT, opening_sentence, paired_cohort
from bot.domain.instruments import default_catalogue
from bot.domain.program_delivery import fidelity, funnel
from bot.slack.render import render
from storage.db import utcnow
from storage.evaluation import funnel_counts, group_records, sessions_held_and_planned, wave_answers


def evaluation_text(
    session: Session, *, team_id: str, min_group: int, topics: TopicCatalogue | None = None, now: datetime | None = None
) -> str:
    """The section as mrkdwn: the opening sentence, the 6- and 12-month paired cohorts, the caveat,
    the enrolment funnel and each group's fidelity."""
    catalogue = default_catalogue()
    answers = wave_answers(session, team_id=team_id)
    cohorts = [paired_cohort(answers, wave=wave, catalogue=catalogue, min_group=min_group) for wave in ("6m", "12m")]
    held, planned = sessions_held_and_planned(session, team_id=team_id)
    lead = cohorts[1] if not cohorts[1].suppressed or cohorts[0].suppressed else cohorts[0]
    sentence = opening_sentence(lead, sessions_held=held, sessions_planned=planned, min_group=min_group)
    titles = {instrument_id: catalogue.instrument(instrument_id).title for instrument_id in catalogue.instruments}
    topic_titles = {topic.slug: topic.title for topic in topics} if topics is not None else {}
    steps = funnel(funnel_counts(session, team_id=team_id, now=now or utcnow()), min_group=min_group)
    groups = fidelity(group_records(session, team_id=team_id, titles=topic_titles), min_group=min_group)
    return render("report_evaluation.j2", sentence=sentence, cohorts=cohorts, min_group=min_group, caveat=CAVEAT,
                  titles=titles, funnel=steps, groups=groups)
