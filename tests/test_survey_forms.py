import pytest
from slack_sdk.errors import SlackObjectFormationError

from bot.domain.instruments import default_catalogue, parse_catalogue
from bot.slack.render import BlockLimitError
from bot.domain.scoring import score
from bot.slack.survey_forms import (
    ACTION_ID,
    CALLBACK_ID,
    OPEN_SURVEY_ACTION_ID,
    build_survey_modal,
    crisis_message_blocks,
    crisis_message_text,
    feedback_lines,
    invitation_blocks,
    parse_submission,
    score_feedback_blocks,
    score_feedback_text,
    survey_modal,
)

PULSE = ("burnout", "who5", "group_worth")
RESOURCES = [
    "Call or text *988* (Suicide & Crisis Lifeline), any time.",
    "Physician Support Line *1-888-409-0141* (free, confidential, volunteer psychiatrists).",
]


def state(answers: dict[str, list[int | str | None]]) -> dict:
    """A view_submission state: {instrument: [value per item, None for unanswered]}."""
    values = {}
    for instrument, items in answers.items():
        for index, value in enumerate(items):
            selected = None if value is None else {"text": {"type": "plain_text", "text": "x"}, "value": str(value)}
            values[f"{instrument}__{index}"] = {ACTION_ID: {"type": "radio_buttons", "selected_option": selected}}
    return values


# ---------------------------------------------------------------- modal


def test_pulse_modal_has_one_input_per_item_with_the_agreed_ids():
    view = survey_modal("pulse", min_group=5, private_metadata="session:42").to_dict()
    assert view["type"] == "modal" and view["callback_id"] == CALLBACK_ID
    assert view["private_metadata"] == "session:42"
    assert len(view["title"]["text"]) <= 24
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["block_id"] for b in inputs] == ["burnout__0", "who5__0", "who5__1", "who5__2", "who5__3", "who5__4", "group_worth__0"]
    for block in inputs:
        assert block["element"]["type"] == "radio_buttons"
        assert block["element"]["action_id"] == ACTION_ID
        assert not block.get("optional", False)


def test_wording_and_options_come_from_the_instrument_data():
    catalogue = default_catalogue()
    view = survey_modal("pulse", min_group=5).to_dict()
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    who5 = catalogue.instrument("who5")
    assert inputs["who5__3"]["label"]["text"] == who5.items[3]
    assert [o["value"] for o in inputs["who5__0"]["element"]["options"]] == ["5", "4", "3", "2", "1", "0"]
    burnout_options = inputs["burnout__0"]["element"]["options"]
    assert burnout_options[4]["text"]["text"] == catalogue.instrument("burnout").options[4].label
    assert burnout_options[4]["description"]["text"].endswith("may need to seek some sort of help.")
    section_texts = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    assert any(who5.stem in text for text in section_texts)
    assert any("confidential, not anonymous" in text and "5 or more" in text for text in section_texts)


@pytest.mark.parametrize("survey_id", ["baseline", "follow_up", "pulse"])
def test_every_survey_fits_slack_limits(survey_id):
    view = survey_modal(survey_id, min_group=5).to_dict()
    assert 0 < len(view["blocks"]) <= 100
    for block in view["blocks"]:
        for option in block.get("element", {}).get("options", []):
            assert len(option["text"]["text"]) <= 75
            assert len(option.get("description", {}).get("text", "")) <= 75


def test_modal_limits_are_enforced():
    data = {
        "instruments": {
            "long": {
                "title": "Long",
                "items": [f"Item {i}" for i in range(101)],
                "options": [{"value": 0, "label": "No"}, {"value": 1, "label": "Yes"}],
                "higher_is_better": True,
                "source": "test",
                "licence": "test",
            }
        }
    }
    with pytest.raises(BlockLimitError):
        build_survey_modal(["long"], title="Long", catalogue=parse_catalogue(data))
    with pytest.raises(SlackObjectFormationError):
        build_survey_modal(["burnout"], title="A title far longer than Slack allows")
    with pytest.raises(ValueError, match="only once"):
        build_survey_modal(["burnout", "burnout"], title="Twice")


def test_invitation_has_one_button_that_opens_the_survey():
    text, blocks = invitation_blocks("pulse", min_group=5, button_value="pulse:42")
    assert "5 or more" in text
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert len(buttons) == 1
    assert buttons[0]["action_id"] == OPEN_SURVEY_ACTION_ID and buttons[0]["value"] == "pulse:42"


# ---------------------------------------------------------------- submission


def test_complete_submission_parses_into_scorable_answers():
    answers, errors = parse_submission(PULSE, state({"burnout": [2], "who5": [3, 4, 2, 5, 3], "group_worth": [5]}))
    assert errors == {}
    assert answers == {"burnout": [2], "who5": [3, 4, 2, 5, 3], "group_worth": [5]}
    assert score("who5", answers["who5"]).value == 68


def test_missing_answers_get_a_message_on_exactly_their_fields():
    submitted = state({"burnout": [None], "who5": [3, None, 2, 5, None], "group_worth": [4]})
    answers, errors = parse_submission(PULSE, submitted)
    assert set(errors) == {"burnout__0", "who5__1", "who5__4"}
    assert all(message == "Please choose an answer." for message in errors.values())
    assert answers == {"group_worth": [4]}  # only complete instruments


def test_blocks_absent_from_the_state_count_as_missing():
    answers, errors = parse_submission(PULSE, {})
    assert len(errors) == 7 and answers == {}


@pytest.mark.parametrize("tampered", ["9", "abc", "", "3.0", " 3"])
def test_tampered_values_are_rejected(tampered):
    answers, errors = parse_submission(["burnout"], state({"burnout": [tampered]}))
    assert answers == {}
    assert "choose one of the options" in errors["burnout__0"]


def test_malformed_state_does_not_crash():
    answers, errors = parse_submission(["burnout"], {"burnout__0": "nonsense"})
    assert answers == {} and set(errors) == {"burnout__0"}


# ---------------------------------------------------------------- score feedback


def test_feedback_says_plainly_whether_the_change_is_reliable():
    baselines = {"who5": score("who5", [2, 2, 2, 2, 2]), "burnout": score("burnout", [3])}  # WHO-5 40
    improved = score_feedback_text([score("who5", [3, 3, 3, 3, 2])], baselines, min_group=5)  # 56: +16
    assert "56 out of 100 (higher is better; baseline 40)" in improved
    assert "within normal variation" in improved
    big_gain = score_feedback_text([score("who5", [4, 4, 3, 3, 3])], baselines, min_group=5)  # 68: +28
    assert "reliable improvement" in big_gain
    drop = score_feedback_text([score("who5", [1, 1, 1, 1, 0])], baselines, min_group=5)  # 16: -24
    assert "reliable change" in drop and "someone you trust" in drop
    for text in (improved, big_gain, drop):
        assert "Only you can see your scores" in text


def test_single_items_report_the_difference_without_judging_it():
    text = score_feedback_text([score("burnout", [4])], {"burnout": score("burnout", [3])}, min_group=5)
    assert "4 out of 5 (lower is better; baseline 3)" in text  # which way is good, said every time (issue 15)
    assert "1 point higher than your baseline" in text
    assert "can't show a reliable change" in text


def test_every_score_says_which_direction_is_better():
    text = score_feedback_text([score("burnout", [1]), score("who5", [3, 3, 3, 3, 3])], {}, min_group=5)
    assert "*Burnout*: 1 out of 5 (lower is better)" in text
    assert "*Wellbeing (WHO-5)*: 60 out of 100 (higher is better)" in text


def test_first_survey_is_the_baseline_and_group_feedback_is_not_shown():
    scores = [score("burnout", [2]), score("who5", [3, 3, 3, 3, 3]), score("group_worth", [5])]
    lines = feedback_lines(scores, {})
    assert [line.title for line in lines] == ["Burnout", "Wellbeing (WHO-5)"]
    text = score_feedback_text(scores, {}, min_group=5)
    assert "starting points" in text and "group worth" not in text.lower()
    assert score_feedback_text([score("group_worth", [3])], {}, min_group=5) == ""
    assert score_feedback_blocks([score("group_worth", [3])], {}, min_group=5) == []


def test_feedback_uses_the_cohort_sd_when_given():
    baselines = {"who5": score("who5", [2, 2, 2, 2, 2])}
    current = [score("who5", [3, 3, 3, 3, 3])]  # +20: not reliable with SD 19.53, reliable with SD 10
    assert "within normal variation" in score_feedback_text(current, baselines, min_group=5)
    assert "reliable improvement" in score_feedback_text(current, baselines, min_group=5, sds={"who5": 10.0})


def test_feedback_blocks_fit_a_message():
    blocks = score_feedback_blocks([score("who5", [3, 3, 3, 3, 3])], {}, min_group=7)
    assert blocks[0]["type"] == "section" and blocks[-1]["type"] == "context"
    assert "7 or more" in blocks[-1]["elements"][0]["text"]


# ---------------------------------------------------------------- crisis message


def test_crisis_message_lists_resources_and_says_no_one_is_watching():
    text = crisis_message_text(RESOURCES)
    for line in RESOURCES:
        assert line in text
    assert "not monitored" in text
    assert "No one else has been told" in text
    assert "call 911" in text
    assert "call 112" in crisis_message_text(RESOURCES, emergency_number="112")
    assert "call your local emergency number" in crisis_message_text(RESOURCES, emergency_number=None)


def test_crisis_message_defaults_come_from_settings():
    from bot.runtime.settings import Settings

    settings = Settings(_env_file=None)
    assert settings.compass_country == "US" and settings.compass_crisis_resources == ""
    text = crisis_message_text(settings.crisis_resources, emergency_number=settings.crisis_for(None).emergency_number)
    assert "988" in text and "1-888-409-0141" in text and "8am to 1am Eastern time" in text and "call 911" in text


def test_crisis_message_needs_a_resource_and_fits_a_message():
    with pytest.raises(ValueError):
        crisis_message_text(["", "  "])
    blocks = crisis_message_blocks(RESOURCES)
    assert 1 <= len(blocks) <= 50 and all(b["type"] == "section" for b in blocks)
