"""The admin program report: ``/compass report``, a section of the admin's App Home, a trend
chart and a CSV, all from the same suppressed aggregates.

Only admins reach any of it (the command, the button and the Home section check again
each time), reports go to the admin's DM and never to the channel the command was typed
in, and every view and export is written to the audit log. Nothing here reads a single
person's answers: ``storage.reports`` returns sums over segments, and every figure
shown has passed the anonymity threshold and complementary suppression.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ImageBlock
from sqlmodel import Session, col, select

from bot.flows.commands import CommandContext, CommandRouter, run_guarded, who
from bot.flows.evaluation_report import evaluation_csv, evaluation_sentence, evaluation_text
from bot.flows.home import publish_home
from bot.slack.render import check_blocks, context_block, divider, fallback_text, render, section_blocks
from bot.runtime.services import Services
from bot.slack.client import call
from bot.domain.trends import Proportion, ReportCell, TrendReport, report_csv
from storage import audit
from storage.db import session_scope
from storage.models import AuditEntry
from storage.reports import AdminReport, admin_report

log = logging.getLogger(__name__)

SEND_ACTION = "admin_report_send"
REPORT_SENT = "report_sent"
HOME_VIEWED = "admin_report_home_viewed"
CHART_METRIC = "who5_mean"
MONTHS_SHOWN = 6
BREAKDOWNS = (("cohort", "cohort"), ("department", "department"), ("career_stage", "career stage"), ("site", "site"))


def register(app: App, services: Services, router: CommandRouter) -> None:
    router.add("report", report_command, help="program report: enrolment, attendance, retention and wellbeing trends",
               audience="admins")

    @app.action(SEND_ACTION)
    def on_send_report(ack, body, client):  # noqa: ANN001
        ack()
        team_id, user_id = who(body)

        def dm(text: str) -> None:
            call(client, "chat.postMessage", channel=user_id, text=text)

        run_guarded(lambda: _send_if_admin(services, client, team_id, user_id, dm), reply=dm, what="report button")


def report_command(ctx: CommandContext) -> None:
    _send_if_admin(ctx.services, ctx.client, ctx.team_id, ctx.user_id, ctx.reply)


def _send_if_admin(services: Services, client: WebClient, team_id: str, user_id: str, reply) -> None:  # noqa: ANN001
    if not services.is_admin(team_id, user_id):
        log.info("refused the program report to a non-admin")
        reply(render("errors.j2", kind="admin_only", admins=""))
        return
    reply(send_report(services, client, team_id=team_id, user_id=user_id))


# ---------------------------------------------------------------- rendering


def percent(proportion: Proportion) -> str:
    if not proportion.denominator:
        return "not yet"
    return f"{proportion.value:.0%} ({proportion.numerator} of {proportion.denominator})"


def share(proportion: Proportion) -> str:
    return f"{proportion.value:.0%}" if proportion.denominator else "no roster yet"


def month_label(month: date) -> str:
    return month.strftime("%b %Y")


def cell_text(cell: ReportCell | None, kind: str, *, interval: bool = True) -> str:
    if cell is None:
        return "no answers"
    if cell.suppressed or cell.estimate is None:
        return "hidden"
    unit = "%" if kind == "percent" else ""
    sign = "+" if kind == "change" else ""
    estimate = f"{cell.estimate:{sign}.1f}{unit}"
    if interval and cell.ci_low is not None and cell.ci_high is not None:
        estimate += f" ({cell.ci_low:{sign}.1f} to {cell.ci_high:{sign}.1f}{unit})"
    return f"{estimate}, n={cell.respondents}"


@dataclass(frozen=True)
class Row:
    label: str
    text: str


def trend_context(report: TrendReport) -> list[dict]:
    """Per metric: its last months overall, and the latest month by cohort, department and career stage."""
    metrics = []
    for metric in report.metrics:
        months = [m for m in report.months if report.cell(metric.id, m) is not None]
        if not months:
            continue
        latest = months[-1]
        breakdowns = []
        for dimension, title in BREAKDOWNS:
            cells = [c for c in report.cells if c.metric == metric.id and c.month == latest and c.table == (dimension,)]
            if cells:
                breakdowns.append({
                    "title": title,
                    "month": month_label(latest),
                    "rows": [Row(c.key[0], cell_text(c, metric.kind, interval=False)) for c in cells],
                })
        metrics.append({
            "label": metric.label,
            "months": [Row(month_label(m), cell_text(report.cell(metric.id, m), metric.kind)) for m in months[-MONTHS_SHOWN:]],
            "breakdowns": breakdowns,
        })
    return metrics


def latest_overall(report: TrendReport) -> dict | None:
    if not report.months:
        return None
    latest = report.months[-1]
    rows = [Row(metric.label, cell_text(report.cell(metric.id, latest), metric.kind, interval=False))
            for metric in report.metrics if report.cell(metric.id, latest) is not None]
    return {"month": month_label(latest), "rows": rows} if rows else None


def report_texts(report: AdminReport, *, min_group: int) -> tuple[str, str]:
    summary = render("report_summary.j2", s=report.summary, as_of=report.as_of.isoformat(), percent=percent, share=share)
    trends = render("report_trends.j2", metrics=trend_context(report.trends), min_group=min_group)
    return summary, trends


# ---------------------------------------------------------------- sending


def send_report(services: Services, client: WebClient, *, team_id: str, user_id: str) -> str:
    """Post the report, its chart and its CSV to the admin's DM; returns the reply for the admin."""
    min_group = services.settings.compass_min_group
    with Session(services.engine) as session:
        report = admin_report(session, team_id=team_id, min_group=min_group)
        evaluation = evaluation_text(session, team_id=team_id, min_group=min_group, topics=services.catalogue)
        evaluation_table = evaluation_csv(session, team_id=team_id, min_group=min_group)
    opened = call(client, "conversations.open", users=user_id)
    if not opened.ok:
        return opened.friendly
    channel = opened.data["channel"]["id"]
    summary, trends = report_texts(report, min_group=min_group)
    blocks = check_blocks([*section_blocks(summary), divider(), *section_blocks(evaluation), divider(),
                           *section_blocks(trends)])
    posted = call(client, "chat.postMessage", channel=channel, text=fallback_text(summary), blocks=blocks)
    if not posted.ok:
        return posted.friendly

    exported: dict[str, str] = {"message": posted.data.get("ts", "")}
    refused = []
    stamp = report.as_of.isoformat()
    # (audit name, the file, what the comment says of it): the chart and both CSVs in one upload, one notification
    uploads: list[tuple[str, dict, str]] = []
    if any(c.metric == CHART_METRIC and c.table == () and not c.suppressed for c in report.trends.cells):
        from bot.domain.charts import trend_chart  # Pillow: only reports need it

        chart = trend_chart(report.trends, CHART_METRIC)
        uploads.append(("chart_file", {"content": chart.png, "filename": f"compass-wellbeing-{stamp}.png",
                                       "title": f"Wellbeing trend, {stamp}"}, "chart"))
    uploads.append(("csv_file", {"content": report_csv(report.trends), "filename": f"compass-report-{stamp}.csv",
                                 "title": f"Compass report, {stamp}"}, "csv"))
    uploads.append(("evaluation_csv_file", {"content": evaluation_table, "filename": f"compass-evaluation-{stamp}.csv",
                                            "title": f"Compass program evaluation, {stamp}"}, "evaluation_csv"))
    comment = "\n".join(f"• *{file['title']}*: {render('report_sent.j2', where=where, min_group=min_group)}"
                        for _, file, where in uploads)
    uploaded = call(client, "files.upload_v2", channel=channel, file_uploads=[file for _, file, _ in uploads],
                    initial_comment=comment)
    if uploaded.ok:
        ids = [str(f.get("id") or "") for f in uploaded.data.get("files") or []]
        exported.update({name: file_id for (name, _, _), file_id in zip(uploads, ids)})
    else:
        refused.append(uploaded)
    with session_scope(services.engine) as session:
        audit.record(session, team_id=team_id, actor_id=user_id, action=REPORT_SENT, where="dm", as_of=stamp,
                     min_group=min_group, **exported)
    publish_home(services, client, team_id=team_id, user_id=user_id)
    return refused[0].friendly if refused else render("report_sent.j2", where="reply", min_group=min_group)


# ---------------------------------------------------------------- App Home


def admin_home_section(services: Services, session: Session, *, team_id: str, user_id: str) -> list:
    """Program figures, the latest chart sent to this admin, and a button for the full report."""
    if not services.is_admin(team_id, user_id):
        return []
    button = ActionsBlock(block_id="admin_report", elements=[
        ButtonElement(text="Send me the full report", action_id=SEND_ACTION, value="send"),
    ])
    try:
        report = admin_report(session, team_id=team_id, min_group=services.settings.compass_min_group)
        text = render("report_home.j2", s=report.summary, latest=latest_overall(report.trends), percent=percent, share=share)
        blocks: list = section_blocks(text)
        blocks.extend(section_blocks(evaluation_sentence(session, team_id=team_id, min_group=services.settings.compass_min_group)))
        chart = _latest_chart(services, session, team_id=team_id, user_id=user_id)
        if chart is not None:
            blocks.append(ImageBlock(slack_file={"id": chart[0]}, alt_text="Mean WHO-5 by month, all respondents",
                                     title=f"Wellbeing trend, as of {chart[1]}"))
        with session_scope(services.engine) as writer:
            audit.record(writer, team_id=team_id, actor_id=user_id, action=HOME_VIEWED, where="app_home",
                         as_of=report.as_of.isoformat())
    except Exception:  # noqa: BLE001 - the rest of the admin's Home must still show
        log.exception("the program report section of App Home could not be built")
        blocks = section_blocks("*Program report*\nThe report couldn't be built just now; try the button in a minute.")
    blocks.append(button)
    blocks.append(context_block(f"Figures for fewer than {services.settings.compass_min_group} people never show. "
                                "Every view and export is in the audit log."))
    return blocks


def _latest_chart(services: Services, session: Session, *, team_id: str, user_id: str) -> tuple[str, str] | None:
    """(file id, date) of the last chart sent to this admin, if Slack still has it."""
    entries = session.exec(
        select(AuditEntry)
        .where(AuditEntry.team_id == team_id, AuditEntry.actor_id == user_id, AuditEntry.action == REPORT_SENT)
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
        .limit(1)
    ).first()
    if entries is None:
        return None
    detail = json.loads(entries.detail or "{}")
    file_id = detail.get("chart_file")
    if not file_id:
        return None
    # A deleted file would make Slack reject the whole Home tab, so check it is still there.
    if not call(services.clients.for_team(team_id), "files.info", file=file_id).ok:
        return None
    return file_id, detail.get("as_of", "")

