"""What the program costs a physician's attention, measured from the demo's record of Web API calls.

A *DM* is a message the bot put in one person's direct-message conversation (``chat.postMessage``
or a file shared there); edits (``chat.update``), App Home and ephemeral replies are not DMs: they
make no notification. A DM *needs a tap* when it carries something to press or choose (a button
that is not only a link, a select, a date picker...). A DM is *in quiet hours* when it arrives
between 21:00 and 07:00 in the recipient's own time zone (the ``tz`` of their Slack profile, kept
in the record beside each DM).

The figures are per physician who joined the program, per week of the run: the median, 90th
percentile and maximum of each person's DMs a week, the same for DMs needing a tap, and the
busiest single week any one person had.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

QUIET_START = time(21, 0)
QUIET_END = time(7, 0)
DM_METHODS = ("chat.postMessage", "files.completeUploadExternal")
TAP_ELEMENTS = {"button", "static_select", "external_select", "users_select", "conversations_select",
                "channels_select", "multi_static_select", "datepicker", "timepicker", "datetimepicker",
                "radio_buttons", "checkboxes", "overflow"}


@dataclass(frozen=True)
class Spread:
    median: float
    p90: float
    max: float

    def text(self) -> str:
        return f"median {self.median:.1f}, p90 {self.p90:.1f}, max {self.max:.1f}"


@dataclass(frozen=True)
class Burden:
    physicians: int
    weeks: int
    dms: Spread  # DMs per physician per week
    taps: Spread  # DMs needing a tap per physician per week
    busiest_week: int  # the most DMs one person had in one week
    busiest_week_taps: int
    quiet_hours: int  # DMs between 21:00 and 07:00 in the recipient's time zone
    total_dms: int

    def lines(self) -> list[str]:
        return [
            f"Burden per physician per week ({self.physicians} members, {self.weeks} weeks): DMs {self.dms.text()}; "
            f"needing a tap {self.taps.text()}.",
            f"Busiest week: {self.busiest_week} DMs ({self.busiest_week_taps} needing a tap); "
            f"DMs in quiet hours (21:00–07:00 the reader's time): {self.quiet_hours} of {self.total_dms}.",
        ]


def is_dm_line(line: Mapping[str, Any]) -> bool:
    return bool(line.get("to")) and line.get("method") in DM_METHODS and line.get("ok", True)


def needs_tap(args: Mapping[str, Any]) -> bool:
    blocks = args.get("blocks")
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return False
    return any(_interactive(element) for element in _elements(blocks or []))


def _elements(node: Any) -> Iterable[dict]:
    if isinstance(node, dict):
        if "type" in node:
            yield node
        for value in node.values():
            yield from _elements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _elements(value)


def _interactive(element: dict) -> bool:
    kind = element.get("type")
    if kind == "button":
        return "url" not in element  # a link button opens a page; it asks nothing of the bot
    return kind in TAP_ELEMENTS


def in_quiet_hours(at: datetime, tz: str) -> bool:
    local = at.astimezone(ZoneInfo(tz)).time()
    return local >= QUIET_START or local < QUIET_END


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-int(round(share * 1000)) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


def spread(values: list[float]) -> Spread:
    return Spread(median=percentile(values, 0.5), p90=percentile(values, 0.9), max=max(values, default=0.0))


def measure(lines: Iterable[Mapping[str, Any]], *, physicians: Iterable[str], start: datetime, weeks: int) -> Burden:
    """The burden on ``physicians`` over ``weeks`` weeks from ``start``, from the record's lines."""
    people = sorted(set(physicians))
    per_week: Counter = Counter()
    taps_per_week: Counter = Counter()
    totals: Counter = Counter()
    tap_totals: Counter = Counter()
    quiet = total = 0
    chosen = set(people)
    for line in lines:
        if not is_dm_line(line) or line["to"] not in chosen:
            continue
        at = datetime.fromisoformat(line["at"])
        week = int((at - start) / timedelta(weeks=1))
        if not 0 <= week < weeks:
            continue
        tap = needs_tap(line.get("args") or {})
        total += 1
        totals[line["to"]] += 1
        per_week[line["to"], week] += 1
        if tap:
            tap_totals[line["to"]] += 1
            taps_per_week[line["to"], week] += 1
        if in_quiet_hours(at, line.get("tz") or "UTC"):
            quiet += 1
    return Burden(
        physicians=len(people), weeks=weeks,
        dms=spread([totals[p] / weeks for p in people]),
        taps=spread([tap_totals[p] / weeks for p in people]),
        busiest_week=max(per_week.values(), default=0),
        busiest_week_taps=max(taps_per_week.values(), default=0),
        quiet_hours=quiet, total_dms=total,
    )


def read_record(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
