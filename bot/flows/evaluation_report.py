"""The program evaluation section of the admin report (Slack DM, App Home and the command line).

A follow-up wave's figures are published once the wave has closed (``bot.domain.evaluation.wave_closes_at``),
recorded then in the publication ledger (``storage.ledger``), and shown as recorded ever after, in the
text, the CSV and App Home alike: a forget-me or a late answer never revises a published wave.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.domain.curriculum import Catalogue as TopicCatalogue
from bot.domain.evaluation import (
    CAVEAT, Wave, coarsened, cohort_from_record, cohort_record, evaluation_sentence as opening, paired_cohort, wave_closes_at,
)
from bot.domain.publication import Coarsening
from bot.domain.instruments import default_catalogue
from bot.domain.program_delivery import fidelity, funnel
from bot.slack.render import render
from storage import ledger
from storage.db import session_scope, utcnow
from storage.evaluation import funnel_counts, group_records, sessions_held_and_planned, wave_answers, wave_timing


def evaluation_text(
    session: Session, *, team_id: str, min_group: int, topics: TopicCatalogue | None = None, now: datetime | None = None
) -> str:
    """The section as mrkdwn: the opening sentence, the 6- and 12-month paired cohorts, the caveat,
    the enrolment funnel and each group's fidelity."""
    catalogue = default_catalogue()
    waves, sentence = _waves_and_sentence(session, team_id=team_id, min_group=min_group, now=now or utcnow())
    titles = {instrument_id: catalogue.instrument(instrument_id).title for instrument_id in catalogue.instruments}
    topic_titles = {topic.slug: topic.title for topic in topics} if topics is not None else {}
    steps = funnel(funnel_counts(session, team_id=team_id, now=now or utcnow()), min_group=min_group)
    groups = fidelity(group_records(session, team_id=team_id, titles=topic_titles), min_group=min_group)
    return render("report_evaluation.j2", sentence=sentence, waves=waves, min_group=min_group, caveat=CAVEAT,
                  titles=titles, funnel=steps, groups=groups)


CSV_COLUMNS = ("section", "measure", "wave", "n", "value", "ci_low", "ci_high", "compass_12m", "control_12m", "suppressed")


def evaluation_csv(session: Session, *, team_id: str, min_group: int, now: datetime | None = None) -> str:
    """The same figures as the section, one per row; a withheld figure has an empty value and suppressed=yes.
    A published wave's first row gives the day it closed; an open wave shows only the people who
    answered it so far, rounded."""
    waves, _ = _waves_and_sentence(session, team_id=team_id, min_group=min_group, now=now or utcnow())
    rows: list[tuple] = []
    for wave in waves:
        if wave.cohort is None:
            rows.append(("paired_cohort", "answered_so_far_rounded", wave.wave, wave.answered_so_far, wave.answered_so_far,
                         None, None, None, None))
            continue
        c = wave.cohort
        rows.append(("paired_cohort", "wave_closed_on", c.wave, None, wave.closed_on, None, None, None, None))
        rows.append(("paired_cohort", "response_rate_percent", c.wave, c.n, c.response_rate, None, None, None, None))
        for m in c.means:
            rows.append(("paired_cohort", f"{m.instrument}_mean_change", c.wave, m.n, m.mean, m.low, m.high, None, None))
        for s in c.shares:
            for part, value in (("before", s.before_percent), ("after", s.after_percent)):
                rows.append(("paired_cohort", f"{s.instrument}_share_{part}_percent", c.wave, s.n, value, None, None, None, None))
            rows.append(("paired_cohort", f"{s.instrument}_share_change_points", c.wave, s.n, s.change_points, None, None,
                         s.compass_points, s.control_points))
    for step in funnel(funnel_counts(session, team_id=team_id, now=now or utcnow()), min_group=min_group):
        rows.append(("funnel", step.key, "", step.count, step.count, None, None, None, None))
    for group in fidelity(group_records(session, team_id=team_id, titles={}), min_group=min_group):
        rows.append(("fidelity", f"{group.name}: sessions held", "", group.planned, group.held, None, None, None, None))
        rows.append(("fidelity", f"{group.name}: median attendance", "", group.size, group.median_attendance, None, None, None,
                     None))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for section, measure, wave, n, value, low, high, compass, control in rows:
        withheld = value is None
        writer.writerow([section, measure, wave, "" if withheld and section != "fidelity" else n,
                         "" if withheld else _number(value), _number(low), _number(high), _number(compass), _number(control),
                         "yes" if withheld else "no"])
    return out.getvalue()


def _number(value: float | int | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value) if isinstance(value, int) else f"{value:.4f}".rstrip("0").rstrip(".")


def evaluation_sentence(session: Session, *, team_id: str, min_group: int, now: datetime | None = None) -> str:
    """The opening sentence alone, for the admin's App Home."""
    return _waves_and_sentence(session, team_id=team_id, min_group=min_group, now=now or utcnow())[1]


def _waves_and_sentence(session: Session, *, team_id: str, min_group: int, now: datetime) -> tuple[list[Wave], str]:
    published = ledger.published_waves(session, team_id=team_id)
    waves = [_wave(session, team_id=team_id, wave=wave, recorded=published.get(wave), min_group=min_group, now=now)
             for wave in ("6m", "12m")]
    held, planned = sessions_held_and_planned(session, team_id=team_id)
    return waves, opening(waves, sessions_held=held, sessions_planned=planned, min_group=min_group)


def _wave(session: Session, *, team_id: str, wave: str, recorded: tuple[date, dict] | None, min_group: int,
          now: datetime) -> Wave:
    """The wave as published in the ledger (``recorded``); published now if it has closed since; else still open."""
    if recorded is None:
        answered_at, joined_at = wave_timing(session, team_id=team_id, wave=wave)
        closes_at = wave_closes_at(wave, answered_at=answered_at, joined_at=joined_at)
        if closes_at is None or closes_at > now:
            return Wave(wave, None, None, answered_so_far=Coarsening().respondents(len(answered_at)),
                        closes_on=closes_at.date() if closes_at else None)
        cohort = coarsened(paired_cohort(wave_answers(session, team_id=team_id), wave=wave, catalogue=default_catalogue(),
                                         min_group=min_group), Coarsening())
        bind = session.get_bind()
        with session_scope(bind if isinstance(bind, Engine) else bind.engine) as writer:
            ledger.record_wave(writer, team_id=team_id, wave=wave, closed_on=closes_at.date(), figures=cohort_record(cohort))
            # Another view may have published the wave first: show what the ledger holds.
            recorded = ledger.published_waves(writer, team_id=team_id)[wave]
    closed_on, figures = recorded
    return Wave(wave, cohort_from_record(figures), closed_on)
