"""What the demo leaves behind: the transcript, the admin report (CSV and chart), a record of
every Web API call, and a few lines of summary.

The report files are made exactly as ``compass-bot report`` makes them, from the same
suppressed aggregates (:func:`storage.reports.admin_report`), and the export is written
to the audit log like any other.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.standin import Call
from storage.models import Group, Member, Pair, PairCheckin, Survey

TRANSCRIPT = "transcript.txt"
REPORT_CSV = "report.csv"
TREND_PNG = "trend.png"


def write_report(directory: Path, *, engine: Engine, team_id: str, min_group: int) -> dict[str, Path]:
    from bot.domain.charts import trend_chart
    from bot.flows.admin_report import CHART_METRIC
    from bot.domain.trends import report_csv
    from storage import audit
    from storage.db import session_scope
    from storage.reports import admin_report

    with Session(engine) as session:
        report = admin_report(session, team_id=team_id, min_group=min_group)
    paths = {"csv": directory / REPORT_CSV, "png": directory / TREND_PNG}
    paths["csv"].write_text(report_csv(report.trends), encoding="utf-8")
    paths["png"].write_bytes(trend_chart(report.trends, CHART_METRIC).png)
    with session_scope(engine) as session:
        audit.record(session, team_id=team_id, actor_id="demo", action="report_exported", as_of=report.as_of.isoformat(),
                     min_group=min_group, csv=str(paths["csv"]), png=str(paths["png"]))
    return paths


def record_lines(calls: Iterable[Call], *, conversation: Callable[[str], dict], timezones: Mapping[str, str]) -> list[dict]:
    """Every Web API call as the record keeps it: ``{"method", "args", "at", "ok"}``, and for a message
    or file put in one person's DM also ``"to"`` (their user ID) and ``"tz"`` (their profile's time zone)."""
    lines = []
    for call in calls:
        line: dict[str, Any] = {"method": call.method, "args": call.args,
                                "at": datetime.fromtimestamp(call.at, timezone.utc).isoformat(), "ok": call.ok}
        recipient = _dm_recipient(call, conversation) if call.ok else None
        if recipient:
            line.update(to=recipient, tz=timezones.get(recipient, "UTC"))
        lines.append(line)
    return lines


def _dm_recipient(call: Call, conversation: Callable[[str], dict]) -> str | None:
    if call.method == "chat.postMessage":
        channels = [str((call.response or {}).get("channel") or call.args.get("channel") or "")]
    elif call.method == "files.completeUploadExternal":
        channels = [str(c) for c in (call.args.get("channel_id"), call.args.get("channels")) if c]
    else:
        return None
    for channel in channels:
        try:
            described = conversation(channel)
        except KeyError:
            continue
        if described.get("is_im"):
            return str(described.get("user") or "") or None
    return None


def write_record(path: Path, lines: Iterable[dict]) -> int:
    """The record, one JSON object a line (see :func:`record_lines`). Returns the count."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps(line, default=_jsonable, sort_keys=True) + "\n")
            count += 1
    return count


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    return str(value)


@dataclass(frozen=True)
class Summary:
    people: int
    joined: int
    residents: int
    attendings: int
    groups: int
    sessions_held: int
    attendance: str
    pairs: int
    pairs_ended: int
    checkins_answered: int
    surveys_sent: Counter
    surveys_answered: Counter
    burden: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        declined = self.people - self.joined
        return [
            f"People: {self.people} physicians in the workspace; {self.joined} joined "
            f"({self.residents} residents, {self.attendings} attendings), {declined} declined.",
            f"Groups: {self.groups}, with {plural(self.sessions_held, 'session')} held; attendance {self.attendance}.",
            f"Near-peer pairs: {self.pairs} introduced, {self.pairs_ended} ended without blame; "
            f"{self.checkins_answered} check-in answers.",
            "Surveys answered: " + (", ".join(
                f"{self.surveys_answered[kind]} of {self.surveys_sent[kind]} {label}"
                for kind, label in (("baseline", "baselines"), ("pulse", "pulses"), ("followup", "follow-ups"))
                if self.surveys_sent[kind]
            ) or "none sent yet") + ".",
            *self.burden,
        ]


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def member_ids(engine: Engine, *, team_id: str) -> list[str]:
    """The physicians who joined (consented), whose burden the summary measures."""
    with Session(engine) as session:
        return list(session.exec(select(Member.slack_user_id).where(
            Member.team_id == team_id, Member.consented_at.is_not(None))))  # type: ignore[union-attr]


def summarise(engine: Engine, *, team_id: str, people: int) -> Summary:
    from bot.flows.admin_report import percent
    from storage.reports import program_summary

    with Session(engine) as session:
        program = program_summary(session, team_id=team_id)
        stages = [s for s in session.exec(select(Member.career_stage).where(
            Member.team_id == team_id, Member.consented_at.is_not(None)))]  # type: ignore[union-attr]
        groups = len(session.exec(select(Group.id).where(Group.team_id == team_id)).all())
        pair_statuses = Counter(session.exec(select(Pair.status).where(Pair.team_id == team_id)))
        checkins = len(session.exec(select(PairCheckin.id).join(Pair, Pair.id == PairCheckin.pair_id)
                                    .where(Pair.team_id == team_id, PairCheckin.answer != "")).all())
        surveys = session.exec(select(Survey.kind, Survey.status).where(Survey.team_id == team_id)).all()
    return Summary(
        people=people,
        joined=len(stages),
        residents=sum(1 for s in stages if s.startswith("PGY")),
        attendings=sum(1 for s in stages if s.startswith("ATTENDING")),
        groups=groups,
        sessions_held=program.sessions_held,
        attendance=percent(program.attendance),
        pairs=sum(pair_statuses.values()),
        pairs_ended=pair_statuses.get("ended", 0),
        checkins_answered=checkins,
        surveys_sent=Counter(kind for kind, _ in surveys),
        surveys_answered=Counter(kind for kind, status in surveys if status == "completed"),
    )
