"""The program evaluation section of the admin report (Slack DM and the command line)."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlmodel import Session

from bot.domain.curriculum import Catalogue as TopicCatalogue
from bot.domain.evaluation import CAVEAT, PairedCohort, coarsened, opening_sentence, paired_cohort
from bot.domain.publication import Coarsening
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
    cohorts, sentence = _cohorts_and_sentence(session, team_id=team_id, min_group=min_group)
    titles = {instrument_id: catalogue.instrument(instrument_id).title for instrument_id in catalogue.instruments}
    topic_titles = {topic.slug: topic.title for topic in topics} if topics is not None else {}
    steps = funnel(funnel_counts(session, team_id=team_id, now=now or utcnow()), min_group=min_group)
    groups = fidelity(group_records(session, team_id=team_id, titles=topic_titles), min_group=min_group)
    return render("report_evaluation.j2", sentence=sentence, cohorts=cohorts, min_group=min_group, caveat=CAVEAT,
                  titles=titles, funnel=steps, groups=groups)


CSV_COLUMNS = ("section", "measure", "wave", "n", "value", "ci_low", "ci_high", "compass_12m", "control_12m", "suppressed")


def evaluation_csv(session: Session, *, team_id: str, min_group: int, now: datetime | None = None) -> str:
    """The same figures as the section, one per row; a withheld figure has an empty value and suppressed=yes."""
    cohorts, _ = _cohorts_and_sentence(session, team_id=team_id, min_group=min_group)
    rows: list[tuple] = []
    for c in cohorts:
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


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.4f}".rstrip("0").rstrip(".")


def evaluation_sentence(session: Session, *, team_id: str, min_group: int) -> str:
    """The opening sentence alone, for the admin's App Home."""
    return _cohorts_and_sentence(session, team_id=team_id, min_group=min_group)[1]


def _cohorts_and_sentence(session: Session, *, team_id: str, min_group: int) -> tuple[list[PairedCohort], str]:
    answers = wave_answers(session, team_id=team_id)
    catalogue = default_catalogue()
    cohorts = [coarsened(paired_cohort(answers, wave=wave, catalogue=catalogue, min_group=min_group), Coarsening())
               for wave in ("6m", "12m")]
    held, planned = sessions_held_and_planned(session, team_id=team_id)
    lead = cohorts[1] if not cohorts[1].suppressed or cohorts[0].suppressed else cohorts[0]
    return cohorts, opening_sentence(lead, sessions_held=held, sessions_planned=planned, min_group=min_group)
