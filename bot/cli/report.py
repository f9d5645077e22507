"""`compass-bot report [--csv FILE] [--png FILE] [--team T]`: the admin report on the command line.

The same suppressed aggregates as ``/compass report``; every run is written to the audit log.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.runtime.settings import ConfigError

EXIT_PROBLEM = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser(
        "report",
        help="program report: counts and suppressed wellbeing trends",
        description=(
            "Print the program summary (enrolled, active, groups, sessions, attendance, retention, participation) "
            "and write the pulse trends as CSV and a chart. Figures for fewer than COMPASS_MIN_GROUP people, and "
            "any that would reveal them, are left out. Every run is recorded in the audit log."
        ),
    )
    report.add_argument("--csv", metavar="FILE", help="write every figure by month, cohort, department and career stage")
    report.add_argument("--png", metavar="FILE", help="write the mean WHO-5 trend chart")
    report.add_argument("--evaluation-csv", metavar="FILE",
                        help="write the program evaluation (paired cohort, funnel, fidelity) as CSV, small figures withheld")
    report.add_argument("--team", metavar="TEAM_ID", help="the workspace (needed when the database holds several)")
    report.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from sqlmodel import Session, select

    from bot.domain.charts import trend_chart
    from bot.flows.admin_report import CHART_METRIC, percent, share
    from bot.flows.evaluation_report import evaluation_csv
    from bot.slack.render import render
    from bot.runtime.process import open_services
    from bot.domain.trends import report_csv
    from storage import audit
    from storage.db import session_scope
    from storage.models import Workspace
    from storage.reports import admin_report

    services = open_services(require_slack=False)
    min_group = services.settings.compass_min_group
    with Session(services.engine) as session:
        team_id = args.team or _only_team(list(session.exec(select(Workspace.team_id))))
        if session.get(Workspace, team_id) is None:
            raise ConfigError(f"--team: no workspace {team_id} in this database")
        report = admin_report(session, team_id=team_id, min_group=min_group)
        evaluation = evaluation_csv(session, team_id=team_id, min_group=min_group) if args.evaluation_csv else ""

    written = {}
    try:
        if args.csv:
            Path(args.csv).write_text(report_csv(report.trends), encoding="utf-8")
            written["csv"] = args.csv
        if args.evaluation_csv:
            Path(args.evaluation_csv).write_text(evaluation, encoding="utf-8")
            written["evaluation_csv"] = args.evaluation_csv
        if args.png:
            Path(args.png).write_bytes(trend_chart(report.trends, CHART_METRIC).png)
            written["png"] = args.png
    except OSError as exc:
        print(f"compass-bot: could not write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_PROBLEM
    with session_scope(services.engine) as session:
        audit.record(session, team_id=team_id, actor_id="cli", action="report_exported", as_of=report.as_of.isoformat(),
                     min_group=min_group, **written)
    shown = sum(1 for cell in report.trends.cells if not cell.suppressed)
    print(render("report_cli.j2", s=report.summary, as_of=report.as_of.isoformat(), percent=percent, share=share,
                 months=len(report.trends.months), shown=shown, hidden=len(report.trends.cells) - shown, min_group=min_group))
    for kind, path in written.items():
        print(f"wrote {kind.replace('_', ' ').upper()} to {path}")
    return 0


def _only_team(team_ids: list[str]) -> str:
    if len(team_ids) == 1:
        return team_ids[0]
    if not team_ids:
        raise ConfigError("DATABASE_URL: no workspace has used Compass yet, so there is nothing to report")
    raise ConfigError(f"--team is needed: this database holds {len(team_ids)} workspaces ({', '.join(sorted(team_ids))})")
