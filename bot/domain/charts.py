"""The admin trend chart: a PNG drawn with Pillow from a suppressed report.

The chart only ever reads ``TrendReport.series`` (and, for the overall chart, the
95% interval of the same published cells), so it shows exactly the cells the
report publishes: a suppressed month is a gap in the line, never a point. A line
breaks at a gap; a month published between two gaps is still drawn as a marker.

Lines, markers and the interval band are drawn at four times the size on one-byte
coverage masks and downsampled a strip at a time, so they are anti-aliased while no
image larger than the chart itself is ever held. Nothing global is changed (fonts
are cached, and Pillow keeps the GIL while it renders text), so the function is
safe to call from a web worker thread. The same input always gives the same bytes:
the PNG carries no timestamp or other metadata.
"""

from __future__ import annotations

import io
import math
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Iterable, Sequence

from PIL import Image, ImageDraw, ImageFont

from bot.domain.trends import TrendReport

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Series = dict[str, list[tuple[date, float | None]]]

RGB = tuple[int, int, int]
Point = tuple[float, float]
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Chart:
    png: bytes
    metric: str
    series: Series  # what was plotted: label -> (month, estimate or None)


_WHITE: RGB = (255, 255, 255)
_TITLE: RGB = (34, 34, 34)
_TEXT: RGB = (68, 68, 68)
_MUTED: RGB = (105, 105, 105)
_GRID: RGB = (228, 228, 228)
_AXIS: RGB = (140, 140, 140)
# Okabe and Ito's colour-blind-safe palette, without its yellow (too faint on white).
_PALETTE: tuple[RGB, ...] = (
    (0, 114, 178),  # blue
    (230, 159, 0),  # orange
    (0, 158, 115),  # bluish green
    (204, 121, 167),  # reddish purple
    (86, 180, 233),  # sky blue
    (213, 94, 0),  # vermillion
    (0, 0, 0),
)
_BAND_COLOUR = _PALETTE[0]  # the overall line's colour
_BAND_OPACITY = 0.2
_SUPERSAMPLE = 4
_STRIP_ROWS = 32
_STRIP_OVERLAP = 6  # rows: more than the Lanczos filter reaches when downsampling
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_STEPS = (1, 2, 3, 4, 6, 12)  # label every n-th month; each divides a year, so labels fall on the same months
_NOTHING_TO_SHOW = "Not enough respondents to show"
_INTERVAL_LABEL = "95% interval"
_ELLIPSIS = "\u2026"
# Besides printable ASCII, the only characters Pillow's bundled font draws (after NFKD folding).
_FONT_EXTRAS = frozenset("\u00ab\u00b0\u00b1\u00b7\u00bb\u2018\u2019\u201c\u201d\u2039\u203a")
_DASHES = {ord(dash): "-" for dash in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"}


@dataclass(frozen=True)
class _Line:
    label: str
    values: list[float | None]  # one per month
    colour: RGB
    hollow: bool  # second time round the palette: open markers tell the lines apart


@dataclass(frozen=True)
class _Frame:
    """The plot area in image pixels and the value range it spans."""

    left: float
    top: float
    right: float
    bottom: float
    months: int
    low: float = 0.0
    high: float = 1.0
    inset: float = 0.0  # space between the plot's edges and the first and last month

    def x(self, index: int) -> float:
        if self.months < 2:
            return (self.left + self.right) / 2
        return self.left + self.inset + index * self.spacing

    @property
    def spacing(self) -> float:
        return (self.right - self.left - 2 * self.inset) / max(self.months - 1, 1)

    def y(self, value: float) -> float:
        return self.bottom - (value - self.low) / (self.high - self.low) * (self.bottom - self.top)

    def box(self, margin: float) -> Box:
        return (math.floor(self.left - margin), math.floor(self.top - margin),
                math.ceil(self.right + margin), math.ceil(self.bottom + margin))


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
    months = _months(report, series)
    lines = _lines(series)
    band = _interval(report, metric_id, months) if by is None and lines else []
    footnote = f"Groups of fewer than {report.min_group} respondents, and cells that would reveal them, are not shown."
    drawing = _Drawing(width_px, height_px)
    drawing.render(metric.label, months, lines, band, footnote)
    return Chart(png=drawing.png(), metric=metric_id, series=series)


def _months(report: TrendReport, series: Series) -> list[date]:
    for points in series.values():
        return [month for month, _ in points]
    return list(report.months)


def _lines(series: Series) -> list[_Line]:
    shown = [(label, [value for _, value in points]) for label, points in series.items()
             if any(value is not None for _, value in points)]
    return [
        _Line(label, values, _PALETTE[i % len(_PALETTE)], (i // len(_PALETTE)) % 2 == 1)
        for i, (label, values) in enumerate(shown)
    ]


def _interval(report: TrendReport, metric_id: str, months: Sequence[date]) -> list[tuple[float, float] | None]:
    bounds: list[tuple[float, float] | None] = []
    for month in months:
        cell = report.cell(metric_id, month)
        published = cell is not None and not cell.suppressed and cell.ci_low is not None and cell.ci_high is not None
        bounds.append((cell.ci_low, cell.ci_high) if published else None)
    return bounds


def _value_range(lines: Sequence[_Line], band: Sequence[tuple[float, float] | None]) -> tuple[float, float]:
    values = [value for line in lines for value in line.values if value is not None]
    values += [bound for bounds in band if bounds is not None for bound in bounds]
    low, high = min(values), max(values)
    if high - low < 1e-9:
        half = max(abs(low) * 0.05, 1.0)
        return low - half, high + half
    margin = (high - low) * 0.06  # keeps markers at the extremes off the plot's edges
    return low - margin, high + margin


def _nice_ticks(low: float, high: float, max_ticks: int) -> tuple[list[float], int]:
    """Multiples of the finest 1, 2, 2.5 or 5 x 10^n step that puts at most max_ticks in [low, high], and their decimals."""
    exponent = math.floor(math.log10((high - low) / max_ticks)) - 1
    while True:
        for mantissa in (1.0, 2.0, 2.5, 5.0):
            step = mantissa * 10.0**exponent
            first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
            if last - first + 1 <= max_ticks:
                ticks = [round(i * step, 12) for i in range(first, last + 1)]
                return ticks, max(0, -exponent + (1 if mantissa == 2.5 else 0))
        exponent += 1


def _tick_label(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _month_label(month: date) -> str:
    return f"{_MONTH_NAMES[month.month - 1]} {month.year}"  # not strftime: that follows the locale


def _month_step(spacing: float, needed: float) -> int:
    for step in _MONTH_STEPS:
        if step * spacing >= needed:
            return step
    return 12 * math.ceil(needed / (12 * spacing))


def _labelled_months(months: Sequence[date], step: int) -> list[int]:
    if step == 1:
        return list(range(len(months)))
    chosen = [i for i, month in enumerate(months) if (month.year * 12 + month.month - 1) % step == 0]
    return chosen or [0]


def _runs(present: Sequence[bool]) -> list[list[int]]:
    """Indices of consecutive True values, one list per unbroken run."""
    runs: list[list[int]] = []
    for index, here in enumerate(present):
        if not here:
            continue
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def _printable(text: str) -> str:
    """Fold text to the characters the bundled font has: accents dropped, dashes to hyphens, others to '?'."""
    folded = unicodedata.normalize("NFKD", text).translate(_DASHES)
    kept = (char for char in folded if not unicodedata.combining(char))
    return "".join(char if " " <= char <= "~" or char in _FONT_EXTRAS else "?" for char in kept)


def _fit(text: str, font: ImageFont.FreeTypeFont, width: float) -> str:
    """``text``, cut short with an ellipsis if it is wider than ``width``."""
    if font.getlength(text) <= width:
        return text
    keep = len(text)
    while keep > 0 and font.getlength(text[:keep].rstrip() + _ELLIPSIS) > width:
        keep -= 1
    return text[:keep].rstrip() + _ELLIPSIS if keep else ""


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)  # Aileron, bundled with Pillow: the same glyphs on every machine


class _Layer:
    """Shapes in one colour, rasterised at ``_SUPERSAMPLE`` times the size on a mask and pasted over ``box``.

    Downsampling the mask with a Lanczos filter anti-aliases lines and discs. It is
    done a strip of rows at a time (each strip with a few rows of overlap, so the
    filter sees what is beyond its edges), which keeps the memory a chart needs
    close to that of the chart itself.
    """

    def __init__(self, box: Box):
        self.box = box
        self._shapes: list[tuple[str, tuple[Point, ...], float]] = []

    def polyline(self, points: Sequence[Point], width: float) -> None:
        # One quadrilateral per segment and a disc at each point: Pillow's own wide lines
        # come out up to 15% thinner at some angles.
        half = width / 2
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            length = math.hypot(x1 - x0, y1 - y0)
            if length:
                dx, dy = (y0 - y1) / length * half, (x1 - x0) / length * half
                self.polygon([(x0 + dx, y0 + dy), (x1 + dx, y1 + dy), (x1 - dx, y1 - dy), (x0 - dx, y0 - dy)])
        self.discs(points, half)

    def discs(self, centres: Iterable[Point], radius: float) -> None:
        self._shapes.extend(("disc", (centre,), radius) for centre in centres)

    def polygon(self, points: Sequence[Point]) -> None:
        self._shapes.append(("polygon", tuple(points), 0.0))

    def paste(self, canvas: Image.Image, colour: RGB, opacity: float = 1.0) -> None:
        left, top, right, bottom = self.box
        for strip_top in range(top, bottom, _STRIP_ROWS):
            strip_bottom = min(strip_top + _STRIP_ROWS, bottom)
            mask = self._coverage(left, strip_top - _STRIP_OVERLAP, right, strip_bottom + _STRIP_OVERLAP)
            if mask is None:
                continue
            mask = mask.crop((0, _STRIP_OVERLAP, right - left, _STRIP_OVERLAP + strip_bottom - strip_top))
            if opacity < 1:
                mask = mask.point(lambda coverage: round(coverage * opacity))
            canvas.paste(colour, (left, strip_top, right, strip_bottom), mask)

    def _coverage(self, left: int, top: int, right: int, bottom: int) -> Image.Image | None:
        """The shapes' coverage of one strip, or None if none reaches it."""
        shapes = [shape for shape in self._shapes if _reaches(shape, top, bottom)]
        if not shapes:
            return None
        mask = Image.new("L", ((right - left) * _SUPERSAMPLE, (bottom - top) * _SUPERSAMPLE), 0)
        pen = ImageDraw.Draw(mask)
        for kind, points, size in shapes:
            # Pillow truncates coordinates towards zero; rounding them first keeps a shape's pixels
            # the same in every strip, including those it reaches at negative coordinates.
            scaled = [(_snap((x - left) * _SUPERSAMPLE), _snap((y - top) * _SUPERSAMPLE)) for x, y in points]
            if kind == "disc":
                (x, y), r = scaled[0], _snap(size * _SUPERSAMPLE)
                pen.ellipse((x - r, y - r, x + r, y + r), fill=255)
            else:
                pen.polygon(scaled, fill=255)
        return mask.resize((right - left, bottom - top), Image.Resampling.LANCZOS)


def _snap(value: float) -> int:
    return math.floor(value + 0.5)


def _reaches(shape: tuple[str, tuple[Point, ...], float], top: float, bottom: float) -> bool:
    _, points, size = shape
    ys = [y for _, y in points]
    return min(ys) - size - 1 < bottom and max(ys) + size + 1 > top


class _Drawing:
    """One chart being drawn. Sizes are given for a 1000 x 500 image and scaled to the real one."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.unit = min(width / 1000, height / 500)
        self.canvas = Image.new("RGB", (width, height), _WHITE)
        self.pen = ImageDraw.Draw(self.canvas)
        self.title_font = self.font(24)
        self.label_font = self.font(16)
        self.pad = self.px(16)
        self.line_width = self.px(2.5)
        self.radius = self.px(4.5)

    def px(self, size: float) -> float:
        return size * self.unit

    def font(self, size: float) -> ImageFont.FreeTypeFont:
        return _font(max(8, round(self.px(size))))

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.canvas.save(buffer, format="PNG")  # Pillow writes no text, time or physical-size chunks unless asked
        return buffer.getvalue()

    # -- layout

    def render(self, title: str, months: list[date], lines: list[_Line],
               band: list[tuple[float, float] | None], footnote: str) -> None:
        frame = self._vertical_frame(len(months))
        if lines:
            low, high = _value_range(lines, band)
            ticks, decimals = _nice_ticks(low, high, self._max_ticks(frame))
            tick_labels = [(tick, _tick_label(tick, decimals)) for tick in ticks]
            legend = self._legend_entries(lines, band)
        else:
            low, high, tick_labels, legend = 0.0, 1.0, [], []
        frame = self._horizontal_frame(frame, tick_labels, legend, low, high)

        self._draw_grid(frame, tick_labels)
        self._draw_band(frame, band)
        for line in lines:
            self._draw_line(frame, line)
        self._draw_months(frame, months)
        if legend:
            self._draw_legend(frame, legend)
        else:
            message_font = self.font(20)
            centre = ((frame.left + frame.right) / 2, (frame.top + frame.bottom) / 2)
            self.pen.text(centre, _NOTHING_TO_SHOW, font=message_font, fill=_MUTED, anchor="mm")
        self._draw_title(frame, _printable(title))
        self._draw_footnote(footnote)

    def _text_height(self, font: ImageFont.FreeTypeFont) -> int:
        ascent, descent = font.getmetrics()
        return ascent + descent

    def _vertical_frame(self, months: int) -> _Frame:
        top = self.px(14) + self._text_height(self.title_font) + self.px(16)
        footnote_top = self.height - self.px(8) - self._text_height(self.font(13))
        bottom = footnote_top - self.px(14) - self._text_height(self.label_font) - self.px(11)
        return _Frame(left=0, top=top, right=self.width, bottom=bottom, months=months)

    def _max_ticks(self, frame: _Frame) -> int:
        return max(2, int((frame.bottom - frame.top) / (self._text_height(self.label_font) * 2.4)))

    def _horizontal_frame(self, frame: _Frame, tick_labels: list[tuple[float, str]],
                          legend: list[tuple[str, _Line | None]], low: float, high: float) -> _Frame:
        label_width = max((self.label_font.getlength(text) for _, text in tick_labels), default=0)
        left = self.pad + label_width + self.px(10)
        left = max(left, self.pad + self.px(40))  # room for the first month's label when there are no values
        right = self.width - self.pad - (self._legend_width(legend) + self.px(28) if legend else self.px(24))
        inset = max(3 * self.radius, 0.03 * (right - left))
        return _Frame(left, frame.top, right, frame.bottom, frame.months, low, high, inset)

    # -- the plot

    def _draw_grid(self, frame: _Frame, tick_labels: list[tuple[float, str]]) -> None:
        for value, text in tick_labels:
            y = round(frame.y(value))
            self.pen.line(((frame.left, y), (frame.right, y)), fill=_GRID, width=max(1, round(self.px(1))))
            self.pen.text((frame.left - self.px(10), y), text, font=self.label_font, fill=_TEXT, anchor="rm")
        axis = round(frame.bottom)
        self.pen.line(((frame.left, axis), (frame.right, axis)), fill=_AXIS, width=max(1, round(self.px(1))))

    def _draw_band(self, frame: _Frame, band: list[tuple[float, float] | None]) -> None:
        runs = _runs([bounds is not None for bounds in band])
        if not runs:
            return
        layer = _Layer(frame.box(self.radius))
        for run in runs:
            if len(run) == 1:  # a lone month: a bar as wide as its marker
                (index,) = run
                low, high = band[index]
                x, half = frame.x(index), self.radius * 1.4
                layer.polygon([(x - half, frame.y(high)), (x + half, frame.y(high)),
                               (x + half, frame.y(low)), (x - half, frame.y(low))])
                continue
            upper = [(frame.x(i), frame.y(band[i][1])) for i in run]
            lower = [(frame.x(i), frame.y(band[i][0])) for i in reversed(run)]
            layer.polygon(upper + lower)
        layer.paste(self.canvas, _BAND_COLOUR, _BAND_OPACITY)

    def _draw_line(self, frame: _Frame, line: _Line) -> None:
        points = [None if value is None else (frame.x(i), frame.y(value)) for i, value in enumerate(line.values)]
        centres = [point for point in points if point is not None]
        box = frame.box(self.radius * 2)
        halo = _Layer(box)  # a white rim keeps markers readable where lines cross
        halo.discs(centres, self.radius + self.px(2))
        halo.paste(self.canvas, _WHITE)
        stroke = _Layer(box)
        for run in _runs([point is not None for point in points]):
            if len(run) > 1:
                stroke.polyline([points[i] for i in run], self.line_width)
        stroke.paste(self.canvas, line.colour)
        self._draw_markers(box, centres, line)

    def _draw_markers(self, box: Box, centres: list[Point], line: _Line) -> None:
        dots = _Layer(box)
        dots.discs(centres, self.radius)
        dots.paste(self.canvas, line.colour)
        if line.hollow:
            holes = _Layer(box)
            holes.discs(centres, self.radius - self.px(2))
            holes.paste(self.canvas, _WHITE)

    def _draw_months(self, frame: _Frame, months: list[date]) -> None:
        if not months:
            return
        labels = [_month_label(month) for month in months]
        needed = max(self.label_font.getlength(label) for label in labels) + self.px(14)
        labelled = set(_labelled_months(months, _month_step(frame.spacing, needed)))
        tick_top, width = round(frame.bottom), max(1, round(self.px(1)))
        for index, label in enumerate(labels):
            x = round(frame.x(index))
            length = self.px(6) if index in labelled else self.px(3)
            self.pen.line(((x, tick_top), (x, tick_top + length)), fill=_AXIS, width=width)
            if index in labelled:
                half = self.label_font.getlength(label) / 2
                x = min(max(x, half + 2), self.width - half - 2)  # never cut off at the image's edge
                self.pen.text((x, tick_top + self.px(11)), label, font=self.label_font, fill=_TEXT, anchor="ma")

    # -- legend, title and footnote

    def _legend_entries(self, lines: list[_Line], band: list[tuple[float, float] | None]) -> list[tuple[str, _Line | None]]:
        entries: list[tuple[str, _Line | None]] = [(_printable(line.label), line) for line in lines]
        if any(bounds is not None for bounds in band):
            entries.append((_INTERVAL_LABEL, None))
        return entries

    def _swatch_width(self) -> float:
        return self.px(30)

    def _legend_width(self, legend: list[tuple[str, _Line | None]]) -> float:
        widest = max(self.label_font.getlength(label) for label, _ in legend)
        return min(self._swatch_width() + self.px(8) + widest, self.width * 0.27)

    def _draw_legend(self, frame: _Frame, legend: list[tuple[str, _Line | None]]) -> None:
        row = self.px(28)
        rows = max(1, int((frame.bottom - frame.top) / row))
        shown = legend if len(legend) <= rows else legend[: rows - 1]
        left = frame.right + self.px(28)
        text_left = left + self._swatch_width() + self.px(8)
        text_width = self.width - self.pad - text_left
        for number, (label, line) in enumerate(shown):
            y = frame.top + row * (number + 0.5)
            self._draw_swatch(left, y, line)
            self.pen.text((text_left, y), _fit(label, self.label_font, text_width), font=self.label_font,
                          fill=_TEXT, anchor="lm")
        if len(shown) < len(legend):
            y = frame.top + row * (len(shown) + 0.5)
            self.pen.text((text_left, y), f"and {len(legend) - len(shown)} more", font=self.label_font,
                          fill=_MUTED, anchor="lm")

    def _draw_swatch(self, left: float, y: float, line: _Line | None) -> None:
        right = left + self._swatch_width()
        box = (math.floor(left - 2), math.floor(y - self.px(10)), math.ceil(right + 2), math.ceil(y + self.px(10)))
        layer = _Layer(box)
        if line is None:  # the interval band
            half = self.px(7)
            layer.polygon([(left, y - half), (right, y - half), (right, y + half), (left, y + half)])
            layer.paste(self.canvas, _BAND_COLOUR, _BAND_OPACITY)
            return
        layer.polyline([(left, y), (right, y)], self.line_width)
        layer.paste(self.canvas, line.colour)
        self._draw_markers(box, [((left + right) / 2, y)], line)

    def _draw_title(self, frame: _Frame, title: str) -> None:
        text = _fit(title, self.title_font, self.width - 2 * self.pad)
        half = self.title_font.getlength(text) / 2
        x = min(max((frame.left + frame.right) / 2, self.pad + half), self.width - self.pad - half)
        self.pen.text((x, self.px(14)), text, font=self.title_font, fill=_TITLE, anchor="ma",
                      stroke_width=self.px(0.35), stroke_fill=_TITLE)  # a touch of weight: the font has no bold

    def _draw_footnote(self, footnote: str) -> None:
        available = self.width - 2 * self.pad
        size = 13.0
        while self.font(size).getlength(footnote) > available and round(self.px(size)) > 8:
            size -= 0.5
        font = self.font(size)
        self.pen.text((self.pad, self.height - self.px(8)), _fit(footnote, font, available), font=font,
                      fill=_MUTED, anchor="ld")
