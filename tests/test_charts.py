import io
import math
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from PIL import Image, ImageChops

from bot.domain.charts import (
    _BAND_COLOUR,
    _BAND_OPACITY,
    _PALETTE,
    PNG_SIGNATURE,
    _labelled_months,
    _month_step,
    _nice_ticks,
    trend_chart,
)
from bot.domain.trends import DEFAULT_METRICS, OVERALL_LABEL, PulseRow, build_trend_report

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


# ---------------------------------------------------------------- what the picture shows
#
# The checks below decode the PNG and look for colours. Markers and lines are drawn in the
# palette's colours at full strength in their middle, so an exact colour match finds them;
# the legend's swatches use the same colours and always sit to the right of the plot.

FIRST, SECOND = _PALETTE[0], _PALETTE[1]
BAND = tuple(round(255 + (channel - 255) * _BAND_OPACITY) for channel in _BAND_COLOUR)
WHITE = (255, 255, 255)


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def colour_mask(image: Image.Image, colour, tolerance: int = 0) -> Image.Image:
    """255 where every channel is within ``tolerance`` of ``colour``, else 0."""
    red, green, blue = ImageChops.difference(image, Image.new("RGB", image.size, colour)).split()
    worst = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    return worst.point(lambda difference: 255 if difference <= tolerance else 0)


def colour_count(image: Image.Image, colour, tolerance: int = 0) -> int:
    return colour_mask(image, colour, tolerance).histogram()[255]


def column_runs(image: Image.Image, colour) -> list[tuple[int, int]]:
    """(first, last) x of each unbroken range of columns holding ``colour``."""
    mask = colour_mask(image, colour)
    runs: list[tuple[int, int]] = []
    for x in range(image.width):
        if mask.crop((x, 0, x + 1, image.height)).getbbox() is None:
            continue
        if runs and runs[-1][1] == x - 1:
            runs[-1] = (runs[-1][0], x)
        else:
            runs.append((x, x))
    return runs


def plotted_runs(image: Image.Image, colour) -> list[tuple[int, int]]:
    """The column runs of ``colour`` inside the plot: everything but the legend swatch, the rightmost run."""
    runs = column_runs(image, colour)
    assert runs, "the colour is not in the chart at all"
    legend = runs[-1]
    assert legend[0] > image.width * 0.6, "the legend is to the right of the plot"
    return runs[:-1]


def centre(run: tuple[int, int]) -> float:
    return (run[0] + run[1]) / 2


def marker_centre_y(image: Image.Image, colour, run: tuple[int, int]) -> float:
    _, top, _, bottom = colour_mask(image, colour).crop((run[0], 0, run[1] + 1, image.height)).getbbox()
    return (top + bottom) / 2


def constant_report(counts, value=52):
    months = [date(2025, month, 1) for month in range(1, len(counts) + 1)]
    rows = rows_for(dict(zip(months, counts)), value_for=lambda month, i: value)
    return build_trend_report(rows, min_group=5, metrics=DEFAULT_METRICS[:1])


@pytest.mark.parametrize("size", [(1000, 500), (800, 400), (601, 333), (320, 640)])
def test_the_png_is_rgb_of_exactly_the_requested_size_without_metadata(report, size):
    for by in (None, "department"):
        chart = trend_chart(report, "who5_mean", by=by, width_px=size[0], height_px=size[1])
        image = decode(chart.png)
        assert image.size == size and image.mode == "RGB"
        assert {kind for kind, _ in png_chunks(chart.png)} == {b"IHDR", b"IDAT", b"IEND"}


def test_the_same_input_gives_the_same_bytes(report):
    again = build_trend_report(
        rows_for({MONTHS[0]: 6, MONTHS[1]: 3, MONTHS[2]: 7}, "Medicine")
        + rows_for({MONTHS[0]: 5, MONTHS[1]: 8, MONTHS[2]: 5}, "Surgery", lambda month, i: 60 + 4 * i),
        min_group=5,
        metrics=DEFAULT_METRICS[:1],
    )
    for by in (None, "department"):
        assert trend_chart(report, "who5_mean", by=by).png == trend_chart(again, "who5_mean", by=by).png


def test_charts_drawn_in_parallel_threads_are_the_same_as_one_at_a_time(report):
    expected = {by: trend_chart(report, "who5_mean", by=by).png for by in (None, "department")}
    with ThreadPoolExecutor(max_workers=4) as pool:
        drawn = list(pool.map(lambda by: (by, trend_chart(report, "who5_mean", by=by).png), [None, "department"] * 4))
    assert all(png == expected[by] for by, png in drawn)


def test_the_overall_chart_draws_its_line_and_the_95_percent_band(report):
    image = decode(trend_chart(report, "who5_mean").png)
    assert colour_count(image, BAND, tolerance=2) > 0.05 * image.width * image.height
    runs = plotted_runs(image, FIRST)
    assert len(runs) == 1 and runs[0][1] - runs[0][0] > image.width / 2  # one line over all three months


def test_lines_and_markers_are_anti_aliased(report):
    image = decode(trend_chart(report, "who5_mean", by="department").png)
    half_covered = tuple((channel + 255) // 2 for channel in FIRST)  # an edge pixel half over white
    assert colour_count(image, half_covered, tolerance=25) > 20


def test_a_chart_by_department_has_one_colour_per_department_and_no_band(report):
    image = decode(trend_chart(report, "who5_mean", by="department").png)
    assert colour_count(image, BAND, tolerance=2) < 50  # a few anti-aliased edges at most
    medicine, surgery = plotted_runs(image, FIRST), plotted_runs(image, SECOND)
    # January and March for both, at the same months' positions; February is suppressed for both.
    assert len(medicine) == len(surgery) == 2
    for ours, theirs in zip(medicine, surgery):
        assert abs(centre(ours) - centre(theirs)) <= 1
    # Medicine's means (50, 52) are lower than Surgery's (68, 68): drawn further down.
    for ours, theirs in zip(medicine, surgery):
        assert marker_centre_y(image, FIRST, ours) > marker_centre_y(image, SECOND, theirs) + 20


def test_a_suppressed_month_is_a_gap_not_a_point(report):
    image = decode(trend_chart(report, "who5_mean", by="department").png)
    january, march = plotted_runs(image, FIRST)
    # Isolated months are markers, not joined by a line through February.
    assert all(last - first <= 14 for first, last in (january, march))
    february = round((centre(january) + centre(march)) / 2)
    column = image.crop((february - 8, 0, february + 9, image.height))
    for colour in (FIRST, SECOND):
        assert colour_count(column, colour, tolerance=40) == 0


def test_a_line_joins_neighbouring_months_and_breaks_at_a_gap():
    image = decode(trend_chart(constant_report([6, 6, 2, 6, 6]), "who5_mean").png)
    before, after = plotted_runs(image, FIRST)  # January-February, then April-May
    spacing = (centre(after) - centre(before)) / 3
    for first, last in (before, after):
        assert last - first == pytest.approx(spacing, abs=16)  # a segment from one month to the next
    assert after[0] - before[1] > spacing  # nothing drawn across March

    image = decode(trend_chart(constant_report([6, 2, 6, 2, 6]), "who5_mean").png)
    assert [last - first <= 14 for first, last in plotted_runs(image, FIRST)] == [True, True, True]


def test_nothing_to_show_is_mostly_background_with_a_message(report):
    tiny = build_trend_report(rows_for({MONTHS[0]: 2, MONTHS[1]: 3}), min_group=5, metrics=DEFAULT_METRICS[:1])
    image = decode(trend_chart(tiny, "who5_mean").png)
    assert colour_count(image, WHITE) > 0.95 * image.width * image.height
    assert colour_count(image, FIRST, tolerance=40) == 0 and colour_count(image, BAND, tolerance=2) == 0
    middle = image.crop((image.width // 3, image.height // 3, 2 * image.width // 3, 2 * image.height // 3))
    assert colour_count(middle, WHITE) < middle.width * middle.height  # the message is in the middle


def test_values_at_the_ends_of_the_scale_stay_inside_the_plot():
    months = [date(2025, 1, 1), date(2025, 2, 1)]
    rows = rows_for({months[0]: 6}, value_for=lambda month, i: 0) + rows_for({months[1]: 6}, value_for=lambda month, i: 100)
    image = decode(trend_chart(build_trend_report(rows, min_group=5, metrics=DEFAULT_METRICS[:1]), "who5_mean").png)
    (line,) = plotted_runs(image, FIRST)
    _, top, _, bottom = colour_mask(image, FIRST).crop((line[0], 0, line[1] + 1, image.height)).getbbox()
    assert image.height * 0.08 < top and bottom < image.height * 0.88  # clear of the title and the month labels
    assert bottom - top > image.height * 0.5  # and 0 to 100 spans most of the plot


def test_a_single_month_is_one_marker_in_the_middle_of_the_plot():
    image = decode(trend_chart(constant_report([7]), "who5_mean").png)
    (marker,) = plotted_runs(image, FIRST)
    assert marker[1] - marker[0] <= 14
    assert image.width * 0.25 < centre(marker) < image.width * 0.6  # the plot's middle, left of the legend
    assert image.height * 0.2 < marker_centre_y(image, FIRST, marker) < image.height * 0.8


def test_a_constant_value_is_a_flat_line_in_the_middle_of_the_plot():
    image = decode(trend_chart(constant_report([6, 7, 8, 6]), "who5_mean").png)
    (line,) = plotted_runs(image, FIRST)
    _, top, _, bottom = colour_mask(image, FIRST).crop((line[0], 0, line[1] + 1, image.height)).getbbox()
    assert bottom - top <= 12  # no slope: just the markers' height
    assert image.height * 0.3 < (top + bottom) / 2 < image.height * 0.7


def test_a_long_or_accented_department_name_is_cut_short_inside_the_image():
    name = "Obst\u00e9trique, Gyn\u00e9cologie \u2013 and every Women\u2019s Health Service of the Hospital"
    rows = rows_for({MONTHS[0]: 6, MONTHS[2]: 6}, name) + rows_for({MONTHS[0]: 6, MONTHS[2]: 6}, "Surgery")
    long_names = build_trend_report(rows, min_group=5, metrics=DEFAULT_METRICS[:1])
    chart = trend_chart(long_names, "who5_mean", by="department")
    assert name in chart.series
    image = decode(chart.png)
    right_margin = image.crop((image.width - 8, 0, image.width, image.height))
    assert colour_count(right_margin, WHITE) == right_margin.width * right_margin.height


def test_tick_values_are_nice_steps_inside_the_range():
    for low, high in [(37.1, 85.2), (-6.2, 103.0), (47.5, 52.5), (0.0012, 0.0041), (-12.0, -3.0), (0.0, 1000.0)]:
        ticks, decimals = _nice_ticks(low, high, 7)
        assert 2 <= len(ticks) <= 7 and low <= ticks[0] and ticks[-1] <= high
        step = ticks[1] - ticks[0]
        mantissa = step / 10 ** math.floor(math.log10(step))
        assert any(mantissa == pytest.approx(nice) for nice in (1, 2, 2.5, 5)), (low, high, ticks)
        assert all(b - a == pytest.approx(step) for a, b in zip(ticks, ticks[1:]))
        labels = [f"{tick:.{decimals}f}" for tick in ticks]
        assert len(set(labels)) == len(labels)  # enough decimals to tell them apart


def test_month_labels_are_thinned_to_whole_quarters_when_months_are_close():
    months = [date(2024 + (3 + k) // 12, (3 + k) % 12 + 1, 1) for k in range(24)]  # April 2024 to March 2026
    assert _month_step(spacing=30, needed=80) == 3
    assert [months[i].month for i in _labelled_months(months, 3)] == [4, 7, 10, 1] * 2
    assert _labelled_months(months, 1) == list(range(24))
    assert _labelled_months(months[1:3], 12) == [0]  # always at least one label
