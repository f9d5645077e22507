"""Crisis resources by country: who to call, how, and when each line is answered.

A member states their country in the join form; a deployment sets the default
(``COMPASS_COUNTRY``). Every resource carries its hours, because a line that is
closed at 3am must say so. The table can be changed per deployment: a deployment's
own lines (``COMPASS_CRISIS_RESOURCES``) and emergency number
(``COMPASS_EMERGENCY_NUMBER``) replace the table's for the deployment's country.

Sources: 988 Suicide & Crisis Lifeline (US) and 988 Suicide Crisis Helpline (Canada),
call or text, 24/7; Physician Support Line, volunteer psychiatrists for US physicians
and medical students, 8am-1am ET, 7 days a week (its FAQ); Samaritans, 116 123, 24/7
in the UK and Ireland; Lifeline Australia, 13 11 14, 24/7; New Zealand's 1737, call or
text, 24/7.

This module is pure: it imports neither Slack nor the database.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Sequence


@dataclass(frozen=True)
class Resource:
    name: str
    how: str  # "call or text *988*"
    hours: str  # "24 hours a day, 7 days a week"
    note: str = ""  # who it is for, what it costs

    def line(self) -> str:
        """One mrkdwn line: name, how to reach it, its hours and (if any) who it is for."""
        text = f"{self.name}: {self.how}, {self.hours}"
        return f"{text} ({self.note})." if self.note else f"{text}."


@dataclass(frozen=True)
class CountryResources:
    code: str  # ISO 3166-1 alpha-2, "" when the country is not in the table
    name: str
    emergency_number: str | None
    resources: tuple[Resource, ...]
    custom_lines: tuple[str, ...] = ()  # a deployment's own lines, used instead of ``resources``

    def lines(self) -> list[str]:
        """The lines a person reads, the non-urgent step (own doctor, EAP) last."""
        shown = list(self.custom_lines) if self.custom_lines else [r.line() for r in self.resources]
        return shown + [NON_URGENT]


ALL_DAY = "24 hours a day, 7 days a week"
NON_URGENT = (
    "For support that isn't urgent: your own doctor, or your employer's employee assistance program (EAP), "
    "which is confidential."
)

TABLE: dict[str, CountryResources] = {
    "US": CountryResources(
        "US",
        "United States",
        "911",
        (
            Resource("988 Suicide & Crisis Lifeline", "call or text *988*", ALL_DAY),
            Resource(
                "Physician Support Line",
                "call *1-888-409-0141*",
                "8am to 1am Eastern time, 7 days a week",
                "free and confidential, volunteer psychiatrists, for US physicians and medical students",
            ),
        ),
    ),
    "CA": CountryResources(
        "CA", "Canada", "911", (Resource("988 Suicide Crisis Helpline", "call or text *988*", ALL_DAY),)
    ),
    "GB": CountryResources(
        "GB", "United Kingdom", "999", (Resource("Samaritans", "call *116 123*", ALL_DAY, "free"),)
    ),
    "IE": CountryResources(
        "IE", "Ireland", "112 or 999", (Resource("Samaritans", "call *116 123*", ALL_DAY, "free"),)
    ),
    "AU": CountryResources("AU", "Australia", "000", (Resource("Lifeline", "call *13 11 14*", ALL_DAY),)),
    "NZ": CountryResources(
        "NZ", "New Zealand", "111", (Resource("Need to talk?", "call or text *1737*", ALL_DAY, "free"),)
    ),
}

OTHER = CountryResources("", "another country", None, ())
COUNTRY_CODES: tuple[str, ...] = tuple(TABLE)


def _upper(code: str | None) -> str:
    text = (code or "").strip().upper()
    return "GB" if text == "UK" else text


def normalise_country(code: str | None) -> str:
    """``"gb"``, ``" UK "`` -> ``"GB"``; anything not in the table -> ``""``."""
    text = _upper(code)
    return text if text in TABLE else ""


def resources_for(
    country: str | None,
    *,
    deployment_country: str = "US",
    deployment_lines: Sequence[str] = (),
    deployment_emergency_number: str | None = None,
) -> CountryResources:
    """The resources for a member's stated ``country``, or the deployment's when they stated none.

    A country outside the table gets no line from another country (no 988 for a member in
    Germany): only the local emergency number, said in words, and the non-urgent step.
    """
    stated = _upper(country)
    code = stated or _upper(deployment_country)
    chosen = TABLE.get(code, OTHER)
    if code == _upper(deployment_country):  # the deployment's own lines and number win for its country
        if deployment_lines:
            chosen = replace(chosen, custom_lines=tuple(line for line in deployment_lines if line.strip()))
        if deployment_emergency_number:
            chosen = replace(chosen, emergency_number=deployment_emergency_number)
    return chosen


OTHER_CODE = "OTHER"  # a country the table does not cover: only the local emergency number and the non-urgent step


def _zone_table_text() -> str:
    """IANA's zone.tab (zone -> country), from the tzdata package or the system's zoneinfo."""
    try:
        from importlib.resources import files

        return files("tzdata").joinpath("zoneinfo/zone.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        pass
    try:
        with open("/usr/share/zoneinfo/zone.tab", encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return ""


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    countries = {}
    for line in _zone_table_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) >= 3:
            countries[parts[2].strip()] = parts[0].strip().upper()
    return countries


def country_of_timezone(tz: str | None) -> str | None:
    """The country a Slack profile's time zone places someone in, so joining need not ask it:
    a code of the table, :data:`OTHER_CODE` for a zone elsewhere, or None when the zone says nothing
    (UTC, an unknown name, no zone table): the deployment's country then applies."""
    country = _zone_countries().get((tz or "").strip())
    if country is None:
        return None
    return country if country in TABLE else OTHER_CODE
