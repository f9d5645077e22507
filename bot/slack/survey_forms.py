"""Survey Block Kit: the modal, its submission, and the private messages that follow it.

* ``survey_modal`` / ``build_survey_modal`` build the modal from instrument data:
  one required input per item, block id ``<instrument>__<item index>``, action
  id ``answer``, callback id ``pulse_submit``.
* ``parse_submission`` reads a ``view_submission`` state into answers per
  instrument and an error message per unanswered or tampered block (ready for
  ``ack(response_action="errors", errors=...)``).
* ``score_feedback_*`` and ``crisis_message_*`` render the messages a person
  receives privately after a survey. The crisis message goes only to the person:
  nothing here notifies anyone else.

Every sentence comes from a template in ``bot/prompts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.domain.instruments import Catalogue, Instrument, default_catalogue
from bot.slack.session_messages import ACTION_MISSED, next_rsvp_blocks
from bot.slack.render import check_blocks, context_block, render, render_sections, section_blocks
from bot.domain.scoring import Change, Score, change

CALLBACK_ID = "pulse_submit"
ACTION_ID = "answer"
OPEN_SURVEY_ACTION_ID = "open_survey"
_BLOCK_SEPARATOR = "__"


def block_id(instrument_id: str, item_index: int) -> str:
    return f"{instrument_id}{_BLOCK_SEPARATOR}{item_index}"


# ---------------------------------------------------------------- the modal


def build_survey_modal(
    instrument_ids: Sequence[str],
    *,
    title: str,
    intro: str | None = None,
    private_metadata: str = "",
    catalogue: Catalogue | None = None,
) -> View:
    """A modal asking every item of the given instruments, in order."""
    catalogue = catalogue or default_catalogue()
    if not instrument_ids:
        raise ValueError("a survey needs at least one instrument")
    if len(set(instrument_ids)) != len(instrument_ids):
        raise ValueError("an instrument may appear only once in a survey")
    blocks: list[Block] = section_blocks(intro) if intro else []
    for instrument_id in instrument_ids:
        blocks.extend(_instrument_blocks(catalogue.instrument(instrument_id)))
    view = View(
        type="modal",
        callback_id=CALLBACK_ID,
        title=PlainTextObject(text=title),
        submit=PlainTextObject(text="Submit"),
        close=PlainTextObject(text="Not now"),
        blocks=check_blocks(blocks, surface="modal"),
        private_metadata=private_metadata,
    )
    view.validate_json()
    return view


def survey_modal(
    survey_id: str,
    *,
    min_group: int,
    private_metadata: str = "",
    catalogue: Catalogue | None = None,
) -> View:
    """The modal for a survey defined in instruments.toml (baseline, follow_up, pulse)."""
    catalogue = catalogue or default_catalogue()
    survey = catalogue.survey(survey_id)
    intro = render("survey_intro.j2", length=survey.length_text(), min_group=min_group)
    return build_survey_modal(
        survey.instruments,
        title=survey.title,
        intro=intro,
        private_metadata=private_metadata,
        catalogue=catalogue,
    )


def invitation_blocks(
    survey_id: str,
    *,
    min_group: int,
    button_value: str = "",
    catalogue: Catalogue | None = None,
) -> tuple[str, list[dict]]:
    """The DM inviting someone to a survey: (fallback text, blocks) with one button opening the modal."""
    survey = (catalogue or default_catalogue()).survey(survey_id)
    text = render("survey_invite.j2", survey_id=survey.id, length=survey.length_text(), min_group=min_group)
    button = ButtonElement(
        text=PlainTextObject(text="Start check-in"),
        action_id=OPEN_SURVEY_ACTION_ID,
        value=button_value or survey.id,
        style="primary",
    )
    blocks = [*section_blocks(text), ActionsBlock(elements=[button])]
    return text, check_blocks(blocks, surface="message")


def after_session_blocks(
    *,
    question: str,
    session_id: int,
    survey_id: int,
    min_group: int,
    upcoming: tuple[int, str] | None = None,
    catalogue: Catalogue | None = None,
) -> tuple[str, list[dict]]:
    """One message after a session: "Were you there?" and the check-in together. "I was there"
    records the attendance and opens the check-in; "I couldn't make it" records only that."""
    catalogue = catalogue or default_catalogue()
    survey = catalogue.survey("pulse")
    text = render("survey_invite.j2", survey_id="after_session", length=survey.length_text(), min_group=min_group)
    buttons = [
        ButtonElement(text=PlainTextObject(text="I was there · check in"), action_id=OPEN_SURVEY_ACTION_ID,
                      value=f"{survey_id}:{session_id}", style="primary"),
        ButtonElement(text=PlainTextObject(text="I couldn't make it"), action_id=ACTION_MISSED, value=str(session_id)),
    ]
    blocks = [*section_blocks(question), *section_blocks(text), ActionsBlock(elements=buttons)]
    if upcoming is not None:
        blocks += next_rsvp_blocks(*upcoming)
    return question.splitlines()[0] + " " + text.splitlines()[0], check_blocks(blocks, surface="message")


def _instrument_blocks(instrument: Instrument) -> list[Block]:
    blocks: list[Block] = []
    if instrument.stem:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*{instrument.stem}*")))
    options = [
        Option(
            value=str(option.value),
            text=PlainTextObject(text=option.label),
            description=PlainTextObject(text=option.description) if option.description else None,
        )
        for option in instrument.options
    ]
    for index, item in enumerate(instrument.items):
        blocks.append(
            InputBlock(
                block_id=block_id(instrument.id, index),
                label=PlainTextObject(text=item),
                element=RadioButtonsElement(action_id=ACTION_ID, options=options),
            )
        )
    return blocks


# ---------------------------------------------------------------- the submission


def parse_submission(
    instrument_ids: Sequence[str],
    state_values: Mapping[str, Any],
    *,
    catalogue: Catalogue | None = None,
) -> tuple[dict[str, list[int]], dict[str, str]]:
    """Read ``view["state"]["values"]``.

    Returns (answers by instrument, error message by block id). Only fully
    answered instruments appear in the answers; any error means the submission
    must be rejected with those messages and nothing stored.
    """
    catalogue = catalogue or default_catalogue()
    answers: dict[str, list[int]] = {}
    errors: dict[str, str] = {}
    for instrument_id in instrument_ids:
        instrument = catalogue.instrument(instrument_id)
        values: list[int] = []
        for index in range(len(instrument.items)):
            key = block_id(instrument_id, index)
            problem, value = _read_answer(state_values.get(key), instrument)
            if problem:
                errors[key] = render("survey_field_error.j2", problem=problem)
            else:
                values.append(value)
        if len(values) == len(instrument.items):
            answers[instrument_id] = values
    return answers, errors


def _read_answer(block_state: Any, instrument: Instrument) -> tuple[str | None, int]:
    action = block_state.get(ACTION_ID) if isinstance(block_state, Mapping) else None
    selected = action.get("selected_option") if isinstance(action, Mapping) else None
    if not selected:
        return "missing", 0
    raw = selected.get("value") if isinstance(selected, Mapping) else None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return "invalid", 0
    if value not in instrument.option_values or str(value) != raw:
        return "invalid", 0
    return None, value


# ---------------------------------------------------------------- after the survey


@dataclass(frozen=True)
class FeedbackLine:
    title: str
    value: int
    maximum: int
    baseline: int | None
    verdict: str  # baseline, same, reliable_better, reliable_worse, normal_variation, higher, lower
    distance: int  # |difference| for single items
    higher_is_better: bool = True  # said beside every score: "1 out of 5 (lower is better)"


def feedback_lines(
    scores: Sequence[Score],
    baselines: Mapping[str, Score],
    *,
    sds: Mapping[str, float] | None = None,
    catalogue: Catalogue | None = None,
) -> list[FeedbackLine]:
    """What the person is told about each score they may see (group feedback items are skipped).

    ``baselines`` maps instrument id to the person's baseline score; a score with
    no baseline is the baseline. ``sds`` maps instrument id to the cohort SD.
    """
    catalogue = catalogue or default_catalogue()
    lines = []
    for result in scores:
        instrument = catalogue.instrument(result.instrument_id)
        if not instrument.personal_feedback:
            continue
        baseline = baselines.get(result.instrument_id)
        if baseline is None:
            lines.append(FeedbackLine(instrument.title, result.value, instrument.maximum, None, "baseline", 0,
                                      instrument.higher_is_better))
            continue
        delta = change(baseline, result, (sds or {}).get(result.instrument_id), catalogue=catalogue)
        lines.append(
            FeedbackLine(
                instrument.title, result.value, instrument.maximum, baseline.value, _verdict(delta), abs(delta.difference),
                instrument.higher_is_better,
            )
        )
    return lines


def _verdict(delta: Change) -> str:
    if delta.difference == 0:
        return "same"
    if delta.reliable is None:
        return "higher" if delta.difference > 0 else "lower"
    if delta.reliable:
        return "reliable_better" if delta.direction == "better" else "reliable_worse"
    return "normal_variation"


def score_feedback_text(
    scores: Sequence[Score],
    baselines: Mapping[str, Score],
    *,
    min_group: int,
    sds: Mapping[str, float] | None = None,
    catalogue: Catalogue | None = None,
) -> str:
    """The private message after a survey; empty when none of the scores is shown to the person."""
    return "\n\n".join(_feedback_parts(scores, baselines, min_group=min_group, sds=sds, catalogue=catalogue))


def score_feedback_blocks(
    scores: Sequence[Score],
    baselines: Mapping[str, Score],
    *,
    min_group: int,
    sds: Mapping[str, float] | None = None,
    catalogue: Catalogue | None = None,
) -> list[dict]:
    parts = _feedback_parts(scores, baselines, min_group=min_group, sds=sds, catalogue=catalogue)
    if not parts:
        return []
    body, privacy = parts
    return check_blocks([*section_blocks(body), context_block(privacy)], surface="message")


def _feedback_parts(
    scores: Sequence[Score],
    baselines: Mapping[str, Score],
    *,
    min_group: int,
    sds: Mapping[str, float] | None,
    catalogue: Catalogue | None,
) -> list[str]:
    """[scores, privacy note], or [] when none of the scores is shown to the person."""
    lines = feedback_lines(scores, baselines, sds=sds, catalogue=catalogue)
    return render_sections("score_feedback.j2", lines=lines, min_group=min_group) if lines else []


def crisis_message_text(resources: Sequence[str], *, emergency_number: str | None = "911") -> str:
    """The crisis message; ``resources`` are mrkdwn lines from settings (``COMPASS_CRISIS_RESOURCES``)."""
    lines = [line.strip() for line in resources if line and line.strip()]
    if not lines:
        raise ValueError("the crisis message needs at least one resource")
    return render("crisis.j2", resources=lines, emergency_number=emergency_number)


def crisis_message_blocks(resources: Sequence[str], *, emergency_number: str | None = "911") -> list[dict]:
    return check_blocks(section_blocks(crisis_message_text(resources, emergency_number=emergency_number)), surface="message")
