"""The admin trend chart: a PNG drawn with matplotlib's Agg canvas from a suppressed report.

The chart only ever reads ``TrendReport.series``, so it shows exactly the cells
the report publishes: a suppressed month is a gap in the line, never a point.
``pyplot`` is not used, so no global backend or figure state is touched and the
function is safe to call from a web worker thread.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import date

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure

from bot.trends import OVERALL_LABEL, TrendReport

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DPI = 100

Series = dict[str, list[tuple[date, float | None]]]


@dataclass(frozen=True)
class Chart:
    png: bytes
    metric: str
    series: Series  # what was plotted: label -> (month, estimate or None)


def trend_chart(
    report: TrendReport,
    metric_id: str,
    *,
    by: str | None = None,
    width_px: int = 1000,
    height_px: int = 500,
) -> Chart:
    """Plot one metric by month, overall (with its 95% interval) or one line per value of ``by``."""
    metric = report.metric(metric_id)
    series = report.series(metric_id, by)

    figure = Figure(figsize=(width_px / _DPI, height_px / _DPI), dpi=_DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    plotted = False
    for label, points in series.items():
        months = [month for month, _ in points]
        values = [math.nan if value is None else value for _, value in points]
        if not any(value is not None for _, value in points):
            continue
        axes.plot(months, values, marker="o", label=label)
        plotted = True
    if by is None and plotted:
        lows, highs = _interval(report, metric_id)
        axes.fill_between([m for m, _ in series[OVERALL_LABEL]], lows, highs, alpha=0.2, label="95% interval")

    axes.set_title(metric.label)
    axes.xaxis.set_major_formatter(DateFormatter("%b %Y"))
    axes.grid(True, alpha=0.3)
    if plotted:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    else:
        axes.text(0.5, 0.5, "Not enough respondents to show", ha="center", va="center", transform=axes.transAxes)
    figure.text(
        0.01,
        0.01,
        f"Groups of fewer than {report.min_group} respondents, and cells that would reveal them, are not shown.",
        fontsize="x-small",
        alpha=0.7,
    )
    figure.autofmt_xdate()
    figure.subplots_adjust(right=0.78)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return Chart(png=buffer.getvalue(), metric=metric_id, series=series)


def _interval(report: TrendReport, metric_id: str) -> tuple[list[float], list[float]]:
    lows, highs = [], []
    for month in report.months:
        cell = report.cell(metric_id, month)
        shown = cell is not None and not cell.suppressed
        lows.append(cell.ci_low if shown and cell.ci_low is not None else math.nan)
        highs.append(cell.ci_high if shown and cell.ci_high is not None else math.nan)
    return lows, highs
