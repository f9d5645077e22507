"""Filling in a modal the bot opened, as Slack reports it in a ``view_submission``.

A person's answers are given per input block (by ``block_id``): option *values* for
selects, radio buttons and checkboxes, text for text and number inputs. Anything not
answered keeps the value the bot put in the form. Options are taken from the view
itself, so answering with an option the bot did not offer is an error here, not a
made-up submission.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from bot.demo.people import Physician

Answer = str | list[str] | tuple[str, ...] | None

SINGLE_CHOICE = ("static_select", "radio_buttons")
MULTIPLE_CHOICE = ("multi_static_select", "checkboxes")
TEXT = ("plain_text_input", "number_input")


class NotOffered(ValueError):
    """An answer names an option or a block the modal does not have."""


def input_blocks(view: Mapping[str, Any]) -> dict[str, dict]:
    return {block["block_id"]: block for block in view.get("blocks") or [] if block.get("type") == "input"}


def options_of(block: Mapping[str, Any]) -> list[dict]:
    return _all_options(block["element"])


def _all_options(element: Mapping[str, Any]) -> list[dict]:
    """The element's options, those inside option groups included."""
    grouped = [o for group in element.get("option_groups") or [] for o in group.get("options") or []]
    return list(element.get("options") or []) + grouped


def fill(view: Mapping[str, Any], answers: Mapping[str, Answer]) -> dict:
    """``view.state.values`` for this modal with these answers."""
    blocks = input_blocks(view)
    unknown = set(answers) - set(blocks)
    if unknown:
        raise NotOffered(f"the modal has no input block {sorted(unknown)}")
    values = {}
    for block_id, block in blocks.items():
        element = block["element"]
        state = _element_state(element, answers.get(block_id), answered=block_id in answers)
        values[block_id] = {element["action_id"]: {"type": element["type"], **state}}
    return values


def _element_state(element: Mapping[str, Any], answer: Answer, *, answered: bool) -> dict:
    kind = element["type"]
    if kind in TEXT:
        return {"value": answer if answered else element.get("initial_value")}
    if kind in SINGLE_CHOICE:
        if not answered:
            return {"selected_option": element.get("initial_option")}
        return {"selected_option": _option(element, answer) if answer else None}
    if kind in MULTIPLE_CHOICE:
        if not answered:
            return {"selected_options": list(element.get("initial_options") or [])}
        chosen = [answer] if isinstance(answer, str) else list(answer or [])
        return {"selected_options": [_option(element, value) for value in chosen]}
    raise NotOffered(f"the demo cannot fill a {kind} element")


def _option(element: Mapping[str, Any], value: str) -> dict:
    for option in _all_options(element):
        if option.get("value") == value:
            return option
    raise NotOffered(f"no option {value!r} in {element.get('action_id')!r}")


def join_form_answers(person: "Physician") -> dict[str, Answer]:
    """The join form (its five blocks, bot/flows/join_form.JOIN_FIELDS) as this person fills it in;
    name and time zone come from their Slack profile."""
    roles = {"mentee": ["mentee"], "mentor": ["mentor"], "both": ["mentee", "mentor"], "none": []}[person.near_peer_role]
    return {
        "consent": ["yes"],
        "career_stage": person.career_stage,
        "specialty": person.specialty,
        "availability": list(person.availability),
        "taking_part": (["lead"] if person.lead_willing else []) + roles,
    }
