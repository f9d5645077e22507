"""The join form (a modal): building it from a member's profile and reading it back."""

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
    NumberInputElement,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    StaticSelectElement,
)
from slack_sdk.models.blocks.block_elements import StaticMultiSelectElement
from slack_sdk.models.views import View

from bot.domain.availability import WEEKDAYS, parse_windows
from bot.domain.crisis import COUNTRY_CODES, TABLE, normalise_country
from bot.domain.people import MAX_ATTENDING_YEARS, MAX_MENTOR_CAPACITY, MAX_PGY, CareerStage
from bot.slack.render import check_blocks, render, section_blocks
from storage.members import Profile
from storage.models import Member

CALLBACK_ID = "join_submit"
ACTION = "value"
TEXT_MAX = 80
OTHER_COUNTRY = "OTHER"


@lru_cache(maxsize=1)
def form_text() -> dict[str, Any]:
    return tomllib.loads(files("bot").joinpath("prompts/join_form.toml").read_text(encoding="utf-8"))


def _options(pairs: list[tuple[str, str]]) -> list[Option]:
    return [Option(value=value, text=label) for value, label in pairs]


def _availability_choices() -> list[tuple[str, str, str]]:
    """(option value, label, window text) for every weekday and part of day."""
    choices = []
    for day in WEEKDAYS:
        for part in form_text()["availability"]["parts"]:
            choices.append((f"{day}-{part['name']}", f"{day} {part['label']}", f"{day} {part['start']}-{part['end']}"))
    return choices


def _country_options() -> list[Option]:
    return _options([(code, TABLE[code].name) for code in COUNTRY_CODES] + [(OTHER_COUNTRY, form_text()["country"]["other"])])


def join_view(
    *, member: Member | None, timezone: str, min_group: int, needs_consent: bool, country: str = "US"
) -> dict:
    text = form_text()
    stage = _parse_stage(member.career_stage) if member else None
    stage_options = _options([(f"PGY-{n}", f"PGY-{n}") for n in range(1, MAX_PGY + 1)] + [("ATTENDING", text["career_stage"]["attending"])])
    stage_initial = None
    if stage is not None:
        stage_initial = next(o for o in stage_options if o.value == (str(stage) if stage.is_trainee else "ATTENDING"))

    blocks: list = section_blocks(render("privacy_notice.j2", min_group=min_group))
    if needs_consent:
        consent = Option(value="yes", text=text["consent"]["option"])
        blocks.append(
            InputBlock(block_id="consent", label=text["consent"]["label"], element=CheckboxesElement(action_id=ACTION, options=[consent]))
        )
    blocks.append(
        InputBlock(
            block_id="career_stage",
            label=text["career_stage"]["label"],
            element=StaticSelectElement(
                action_id=ACTION, placeholder=text["career_stage"]["placeholder"], options=stage_options, initial_option=stage_initial
            ),
        )
    )
    years_initial = str(stage.years) if stage and not stage.is_trainee else None
    blocks.append(
        InputBlock(
            block_id="years",
            label=text["years"]["label"],
            hint=text["years"]["hint"],
            optional=True,
            element=NumberInputElement(
                action_id=ACTION, is_decimal_allowed=False, min_value="0", max_value=str(MAX_ATTENDING_YEARS), initial_value=years_initial
            ),
        )
    )
    for field in ("specialty", "department", "site"):
        blocks.append(
            InputBlock(
                block_id=field,
                label=text[field]["label"],
                optional=True,
                element=PlainTextInputElement(
                    action_id=ACTION,
                    placeholder=text[field]["placeholder"],
                    max_length=TEXT_MAX,
                    initial_value=(getattr(member, field) or None) if member else None,
                ),
            )
        )
    blocks.append(
        InputBlock(
            block_id="timezone",
            label=text["timezone"]["label"],
            hint=text["timezone"]["hint"],
            element=PlainTextInputElement(action_id=ACTION, max_length=64, initial_value=(member.timezone if member and member.timezone else timezone) or None),
        )
    )
    country_options = _country_options()
    stated = (member.country if member and member.country else "") or (normalise_country(country) or OTHER_COUNTRY)
    blocks.append(
        InputBlock(
            block_id="country",
            label=text["country"]["label"],
            hint=text["country"]["hint"],
            element=StaticSelectElement(
                action_id=ACTION,
                options=country_options,
                initial_option=next((o for o in country_options if o.value == stated), None),
            ),
        )
    )
    availability_options = _options([(value, label) for value, label, _ in _availability_choices()])
    chosen = set(member.availability.split(";")) if member and member.availability else set()
    initial_availability = [o for o, (_, _, window) in zip(availability_options, _availability_choices()) if window in chosen]
    blocks.append(
        InputBlock(
            block_id="availability",
            label=text["availability"]["label"],
            hint=text["availability"]["hint"],
            optional=True,
            element=StaticMultiSelectElement(
                action_id=ACTION,
                placeholder=text["availability"]["placeholder"],
                options=availability_options,
                initial_options=initial_availability or None,
            ),
        )
    )
    lead_options = _options([("yes", text["lead"]["yes"]), ("no", text["lead"]["no"])])
    blocks.append(
        InputBlock(
            block_id="lead",
            label=text["lead"]["label"],
            hint=text["lead"]["hint"],
            element=RadioButtonsElement(
                action_id=ACTION, options=lead_options, initial_option=lead_options[0 if member and member.lead_willing else 1] if member else None
            ),
        )
    )
    role_options = _options([(r, text["near_peer"][r]) for r in ("mentee", "mentor", "both", "none")])
    role_initial = next((o for o in role_options if member and o.value == member.near_peer_role), None)
    blocks.append(
        InputBlock(
            block_id="near_peer",
            label=text["near_peer"]["label"],
            hint=text["near_peer"]["hint"],
            element=RadioButtonsElement(action_id=ACTION, options=role_options, initial_option=role_initial),
        )
    )
    capacity_options = _options([(str(n), str(n)) for n in range(1, MAX_MENTOR_CAPACITY + 1)])
    capacity = member.mentor_capacity if member and 1 <= member.mentor_capacity <= MAX_MENTOR_CAPACITY else 1
    blocks.append(
        InputBlock(
            block_id="capacity",
            label=text["capacity"]["label"],
            optional=True,
            element=StaticSelectElement(action_id=ACTION, options=capacity_options, initial_option=capacity_options[capacity - 1]),
        )
    )
    view = View(
        type="modal",
        callback_id=CALLBACK_ID,
        title=text["title"] if needs_consent else text["title_edit"],
        submit=text["submit"],
        close=text["close"],
        private_metadata=json.dumps({"consent": needs_consent}),
        blocks=check_blocks(blocks, surface="modal"),
    )
    view.validate_json()
    return view.to_dict()


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


def parse_join_submission(state: dict, *, needs_consent: bool) -> tuple[Profile | None, dict[str, str]]:
    """Read the modal's state values; returns the profile or per-field error messages."""
    text = form_text()
    errors: dict[str, str] = {}
    if needs_consent:
        if "yes" not in _all_chosen(state, "consent"):
            errors["consent"] = text["consent"]["error"]

    stage_choice = _chosen(state, "career_stage")
    years_text = _text(state, "years")
    career_stage = ""
    if not stage_choice:
        errors["career_stage"] = text["career_stage"]["error"]
    elif stage_choice == "ATTENDING":
        if not years_text:
            errors["years"] = text["years"]["error_needed"]
        elif _number(years_text) is None or _number(years_text) > MAX_ATTENDING_YEARS:
            errors["years"] = text["years"]["error_range"]
        else:
            career_stage = f"ATTENDING-{_number(years_text)}"
    else:
        stage = _parse_stage(stage_choice)
        if stage is None or not stage.is_trainee:
            errors["career_stage"] = text["career_stage"]["error"]
        else:
            career_stage = str(stage)

    fields = {name: _text(state, name)[:TEXT_MAX] for name in ("specialty", "department", "site")}
    timezone = _text(state, "timezone")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        errors["timezone"] = text["timezone"]["error"]

    country = _chosen(state, "country")
    if country is None:
        country = None  # not asked (a form from before the question existed): keep what is stored
    elif country not in (*COUNTRY_CODES, OTHER_COUNTRY):
        errors["country"] = text["country"]["error"]

    by_value = {value: window for value, _, window in _availability_choices()}
    windows = [by_value[value] for value in _all_chosen(state, "availability") if value in by_value]
    availability = ";".join(str(w) for w in parse_windows(";".join(windows)))

    lead = _chosen(state, "lead")
    if lead not in ("yes", "no"):
        errors["lead"] = "Please choose one."
    role = _chosen(state, "near_peer")
    if role not in ("mentee", "mentor", "both", "none"):
        errors["near_peer"] = "Please choose one."
    capacity = _number(_chosen(state, "capacity") or "1") or 1
    capacity = capacity if 1 <= capacity <= MAX_MENTOR_CAPACITY else 1

    if errors:
        return None, errors
    return (
        Profile(
            career_stage=career_stage,
            timezone=timezone,
            availability=availability,
            near_peer_role=role or "none",
            mentor_capacity=capacity,
            lead_willing=lead == "yes",
            country=country,
            **fields,
        ),
        {},
    )
