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
    return list(block["element"].get("options") or [])


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
    for option in element.get("options") or []:
        if option.get("value") == value:
            return option
    raise NotOffered(f"no option {value!r} in {element.get('action_id')!r}")


def join_form_answers(person: "Physician") -> dict[str, Answer]:
    """The join form (block IDs of bot/flows/join_form.py) as this person fills it in."""
    track, years = person.career_stage.split("-")
    return {
        "consent": ["yes"],
        "career_stage": person.career_stage if track == "PGY" else "ATTENDING",
        "years": None if track == "PGY" else years,
        "specialty": person.specialty,
        "department": person.department,
        "site": person.site,
        "timezone": person.timezone,
        "availability": list(person.availability),
        "lead": "yes" if person.lead_willing else "no",
        "near_peer": person.near_peer_role,
        "capacity": str(person.mentor_capacity),
    }
