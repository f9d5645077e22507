"""State values of the join modal, as Slack sends them in a view_submission.

By default the five fields of joining (bot/flows/join_form.JOIN_FIELDS); ``edit=True`` adds those
that only the profile form ("Edit my profile") shows: name, department, site, time zone, country
and mentoring capacity.
"""

from __future__ import annotations


def _selected(value: str) -> dict:
    return {"value": value, "text": {"type": "plain_text", "text": value}}


def join_values(
    *,
    consent: bool | None = True,
    stage: str | None = "PGY-2",
    specialty: str = "Internal Medicine",
    availability: tuple[str, ...] = ("weekday-evening", "weekday-lunch"),
    lead: bool = True,
    role: str = "mentee",
    edit: bool = False,
    name: str = "Ana Ruiz",
    department: str = "Medicine",
    site: str = "Main campus",
    timezone: str = "America/Chicago",
    capacity: str = "1",
    country: str | None = None,
) -> dict:
    values: dict = {}
    if consent is not None:
        values["consent"] = {"value": {"type": "checkboxes", "selected_options": [_selected("yes")] if consent else []}}
    values["career_stage"] = {"value": {"type": "static_select", "selected_option": _selected(stage) if stage else None}}
    values["specialty"] = {"value": {"type": "plain_text_input", "value": specialty}}
    values["availability"] = {"value": {"type": "checkboxes", "selected_options": [_selected(a) for a in availability]}}
    ticked = (["lead"] if lead else []) + {"both": ["mentee", "mentor"], "none": []}.get(role, [role])
    values["taking_part"] = {"value": {"type": "checkboxes", "selected_options": [_selected(t) for t in ticked]}}
    if edit:
        for field, text in (("name", name), ("department", department), ("site", site)):
            values[field] = {"value": {"type": "plain_text_input", "value": text}}
        values["timezone"] = {"value": {"type": "static_select", "selected_option": _selected(timezone)}}
        values["capacity"] = {"value": {"type": "static_select", "selected_option": _selected(capacity)}}
    if country is not None:
        values["country"] = {"value": {"type": "static_select", "selected_option": _selected(country)}}
    return values
