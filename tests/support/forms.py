"""State values of the join modal, as Slack sends them in a view_submission."""

from __future__ import annotations


def _selected(value: str) -> dict:
    return {"value": value, "text": {"type": "plain_text", "text": value}}


def join_values(
    *,
    consent: bool | None = True,
    stage: str | None = "PGY-2",
    years: str | None = None,
    specialty: str = "Internal Medicine",
    department: str = "Medicine",
    site: str = "Main campus",
    timezone: str = "America/Chicago",
    availability: tuple[str, ...] = ("Tue-evening", "Thu-lunch"),
    lead: str | None = "yes",
    role: str | None = "mentee",
    capacity: str = "1",
    country: str | None = None,
) -> dict:
    values: dict = {}
    if consent is not None:
        values["consent"] = {"value": {"type": "checkboxes", "selected_options": [_selected("yes")] if consent else []}}
    values["career_stage"] = {"value": {"type": "static_select", "selected_option": _selected(stage) if stage else None}}
    values["years"] = {"value": {"type": "number_input", "value": years}}
    for name, text in (("specialty", specialty), ("department", department), ("site", site), ("timezone", timezone)):
        values[name] = {"value": {"type": "plain_text_input", "value": text}}
    values["availability"] = {"value": {"type": "multi_static_select", "selected_options": [_selected(a) for a in availability]}}
    values["lead"] = {"value": {"type": "radio_buttons", "selected_option": _selected(lead) if lead else None}}
    values["near_peer"] = {"value": {"type": "radio_buttons", "selected_option": _selected(role) if role else None}}
    values["capacity"] = {"value": {"type": "static_select", "selected_option": _selected(capacity)}}
    if country is not None:
        values["country"] = {"value": {"type": "static_select", "selected_option": _selected(country)}}
    return values
