"""The CSV of past near-peer pairs, for previewing a round from files.

Header (order free, every column required)::

    mentee_id,mentor_id,round

``round`` is a whole number from 1. A mentee has at most one mentor in a round.
Every row is validated; errors carry the file line number (the header is line 1).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from bot.domain.matching import PastPair
from bot.domain.people import SLACK_USER_ID

HISTORY_COLUMNS = ("mentee_id", "mentor_id", "round")


@dataclass(frozen=True)
class HistoryError:
    line: int  # 0 when the whole file is at fault
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass
class PairHistoryResult:
    pairs: list[PastPair] = field(default_factory=list)
    errors: list[HistoryError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def last_round(self) -> int:
        return max((p.round for p in self.pairs), default=0)


def read_pair_history(path: str | Path) -> PairHistoryResult:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return PairHistoryResult(errors=[HistoryError(0, f"cannot read {path}: {exc.strerror or exc}")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return PairHistoryResult(errors=[HistoryError(0, "the file is not UTF-8 text (save it as 'CSV UTF-8')")])
    return parse_pair_history(text)


def parse_pair_history(text: str) -> PairHistoryResult:
    result = PairHistoryResult()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        result.errors.append(HistoryError(1, "the file is empty; expected the header mentee_id,mentor_id,round"))
        return result
    missing = [c for c in HISTORY_COLUMNS if c not in header]
    unknown = [h for h in header if h and h not in HISTORY_COLUMNS]
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if missing or unknown or repeated:
        parts = []
        if missing:
            parts.append("missing column(s) " + ", ".join(missing))
        if unknown:
            parts.append("unknown column(s) " + ", ".join(unknown))
        if repeated:
            parts.append("repeated column(s) " + ", ".join(repeated))
        result.errors.append(HistoryError(1, "; ".join(parts)))
        return result

    seen_rows: dict[PastPair, int] = {}
    mentor_in_round: dict[tuple[str, int], tuple[str, int]] = {}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            result.errors.append(HistoryError(line, f"expected {len(header)} fields, found {len(cells)}"))
            continue
        record = {name: value.strip() for name, value in zip(header, cells)}
        pair, errors = _parse_row(line, record)
        result.errors.extend(errors)
        if pair is None:
            continue
        if pair in seen_rows:
            result.errors.append(HistoryError(line, f"repeats line {seen_rows[pair]}"))
            continue
        seen_rows[pair] = line
        earlier = mentor_in_round.get((pair.mentee_id, pair.round))
        if earlier is not None:
            mentor, earlier_line = earlier
            result.errors.append(
                HistoryError(
                    line,
                    f"{pair.mentee_id} already has mentor {mentor} in round {pair.round} (line {earlier_line}); "
                    "a mentee has one mentor a round",
                )
            )
            continue
        mentor_in_round[(pair.mentee_id, pair.round)] = (pair.mentor_id, line)
        result.pairs.append(pair)
    return result


def _parse_row(line: int, record: dict[str, str]) -> tuple[PastPair | None, list[HistoryError]]:
    errors = []
    ids = {}
    for column in ("mentee_id", "mentor_id"):
        value = record[column].upper()
        if not SLACK_USER_ID.match(value):
            errors.append(HistoryError(line, f"{column} {record[column]!r} is not a Slack user ID (like U012ABCDEF)"))
        ids[column] = value
    round_number = 0
    try:
        round_number = int(record["round"])
    except ValueError:
        errors.append(HistoryError(line, f"round must be a whole number, got {record['round']!r}"))
    else:
        if round_number < 1:
            errors.append(HistoryError(line, f"round must be 1 or more, got {round_number}"))
    if not errors and ids["mentee_id"] == ids["mentor_id"]:
        errors.append(HistoryError(line, f"{ids['mentee_id']} is both mentee and mentor"))
    if errors:
        return None, errors
    return PastPair(ids["mentee_id"], ids["mentor_id"], round_number), []


def pair_history_csv(pairs: Iterable[PastPair]) -> str:
    """Write pairs in the history format (used by tests, benchmarks and exports)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for pair in pairs:
        writer.writerow([pair.mentee_id, pair.mentor_id, pair.round])
    return out.getvalue()
