"""Prepare every workspace's admin report when the web process starts.

The first view after a start otherwise pays for summing months the database has not
summarised yet and for planning suppression (kept in this process's memory), about a
second over a million answers; admins should not wait for that.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from bot.runtime.services import Services
from storage.models import Workspace
from storage.reports import trend_report

log = logging.getLogger(__name__)


def warm_reports(services: Services) -> int:
    """Compute each workspace's trend report once; returns how many were prepared."""
    prepared = 0
    try:
        with Session(services.engine) as session:
            team_ids = list(session.exec(select(Workspace.team_id)))
        for team_id in team_ids:
            with Session(services.engine) as session:
                trend_report(session, team_id=team_id, min_group=services.settings.compass_min_group)
            prepared += 1
    except SQLAlchemyError:
        log.warning("could not prepare the admin reports at start; the first view will take longer", exc_info=True)
    return prepared


def warm_reports_in_background(services: Services) -> threading.Thread:
    thread = threading.Thread(target=warm_reports, args=(services,), name="report-warmup", daemon=True)
    thread.start()
    return thread
