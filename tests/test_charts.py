import struct
import zlib
from datetime import date

import pytest

from bot.charts import PNG_SIGNATURE, trend_chart
from bot.trends import DEFAULT_METRICS, OVERALL_LABEL, PulseRow, build_trend_report

MONTHS = [date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)]


def png_chunks(png: bytes):
    assert png.startswith(PNG_SIGNATURE)
    offset, chunks = len(PNG_SIGNATURE), []
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        data = png[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", png[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + data), f"bad CRC in {kind!r}"
        chunks.append((kind, data))
        offset += 12 + length
    return chunks


def rows_for(counts_by_month, department="Medicine", value_for=lambda month, i: 40 + 4 * i):
    rows = []
    for month, count in counts_by_month.items():
        for i in range(count):
            rows.append(
                PulseRow(
                    f"{department}-{i}",
                    month.replace(day=12),
                    "who5",
                    value_for(month, i),
                    {"cohort": "c1", "department": department, "career_stage": "Trainee"},
                )
            )
    return rows


@pytest.fixture(scope="module")
def report():
    rows = rows_for({MONTHS[0]: 6, MONTHS[1]: 3, MONTHS[2]: 7}, "Medicine")
    rows += rows_for({MONTHS[0]: 5, MONTHS[1]: 8, MONTHS[2]: 5}, "Surgery", lambda month, i: 60 + 4 * i)
    return build_trend_report(rows, min_group=5, metrics=DEFAULT_METRICS[:1])


def test_chart_is_a_valid_png_of_the_requested_size(report):
    chart = trend_chart(report, "who5_mean", width_px=800, height_px=400)
    chunks = png_chunks(chart.png)
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert (width, height) == (800, 400)
    assert len(chart.png) > 10_000  # a drawn chart, not an empty canvas


def test_overall_series_is_what_the_report_publishes(report):
    chart = trend_chart(report, "who5_mean")
    assert list(chart.series) == [OVERALL_LABEL]
    # January: 6 Medicine (40..60) and 5 Surgery (60..76): mean of all eleven.
    january = (sum(40 + 4 * i for i in range(6)) + sum(60 + 4 * i for i in range(5))) / 11
    values = dict(chart.series[OVERALL_LABEL])
    assert values[MONTHS[0]] == pytest.approx(january)
    assert chart.series == report.series("who5_mean")


def test_series_by_department_has_gaps_where_cells_are_suppressed(report):
    chart = trend_chart(report, "who5_mean", by="department")
    assert set(chart.series) == {"Medicine", "Surgery"}
    medicine = dict(chart.series["Medicine"])
    assert medicine[MONTHS[1]] is None  # three respondents in February
    assert medicine[MONTHS[0]] == pytest.approx(sum(40 + 4 * i for i in range(6)) / 6)
    # With Medicine hidden in February, the total minus Surgery would reveal it: not both are drawn.
    surgery_february = dict(chart.series["Surgery"])[MONTHS[1]]
    overall_february = dict(report.series("who5_mean")[OVERALL_LABEL])[MONTHS[1]]
    assert surgery_february is None or overall_february is None
    png_chunks(chart.png)


def test_different_data_draws_a_different_chart(report):
    other = build_trend_report(rows_for({MONTHS[0]: 9, MONTHS[2]: 9}, "Medicine", lambda m, i: 100 - 4 * i), min_group=5, metrics=DEFAULT_METRICS[:1])
    assert trend_chart(report, "who5_mean").png != trend_chart(other, "who5_mean").png


def test_everything_suppressed_still_renders(report):
    tiny = build_trend_report(rows_for({MONTHS[0]: 2}), min_group=5, metrics=DEFAULT_METRICS[:1])
    chart = trend_chart(tiny, "who5_mean")
    assert chart.series == {OVERALL_LABEL: [(MONTHS[0], None)]}
    png_chunks(chart.png)


def test_unknown_metric_or_dimension(report):
    with pytest.raises(KeyError):
        trend_chart(report, "mbi_mean")
    with pytest.raises(KeyError):
        trend_chart(report, "who5_mean", by="group")
