"""The join form (a modal): building it from a member's profile and reading it back.

Joining asks at most five things (:data:`JOIN_FIELDS`): consent, career stage (years in practice
are part of an attending's choice), specialty, when one could meet (a few common windows) and
what else one would like to do (lead a group, be mentored, mentor). The name and time zone come
from the Slack profile (``users.info``), the country from the deployment's setting; all of them,
and department, site and mentoring capacity, are in the same form opened again from App Home
("Edit my profile"), where it is titled "Your Compass profile" and saves instead of joining.

A block the submitted form did not have keeps what is stored (an invited person's roster
details, a custom availability an admin imported): only what the person was shown is replaced.
"""

from __future__ import annotations

import json
import tomllib
from functools import lru_cache
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.models.blocks import (
    CheckboxesElement,
    InputBlock,
    Option,
    OptionGroup,
    PlainTextInputElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.availability import parse_windows
from bot.domain.crisis import COUNTRY_CODES, TABLE, normalise_country
from bot.domain.people import MAX_ATTENDING_YEARS, MAX_MENTOR_CAPACITY, MAX_PGY, CareerStage
from bot.slack.render import check_blocks, render, section_blocks
from storage.members import Profile
from storage.models import Member

CALLBACK_ID = "join_submit"
ACTION = "value"
TEXT_MAX = 80
NAME_MAX = 80
OTHER_COUNTRY = "OTHER"
JOIN_FIELDS = ("consent", "career_stage", "specialty", "availability", "taking_part")
EDIT_FIELDS = ("name", "career_stage", "specialty", "department", "site", "timezone", "country", "availability",
               "taking_part", "capacity")
TAKING_PART = ("lead", "mentee", "mentor")


@lru_cache(maxsize=1)
def form_text() -> dict[str, Any]:
    return tomllib.loads(files("bot").joinpath("prompts/join_form.toml").read_text(encoding="utf-8"))


def _options(pairs: list[tuple[str, str]]) -> list[Option]:
    return [Option(value=value, text=label) for value, label in pairs]


def availability_choices() -> list[tuple[str, str, tuple[str, ...]]]:
    """(option value, label, the weekly windows it stands for) of each common window."""
    return [(c["name"], c["label"], tuple(str(w) for w in parse_windows(";".join(c["windows"]))))
            for c in form_text()["availability"]["choices"]]


def chosen_windows(availability: str) -> list[str]:
    """The common windows a stored availability covers whole (what the form shows ticked)."""
    try:
        stored = {str(w) for w in parse_windows(availability)}
    except ValueError:
        return []
    return [name for name, _, windows in availability_choices() if stored.issuperset(windows)]


def _stage_value(stage: CareerStage) -> str:
    return str(stage)


def _attending_label(years: int) -> str:
    text = form_text()["career_stage"]
    if years == 0:
        return text["attending_new"]
    return text["attending_year"] if years == 1 else text["attending_years"].format(years=years)


def _stage_groups() -> list[OptionGroup]:
    text = form_text()["career_stage"]
    trainees = _options([(f"PGY-{n}", f"PGY-{n}") for n in range(1, MAX_PGY + 1)])
    attendings = _options([(f"ATTENDING-{n}", _attending_label(n)) for n in range(0, MAX_ATTENDING_YEARS + 1)])
    return [OptionGroup(label=text["trainees"], options=trainees), OptionGroup(label=text["attendings"], options=attendings)]


def _country_options() -> list[Option]:
    return _options([(code, TABLE[code].name) for code in COUNTRY_CODES] + [(OTHER_COUNTRY, form_text()["country"]["other"])])


# A picker rather than a typed name: the zones most members are in, by region (a static select takes at most 100
# options a group); a zone outside the list, from the Slack profile or a roster, is offered first as it is.
COMMON_TIMEZONES = (
    ("United States and Canada", (
        ("America/New_York", "Eastern (New York, Toronto)"), ("America/Chicago", "Central (Chicago, Winnipeg)"),
        ("America/Denver", "Mountain (Denver, Edmonton)"), ("America/Phoenix", "Arizona (Phoenix)"),
        ("America/Los_Angeles", "Pacific (Los Angeles, Vancouver)"), ("America/Anchorage", "Alaska (Anchorage)"),
        ("Pacific/Honolulu", "Hawaii (Honolulu)"), ("America/Halifax", "Atlantic (Halifax)"),
        ("America/St_Johns", "Newfoundland (St. John's)"), ("America/Regina", "Saskatchewan (Regina)"),
        ("America/Puerto_Rico", "Puerto Rico (San Juan)"))),
    ("Latin America", (
        ("America/Mexico_City", "Mexico City"), ("America/Bogota", "Bogotá"), ("America/Lima", "Lima"),
        ("America/Santiago", "Santiago"), ("America/Sao_Paulo", "São Paulo"), ("America/Argentina/Buenos_Aires", "Buenos Aires"))),
    ("Europe and Africa", (
        ("Europe/London", "London"), ("Europe/Dublin", "Dublin"), ("Europe/Lisbon", "Lisbon"), ("Europe/Paris", "Paris"),
        ("Europe/Berlin", "Berlin"), ("Europe/Madrid", "Madrid"), ("Europe/Rome", "Rome"), ("Europe/Amsterdam", "Amsterdam"),
        ("Europe/Stockholm", "Stockholm"), ("Europe/Athens", "Athens"), ("Europe/Helsinki", "Helsinki"),
        ("Europe/Istanbul", "Istanbul"), ("Africa/Lagos", "Lagos"), ("Africa/Cairo", "Cairo"), ("Africa/Nairobi", "Nairobi"),
        ("Africa/Johannesburg", "Johannesburg"))),
    ("Asia and the Pacific", (
        ("Asia/Dubai", "Dubai"), ("Asia/Karachi", "Karachi"), ("Asia/Kolkata", "India (Kolkata)"), ("Asia/Dhaka", "Dhaka"),
        ("Asia/Bangkok", "Bangkok"), ("Asia/Singapore", "Singapore"), ("Asia/Manila", "Manila"), ("Asia/Hong_Kong", "Hong Kong"),
        ("Asia/Shanghai", "China (Shanghai)"), ("Asia/Seoul", "Seoul"), ("Asia/Tokyo", "Tokyo"), ("Australia/Perth", "Perth"),
        ("Australia/Adelaide", "Adelaide"), ("Australia/Brisbane", "Brisbane"), ("Australia/Sydney", "Sydney, Melbourne"),
        ("Pacific/Auckland", "Auckland"))),
    ("Other", (("UTC", "UTC"),)),
)


def _timezone_groups(current: str) -> list[OptionGroup]:
    groups = [OptionGroup(label=region, options=_options(zones)) for region, zones in COMMON_TIMEZONES]
    listed = {zone for _, zones in COMMON_TIMEZONES for zone, _ in zones}
    if current and current not in listed and _is_zone(current):
        groups.insert(0, OptionGroup(label=form_text()["timezone"]["yours"], options=_options([(current, current)])))
    return groups


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        return False
    return True


def _text_block(field: str, *, initial: str | None, optional: bool = True, max_length: int = TEXT_MAX) -> InputBlock:
    text = form_text()[field]
    return InputBlock(block_id=field, label=text["label"], hint=text.get("hint"), optional=optional,
                      element=PlainTextInputElement(action_id=ACTION, placeholder=text.get("placeholder"),
                                                    max_length=max_length, initial_value=initial or None))


def join_view(
    *, member: Member | None, timezone: str, min_group: int, needs_consent: bool, country: str = "US", name: str = ""
) -> dict:
    """Joining (``needs_consent``): the five fields of :data:`JOIN_FIELDS`. Editing: :data:`EDIT_FIELDS`."""
    text = form_text()
    stage = _parse_stage(member.career_stage) if member else None
    groups = _stage_groups()
    stage_initial = next((o for g in groups for o in g.options if stage is not None and o.value == _stage_value(stage)), None)
    fields = JOIN_FIELDS if needs_consent else EDIT_FIELDS
    shown_windows = chosen_windows(member.availability) if member and member.availability else []

    blocks: list = section_blocks(render("privacy_notice.j2", min_group=min_group))
    for field in fields:
        if field == "consent":
            consent = Option(value="yes", text=text["consent"]["option"])
            blocks.append(InputBlock(block_id="consent", label=text["consent"]["label"],
                                     element=CheckboxesElement(action_id=ACTION, options=[consent])))
        elif field == "name":
            blocks.append(_text_block("name", initial=(member.display_name if member else "") or name, optional=False,
                                      max_length=NAME_MAX))
        elif field == "career_stage":
            blocks.append(InputBlock(block_id="career_stage", label=text["career_stage"]["label"], element=StaticSelectElement(
                action_id=ACTION, placeholder=text["career_stage"]["placeholder"], option_groups=groups,
                initial_option=stage_initial)))
        elif field in ("specialty", "department", "site"):
            blocks.append(_text_block(field, initial=getattr(member, field) if member else None))
        elif field == "timezone":
            current = member.timezone if member and member.timezone else timezone
            zone_groups = _timezone_groups(current)
            blocks.append(InputBlock(block_id="timezone", label=text["timezone"]["label"], hint=text["timezone"]["hint"],
                                     element=StaticSelectElement(
                                         action_id=ACTION, placeholder=text["timezone"]["placeholder"], option_groups=zone_groups,
                                         initial_option=next((o for g in zone_groups for o in g.options if o.value == current), None))))
        elif field == "country":
            options = _country_options()
            stated = (member.country if member and member.country else "") or (normalise_country(country) or OTHER_COUNTRY)
            blocks.append(InputBlock(block_id="country", label=text["country"]["label"], hint=text["country"]["hint"],
                                     element=StaticSelectElement(action_id=ACTION, options=options,
                                                                 initial_option=next((o for o in options if o.value == stated), None))))
        elif field == "availability":
            options = _options([(value, label) for value, label, _ in availability_choices()])
            blocks.append(InputBlock(block_id="availability", label=text["availability"]["label"],
                                     hint=text["availability"]["hint"], optional=True,
                                     element=CheckboxesElement(action_id=ACTION, options=options,
                                                               initial_options=[o for o in options if o.value in shown_windows] or None)))
        elif field == "taking_part":
            options = _options([(value, text["taking_part"][value]) for value in TAKING_PART])
            ticked = _taking_part_of(member) if member else set()
            blocks.append(InputBlock(block_id="taking_part", label=text["taking_part"]["label"], hint=text["near_peer"]["hint"],
                                     optional=True, element=CheckboxesElement(
                                         action_id=ACTION, options=options,
                                         initial_options=[o for o in options if o.value in ticked] or None)))
        elif field == "capacity":
            options = _options([(str(n), str(n)) for n in range(1, MAX_MENTOR_CAPACITY + 1)])
            capacity = member.mentor_capacity if member and 1 <= member.mentor_capacity <= MAX_MENTOR_CAPACITY else 1
            blocks.append(InputBlock(block_id="capacity", label=text["capacity"]["label"], optional=True,
                                     element=StaticSelectElement(action_id=ACTION, options=options,
                                                                 initial_option=options[capacity - 1])))
    view = View(
        type="modal",
        callback_id=CALLBACK_ID,
        title=text["title"] if needs_consent else text["title_edit"],
        submit=text["submit"] if needs_consent else text["submit_edit"],
        close=text["close"],
        # the windows shown ticked: a submission that leaves them as they were keeps a finer stored availability
        private_metadata=json.dumps({"consent": needs_consent, "windows": shown_windows}),
        blocks=check_blocks(blocks, surface="modal"),
    )
    view.validate_json()
    return view.to_dict()


def _taking_part_of(member: Member) -> set[str]:
    ticked = {"mentee", "mentor"} if member.near_peer_role == "both" else {member.near_peer_role}
    return ({"lead"} if member.lead_willing else set()) | (ticked & set(TAKING_PART))


def _parse_stage(text: str) -> CareerStage | None:
    try:
        return CareerStage.parse(text)
    except ValueError:
        return None


# Slack sends these shapes; a forged submission may not, and must get field errors, not a crash.
def _value(state: dict, block_id: str) -> dict:
    block = state.get(block_id) if isinstance(state, dict) else None
    value = block.get(ACTION) if isinstance(block, dict) else None
    return value if isinstance(value, dict) else {}


def _asked(state: dict, block_id: str) -> bool:
    return isinstance(state, dict) and block_id in state


def _text(state: dict, block_id: str) -> str:
    text = _value(state, block_id).get("value")
    return text.strip() if isinstance(text, str) else ""


def _chosen(state: dict, block_id: str) -> str | None:
    option = _value(state, block_id).get("selected_option")
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) else None


def _all_chosen(state: dict, block_id: str) -> list[str]:
    options = _value(state, block_id).get("selected_options")
    if not isinstance(options, list):
        return []
    return [o["value"] for o in options if isinstance(o, dict) and isinstance(o.get("value"), str)]


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else None


def _career_stage(state: dict, errors: dict[str, str]) -> str:
    text = form_text()
    choice = _chosen(state, "career_stage")
    if not choice:
        errors["career_stage"] = text["career_stage"]["error"]
        return ""
    if choice == "ATTENDING":  # a form from before years were part of the choice
        years_text = _text(state, "years")
        if not years_text:
            errors["years"] = text["years"]["error_needed"]
        elif _number(years_text) is None or _number(years_text) > MAX_ATTENDING_YEARS:
            errors["years"] = text["years"]["error_range"]
        else:
            return f"ATTENDING-{_number(years_text)}"
        return ""
    stage = _parse_stage(choice)
    if stage is None:
        errors["career_stage"] = text["career_stage"]["error"]
        return ""
    return str(stage)


def _availability(state: dict, metadata: dict, stored: str) -> str:
    if not _asked(state, "availability"):
        return stored
    by_value = {value: windows for value, _, windows in availability_choices()}
    chosen = [value for value in _all_chosen(state, "availability") if value in by_value]
    if stored and sorted(chosen) == sorted(metadata.get("windows") or []):
        return stored  # unchanged in the form: keep finer windows it cannot show (a roster's, say)
    return ";".join(str(w) for w in parse_windows(";".join(w for value in chosen for w in by_value[value])))


def parse_join_submission(state: dict, *, needs_consent: bool, current: Member | None = None, slack_timezone: str = "",
                          metadata: dict | None = None) -> tuple[Profile | None, dict[str, str]]:
    """Read the modal's state values; returns the profile or per-field error messages.

    What the form did not ask keeps ``current``'s value; a time zone not asked comes from the
    Slack profile (``slack_timezone``) when none is stored."""
    text = form_text()
    errors: dict[str, str] = {}
    if needs_consent and "yes" not in _all_chosen(state, "consent"):
        errors["consent"] = text["consent"]["error"]
    career_stage = _career_stage(state, errors)

    def kept(field: str, default: Any = "") -> Any:
        return getattr(current, field) if current is not None and getattr(current, field) is not None else default

    fields = {name: _text(state, name)[:TEXT_MAX] if _asked(state, name) else kept(name)
              for name in ("specialty", "department", "site")}
    name = _text(state, "name")[:NAME_MAX] if _asked(state, "name") else ""
    if _asked(state, "name") and not name:
        errors["name"] = text["name"]["error"]
    timezone = (_chosen(state, "timezone") or "") if _asked(state, "timezone") else (kept("timezone") or slack_timezone)
    if not _is_zone(timezone):
        errors["timezone"] = text["timezone"]["error"]

    country = _chosen(state, "country")
    if country is not None and country not in (*COUNTRY_CODES, OTHER_COUNTRY):
        errors["country"] = text["country"]["error"]

    if _asked(state, "taking_part"):
        ticked = set(_all_chosen(state, "taking_part"))
        lead = "lead" in ticked
        role = {(True, True): "both", (True, False): "mentee", (False, True): "mentor"}.get(
            ("mentee" in ticked, "mentor" in ticked), "none")
    else:
        lead, role = bool(kept("lead_willing", False)), kept("near_peer_role", "none")
    if _asked(state, "capacity"):
        capacity = _number(_chosen(state, "capacity") or "1") or 1
    else:
        capacity = kept("mentor_capacity", 1)
    capacity = capacity if 1 <= capacity <= MAX_MENTOR_CAPACITY else 1

    if errors:
        return None, errors
    return (
        Profile(
            career_stage=career_stage,
            timezone=timezone,
            availability=_availability(state, metadata or {}, kept("availability")),
            near_peer_role=role,
            mentor_capacity=capacity,
            lead_willing=lead,
            country=country,
            display_name=name,
            **fields,
        ),
        {},
    )
