import copy
import math
from pathlib import Path

import pytest

from bot.domain.instruments import (
    InstrumentError,
    UnknownInstrument,
    default_catalogue,
    load_catalogue,
    parse_catalogue,
)

TOML_PATH = Path(__file__).resolve().parents[1] / "bot" / "prompts" / "instruments.toml"


@pytest.fixture(scope="module")
def catalogue():
    return default_catalogue()


def minimal_data():
    return {
        "instruments": {
            "mood": {
                "title": "Mood",
                "items": ["How was today?", "How was yesterday?"],
                "options": [{"value": 0, "label": "Bad"}, {"value": 1, "label": "Fine"}, {"value": 2, "label": "Good"}],
                "multiplier": 1,
                "higher_is_better": True,
                "bands": [{"label": "Low", "at_most": 1}, {"label": "OK"}],
                "flags": [{"id": "low", "label": "Low", "at_most": 1, "crisis": True}],
                "reliability": 0.8,
                "reliability_source": "a study",
                "reference_sd": 1.0,
                "reference_sd_source": "a study",
                "source": "test",
                "licence": "test",
            }
        },
        "surveys": {"daily": {"title": "Daily", "minutes": 1, "instruments": ["mood"]}},
    }


def test_ships_exactly_the_free_instruments(catalogue):
    assert set(catalogue.instruments) == {
        "burnout", "who5", "phq2", "meaning", "connection", "intent_to_leave", "group_worth",
    }
    for instrument in catalogue.instruments.values():
        assert instrument.licence.strip() and instrument.source.strip()
        text = " ".join([instrument.title, instrument.source, instrument.licence, *instrument.items]).lower()
        assert "maslach" not in text and "promis" not in text and "mayo well-being index" not in text


def test_who5_matches_the_published_instrument(catalogue):
    who5 = catalogue.instrument("who5")
    assert len(who5.items) == 5
    assert sorted(who5.option_values) == [0, 1, 2, 3, 4, 5]
    assert who5.multiplier == 4 and (who5.minimum, who5.maximum) == (0, 100)
    assert who5.reliability == 0.81
    # The reference SD is derived from the same study's MDC (23.60) and ICC.
    assert who5.reference_sd == pytest.approx(23.60 / (1.96 * math.sqrt(2) * math.sqrt(1 - 0.81)), abs=0.01)
    assert who5.higher_is_better


def test_phq2_burnout_and_intent_to_leave_scales(catalogue):
    phq2 = catalogue.instrument("phq2")
    assert len(phq2.items) == 2 and sorted(phq2.option_values) == [0, 1, 2, 3]
    assert (phq2.minimum, phq2.maximum) == (0, 6)
    burnout = catalogue.instrument("burnout")
    assert burnout.is_single_item and sorted(burnout.option_values) == [1, 2, 3, 4, 5]
    intent = catalogue.instrument("intent_to_leave")
    assert [o.label for o in intent.options] == ["None", "Slight", "Moderate", "Likely", "Definitely"]
    assert "two years" in intent.items[0]
    assert catalogue.instrument("group_worth").items == ("Was today's group worth your time?",)
    assert not catalogue.instrument("group_worth").personal_feedback


def test_single_items_have_no_reliability(catalogue):
    for instrument in catalogue.instruments.values():
        if instrument.is_single_item:
            assert instrument.reliability is None


def test_every_option_fits_slack(catalogue):
    for instrument in catalogue.instruments.values():
        assert 2 <= len(instrument.options) <= 10
        for option in instrument.options:
            assert len(option.label) <= 75
            assert option.description is None or len(option.description) <= 75


def test_surveys_ask_the_right_instruments(catalogue):
    assert catalogue.survey("pulse").instruments == ("burnout", "who5", "group_worth")
    everything_but_feedback = {"burnout", "who5", "phq2", "meaning", "connection", "intent_to_leave"}
    assert set(catalogue.survey("baseline").instruments) == everything_but_feedback
    assert set(catalogue.survey("follow_up").instruments) == everything_but_feedback
    for survey in catalogue.surveys.values():
        assert len(survey.title) <= 24
    # Every survey states its real length: 15 seconds a question at least, rounded up to whole minutes.
    assert catalogue.survey("pulse").length_text() == "7 questions, about 2 minutes"
    assert catalogue.survey("baseline").length_text() == "11 questions, about 3 minutes"


def test_a_survey_cannot_promise_less_time_than_its_questions_take():
    data = minimal_data()
    data["instruments"]["mood"]["items"] = [f"Question {n}?" for n in range(5)]
    with pytest.raises(InstrumentError, match="5 questions take about 2 minutes, not 1"):
        parse_catalogue(data)


def test_unknown_ids_raise_clearly(catalogue):
    with pytest.raises(UnknownInstrument, match="mbi"):
        catalogue.instrument("mbi")
    with pytest.raises(UnknownInstrument, match="weekly"):
        catalogue.survey("weekly")


def test_file_on_disk_is_what_the_package_loads(catalogue):
    assert load_catalogue(TOML_PATH.read_text(encoding="utf-8")) == catalogue


def test_minimal_data_is_valid():
    catalogue = parse_catalogue(minimal_data())
    mood = catalogue.instrument("mood")
    assert mood.band_for(1) == "Low" and mood.band_for(2) == "OK"
    assert catalogue.crisis_flags == {"mood": ("low",)}


def mutate(change):
    data = copy.deepcopy(minimal_data())
    change(data)
    return data


def _set(path, value):
    def change(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


MOOD = ("instruments", "mood")
BAD_DATA = [
    (_set(MOOD + ("options", 0, "label"), "x" * 76), "exceed the limit of 75"),
    (_set(MOOD + ("options", 0, "description"), "y" * 76), "exceed the limit of 75"),
    (_set(MOOD + ("options",), [{"value": i, "label": str(i)} for i in range(11)]), "2 to 10 options"),
    (_set(MOOD + ("options", 1, "value"), 0), "distinct"),
    (_set(MOOD + ("options", 1, "value"), "1"), "integer"),
    (_set(MOOD + ("items",), []), "at least one item"),
    (_set(MOOD + ("multiplier",), 0), "positive integer"),
    (_set(MOOD + ("flags", 0, "at_most"), 40), "outside the instrument's range"),
    (_set(MOOD + ("flags", 0, "at_least"), 1), "exactly one of"),
    (_set(MOOD + ("bands",), [{"label": "Low", "at_most": 1}, {"label": "OK", "above": 1}]), "last band"),
    (_set(MOOD + ("bands",), [{"label": "Low"}, {"label": "OK"}]), "only the last band"),
    (_set(MOOD + ("reliability",), 1.2), "between 0 and 1"),
    (_set(MOOD + ("reference_sd",), -1), "positive"),
    (_set(MOOD + ("licence",), ""), "licence"),
    (_set(MOOD + ("colour",), "blue"), "unknown field"),
    (_set(MOOD + ("higher_is_better",), "yes"), "true or false"),
    (_set(("surveys", "daily", "title"), "A title that is far too long"), "limit of 24"),
    (_set(("surveys", "daily", "instruments"), ["mood", "mbi"]), "unknown instrument 'mbi'"),
    (_set(("surveys", "daily", "minutes"), 0), "positive integer"),
]


@pytest.mark.parametrize("change, message", BAD_DATA)
def test_invalid_data_is_rejected_with_its_path(change, message):
    with pytest.raises(InstrumentError, match=message):
        parse_catalogue(mutate(change))


def test_reliability_is_refused_on_a_single_item():
    data = mutate(_set(MOOD + ("items",), ["Only one"]))
    with pytest.raises(InstrumentError, match="single items are group-level signals"):
        parse_catalogue(data)


def test_ids_cannot_break_block_ids():
    data = minimal_data()
    data["instruments"]["bad__id"] = data["instruments"].pop("mood")
    data["surveys"] = {}
    with pytest.raises(InstrumentError, match="double underscores"):
        parse_catalogue(data)


def test_reliability_needs_a_reference_sd_and_sources():
    data = mutate(_set(MOOD + ("reference_sd",), None))
    del data["instruments"]["mood"]["reference_sd"]
    with pytest.raises(InstrumentError, match="reference_sd: required"):
        parse_catalogue(data)
    data = minimal_data()
    del data["instruments"]["mood"]["reliability_source"]
    with pytest.raises(InstrumentError, match="cite"):
        parse_catalogue(data)


def test_invalid_toml_is_an_instrument_error():
    with pytest.raises(InstrumentError, match="not valid TOML"):
        load_catalogue("[instruments\n")


# The published wordings, word for word ------------------------------------------------------

PUBLISHED_BURNOUT_STATEMENTS = [
    "I enjoy my work. I have no symptoms of burnout.",
    "Occasionally I am under stress, and I don't always have as much energy as I once did, but I don't feel burned out.",
    "I am definitely burning out and have one or more symptoms of burnout, such as physical and emotional exhaustion.",
    "The symptoms of burnout that I'm experiencing won't go away. I think about frustration at work a lot.",
    "I feel completely burned out and often wonder if I can go on. I am at the point where I may need some changes "
    "or may need to seek some sort of help.",
]


def test_burnout_options_read_as_the_published_statements(catalogue):
    burnout = catalogue.instrument("burnout")
    assert burnout.items == ("Overall, based on your definition of burnout, how would you rate your level of burnout?",)
    read = [" ".join(part for part in (o.label, o.description) if part) for o in burnout.options]
    assert read == PUBLISHED_BURNOUT_STATEMENTS
    assert [o.value for o in burnout.options] == [1, 2, 3, 4, 5]


def test_phq2_stem_and_items_are_the_published_wording(catalogue):
    phq2 = catalogue.instrument("phq2")
    assert phq2.stem == "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
    assert phq2.items == ("Little interest or pleasure in doing things", "Feeling down, depressed, or hopeless")
    assert [o.label for o in phq2.options] == ["Not at all", "Several days", "More than half the days", "Nearly every day"]


def test_who5_reliability_and_sd_say_where_they_come_from(catalogue):
    who5 = catalogue.instrument("who5")
    assert "epilepsy" in who5.reliability_source and "not in physicians" in who5.reliability_source
    assert who5.reference_sd_source.startswith("Not a published figure: derived")
    assert "epilepsy" in who5.reference_sd_source
