"""The roster CSV that admins import (and that previews of groups and pairs can read).

Header (order free, every column required)::

    slack_user_id,display_name,email,career_stage,specialty,department,site,
    timezone,near_peer_role,mentor_capacity,supervisor_ids,lead_willing

An optional ``availability`` column holds weekly windows in the person's time
zone, separated by ``;`` (``Tue 18:00-20:00;Sat 09:00-12:00``); people who join
in Slack give them in the join form instead.

Every row is validated; errors carry the file line number (the header is line 1).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.availability import parse_windows
from bot.domain.people import (
    MAX_MENTOR_CAPACITY,
    NEAR_PEER_ROLES,
    SLACK_USER_ID,
    CareerStage,
    Person,
)

COLUMNS = (
    "slack_user_id",
    "display_name",
    "email",
    "career_stage",
    "specialty",
    "department",
    "site",
    "timezone",
    "near_peer_role",
    "mentor_capacity",
    "supervisor_ids",
    "lead_willing",
)
OPTIONAL_COLUMNS = ("availability",)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_TEXT = 80


@dataclass(frozen=True)
class RosterError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class RosterRow:
    line: int
    person: Person
    email: str


@dataclass
class RosterResult:
    rows: list[RosterRow] = field(default_factory=list)
    errors: list[RosterError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def people(self) -> list[Person]:
        return [row.person for row in self.rows]


def read_roster(path: str | Path) -> RosterResult:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return RosterResult(errors=[RosterError(0, f"cannot read {path}: {exc.strerror or exc}")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return RosterResult(errors=[RosterError(0, "the file is not UTF-8 text (save it as 'CSV UTF-8')")])
    return parse_roster(text)


def parse_roster(text: str) -> RosterResult:
    result = RosterResult()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        result.errors.append(RosterError(1, "the file is empty; expected a header row"))
        return result
    header = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in header]
    unknown = [h for h in header if h and h not in COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown:
        parts = []
        if missing:
            parts.append("missing column(s) " + ", ".join(missing))
        if unknown:
            parts.append("unknown column(s) " + ", ".join(unknown))
        result.errors.append(RosterError(1, "; ".join(parts)))
        return result

    seen: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            result.errors.append(RosterError(line, f"expected {len(header)} fields, found {len(cells)}"))
            continue
        record = {name: value.strip() for name, value in zip(header, cells)}
        row, errors = _parse_row(line, record)
        result.errors.extend(errors)
        if row is None:
            continue
        user_id = row.person.user_id
        if user_id in seen:
            result.errors.append(RosterError(line, f"{user_id} already appears on line {seen[user_id]}"))
            continue
        seen[user_id] = line
        result.rows.append(row)

    for row in result.rows:
        for sup in sorted(row.person.supervisor_ids):
            if sup == row.person.user_id:
                result.errors.append(RosterError(row.line, "a person cannot supervise themselves"))
    result.errors.sort(key=lambda e: e.line)
    return result


def _parse_row(line: int, record: dict[str, str]) -> tuple[RosterRow | None, list[RosterError]]:
    errors: list[RosterError] = []

    def fail(message: str) -> None:
        errors.append(RosterError(line, message))

    user_id = record["slack_user_id"].upper()
    if not SLACK_USER_ID.match(user_id):
        fail(f"slack_user_id {record['slack_user_id']!r} is not a Slack user ID (like U012ABCDEF)")
    for column in ("display_name", "specialty", "department", "site"):
        if len(record[column]) > MAX_TEXT:
            fail(f"{column} is longer than {MAX_TEXT} characters")
    if not record["display_name"]:
        fail("display_name is empty")
    email = record["email"]
    if email and not _EMAIL.match(email):
        fail(f"email {email!r} is not an email address")
    stage = None
    try:
        stage = CareerStage.parse(record["career_stage"])
    except ValueError as exc:
        fail(f"career_stage: {exc}")
    tz = record["timezone"]
    if tz:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            fail(f"timezone {tz!r} is not an IANA time zone (like America/Chicago)")
    role = record["near_peer_role"].lower() or "none"
    if role not in NEAR_PEER_ROLES:
        fail(f"near_peer_role must be one of {'|'.join(NEAR_PEER_ROLES)}, got {record['near_peer_role']!r}")
    capacity = 1
    if record["mentor_capacity"]:
        try:
            capacity = int(record["mentor_capacity"])
        except ValueError:
            fail(f"mentor_capacity must be a whole number, got {record['mentor_capacity']!r}")
        else:
            if not 0 <= capacity <= MAX_MENTOR_CAPACITY:
                fail(f"mentor_capacity must be 0-{MAX_MENTOR_CAPACITY}, got {capacity}")
    supervisors = frozenset(s.strip().upper() for s in record["supervisor_ids"].split(";") if s.strip())
    for sup in sorted(supervisors):
        if not SLACK_USER_ID.match(sup):
            fail(f"supervisor_ids entry {sup!r} is not a Slack user ID")
    lead = record["lead_willing"].lower()
    if lead not in ("yes", "no", ""):
        fail(f"lead_willing must be yes or no, got {record['lead_willing']!r}")
    windows: tuple = ()
    try:
        windows = parse_windows(record.get("availability", ""))
    except ValueError as exc:
        fail(str(exc))
    if errors:
        return None, errors
    person = Person(
        user_id=user_id,
        career_stage=stage,
        display_name=record["display_name"],
        specialty=record["specialty"],
        department=record["department"],
        site=record["site"],
        timezone=tz,
        near_peer_role=role,  # type: ignore[arg-type]
        mentor_capacity=capacity,
        supervisor_ids=supervisors,
        lead_willing=lead == "yes",
        availability=windows,
    )
    return RosterRow(line=line, person=person, email=email), errors


def roster_csv(rows: list[tuple[Person, str]]) -> str:
    """Write people back out in the roster format (used by tests, demos and exports)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS + OPTIONAL_COLUMNS)
    for person, email in rows:
        writer.writerow(
            [
                person.user_id,
                person.display_name,
                email,
                str(person.career_stage) if person.career_stage else "",
                person.specialty,
                person.department,
                person.site,
                person.timezone,
                person.near_peer_role,
                person.mentor_capacity,
                ";".join(sorted(person.supervisor_ids)),
                "yes" if person.lead_willing else "no",
                ";".join(str(w) for w in person.availability),
            ]
        )
    return out.getvalue()
