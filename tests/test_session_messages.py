"""Session messages: every topic through every template, Block Kit limits, escaping, buttons."""

from __future__ import annotations

import json
import re

import pytest

from bot.domain.curriculum import (
    MAX_EXERCISE_INSTRUCTIONS,
    MAX_EXERCISE_NAME,
    MAX_QUESTION,
    MAX_QUESTIONS,
    MAX_TITLE,
    MAX_WHY,
    Exercise,
    Source,
    Topic,
    load_catalogue,
)
from bot.slack.render import MESSAGE_BLOCK_LIMIT
from bot.domain.rotation import TopicChoice, alternatives, choose_next_topic
from bot.slack.session_messages import (
    ACTION_RSVP_GOING,
    ACTION_RSVP_NOT_GOING,
    ACTION_TOPIC_ALTERNATIVES,
    ACTION_TOPIC_CHOOSE,
    Message,
    choose_topic_blocks,
    lead_note_blocks,
    parse_topic_choice_value,
    reminder_1h_blocks,
    reminder_24h_blocks,
    session_post_blocks,
    topic_choice_value,
)

CATALOGUE = load_catalogue()
CRISIS = [
    "Call or text *988* (Suicide & Crisis Lifeline), any time.",
    "Physician Support Line *1-888-409-0141* (free, confidential, volunteer psychiatrists).",
]
ATTACK = "<!channel> <@U0123ABCD> <https://evil.example|click me> *loud* _x_ & more"


def all_messages(topic: Topic, *, group_name: str = "Hospital medicine A", norms: str | None = None, where: str | None = "Room 4B") -> dict[str, Message]:
    choice = choose_next_topic(CATALOGUE, audience="residents", history=[])
    return {
        "post": session_post_blocks(topic, group_name=group_name, session_number=3, total_sessions=12, norms=norms),
        "late post": session_post_blocks(topic, group_name=group_name, session_number=3, total_sessions=12, late=True),
        "lead note": lead_note_blocks(
            topic,
            session_id=17,
            group_name=group_name,
            session_number=3,
            total_sessions=12,
            session_start_local_text="Thursday 14 March, 12:00",
            explanation=choice.explanation,
            norms=norms,
            crisis_resources=CRISIS,
        ),
        "24h": reminder_24h_blocks(topic, session_id=17, group_name=group_name, session_start_local_text="Thursday 12:00", where=where),
        "1h": reminder_1h_blocks(topic, group_name=group_name, session_start_local_text="12:00", where=where),
        "choose": choose_topic_blocks([TopicChoice(topic, choice.explanation, "rotation")], 17),
    }


def texts(blocks: list[dict]) -> list[str]:
    """Every piece of text a person would see in these blocks."""
    found = []
    for block in blocks:
        if "text" in block:
            found.append(block["text"]["text"])
        for element in block.get("elements", []):
            found.append(element["text"]["text"] if isinstance(element.get("text"), dict) else element.get("text", ""))
        if "accessory" in block:
            found.append(block["accessory"]["text"]["text"])
    return found


def assert_fits(message: Message):
    assert 0 < len(message.blocks) <= MESSAGE_BLOCK_LIMIT
    assert message.text and "\n" not in message.text and len(message.text) <= 300
    for text in texts(message.blocks):
        assert text.strip()
        assert len(text) <= 3000


# Every topic, every template -------------------------------------------------------------


@pytest.mark.parametrize("slug", CATALOGUE.slugs())
def test_every_topic_renders_in_every_template_within_limits(slug: str):
    topic = CATALOGUE.get(slug)
    for message in all_messages(topic).values():
        assert_fits(message)
    post = all_messages(topic)["post"]
    body = "\n".join(texts(post.blocks))
    for question in topic.questions:
        assert question in body


def test_longest_possible_custom_topic_still_fits():
    topic = Topic(
        slug="x" * 48,
        title="T" * MAX_TITLE,
        domains=("workload",),
        audience="all",
        why="W" * MAX_WHY,
        questions=tuple(f"{n}" + "q" * (MAX_QUESTION - 2) + "?" for n in range(MAX_QUESTIONS)),
        closing_question="c" * MAX_QUESTION,
        exercise=Exercise("E" * MAX_EXERCISE_NAME, "i" * MAX_EXERCISE_INSTRUCTIONS),
        sources=tuple(Source("A" * 600, 2020, "t" * 600, doi=f"10.1000/{n}") for n in range(10)),
        origin="custom.toml",
    )
    for message in all_messages(topic, group_name="G" * 200, norms="n" * 300, where="w" * 300).values():
        assert_fits(message)


# The session post ------------------------------------------------------------------------


def test_post_puts_the_topic_first_then_social_time_then_norms():
    topic = CATALOGUE.get("three-good-things")
    post = session_post_blocks(topic, group_name="IM", session_number=3, total_sessions=12)
    kinds = [block["type"] for block in post.blocks]
    assert kinds[0] == "header" and post.blocks[0]["text"]["text"] == topic.title
    body = texts(post.blocks)
    order = [
        next(i for i, t in enumerate(body) if "Session 3 of 12" in t and "15 minutes" in t),
        next(i for i, t in enumerate(body) if topic.questions[0] in t),
        next(i for i, t in enumerate(body) if topic.exercise.instructions in t),
        next(i for i, t in enumerate(body) if topic.closing_question in t),
        next(i for i, t in enumerate(body) if "social time" in t.lower() and "meal" in t),
        next(i for i, t in enumerate(body) if "norms" in t),
    ]
    assert order == sorted(order)
    norms = [b for b in post.blocks if b["type"] == "context" and "norms" in b["elements"][0]["text"]]
    assert len(norms) == 1 and "\n" not in norms[0]["elements"][0]["text"]
    assert post.text == "Session 3 of 12 for IM: Three good things"


def test_post_links_each_source():
    topic = CATALOGUE.get("reframing-a-hard-day")
    post = session_post_blocks(topic, group_name="IM", session_number=2, total_sessions=12)
    background = post.blocks[-1]["elements"][0]["text"]
    for source in topic.sources:
        assert f"<https://doi.org/{source.doi}|{source.short_label}>" in background


def test_source_without_doi_is_named_without_a_link():
    topic = CATALOGUE.get("mentors-at-every-stage")
    background = session_post_blocks(topic, group_name="A", session_number=2, total_sessions=12).blocks[-1]["elements"][0]["text"]
    assert "Hernandez-Lee et al., 2018" in background
    assert "<https://doi.org/10.1016/j.ijrobp.2022.05.012|Lin et al., 2022>" in background


def test_late_post_apologises_and_custom_norms_replace_the_default():
    topic = CATALOGUE.get("small-pauses")
    on_time = json.dumps(session_post_blocks(topic, group_name="A", session_number=2, total_sessions=12).blocks)
    late = json.dumps(session_post_blocks(topic, group_name="A", session_number=2, total_sessions=12, late=True, norms="Cameras on").blocks)
    assert "Sorry this is late" in late and "Sorry this is late" not in on_time
    assert "Cameras on" in late and "we listen more than we fix" not in late
    assert "we listen more than we fix" in on_time


# Escaping --------------------------------------------------------------------------------


def raw_angle_brackets(message: Message) -> list[str]:
    """Every ``<...>`` Slack would interpret, in the fallback and in all block text."""
    return re.findall(r"<[^>]*>", message.text + "\n" + "\n".join(texts(message.blocks)))


def test_custom_topic_and_user_text_cannot_mention_or_link():
    topic = Topic(
        slug="custom-topic",
        title=ATTACK[:MAX_TITLE],
        domains=("community",),
        audience="all",
        why=ATTACK,
        questions=(ATTACK, ATTACK + "?", "Fine?"),
        closing_question=ATTACK,
        exercise=Exercise(ATTACK[:MAX_EXERCISE_NAME], ATTACK),
        sources=(Source(ATTACK, 2020, ATTACK, citation=ATTACK),),
        origin="custom.toml",
    )
    messages = all_messages(topic, group_name="<!here> team", norms="<!everyone> rules", where="<https://evil.example|room>")
    for name, message in messages.items():
        links = raw_angle_brackets(message)
        assert all(link.startswith("<https://doi.org/") for link in links), (name, links)
        blob = json.dumps(message.blocks) + message.text
        for dangerous in ("<!channel>", "<!here>", "<!everyone>", "<@U0123ABCD>", "<https://evil"):
            assert dangerous not in blob, (name, dangerous)
    post = json.dumps(messages["post"].blocks)
    assert "&lt;!channel&gt;" in post and "&lt;!everyone&gt; rules" in post
    assert "&lt;!here&gt; team" in json.dumps(messages["24h"].blocks)


def test_crisis_resources_keep_bold_but_cannot_mention():
    note = lead_note_blocks(
        CATALOGUE.get("when-things-go-wrong"),
        session_id=1,
        group_name="A",
        session_number=5,
        total_sessions=12,
        session_start_local_text="today",
        explanation="x",
        crisis_resources=["Call *988* <!channel>"],
    )
    blob = "\n".join(texts(note.blocks))
    assert "Call *988* &lt;!channel&gt;" in blob


# Places ----------------------------------------------------------------------------------


def test_meeting_link_becomes_a_link_and_text_stays_text():
    topic = CATALOGUE.get("three-good-things")
    linked = reminder_24h_blocks(topic, session_id=1, group_name="A", session_start_local_text="noon", where="https://zoom.us/j/123?pwd=a_b")
    assert "<https://zoom.us/j/123?pwd=a_b|join link>" in linked.blocks[0]["text"]["text"]
    room = reminder_1h_blocks(topic, group_name="A", session_start_local_text="noon", where="Room 4B")
    assert "Room 4B" in room.blocks[0]["text"]["text"]
    sneaky = reminder_1h_blocks(topic, group_name="A", session_start_local_text="noon", where="https://a.example|<!here>")
    assert raw_angle_brackets(sneaky) == []
    nowhere = reminder_1h_blocks(topic, group_name="A", session_start_local_text="noon", where=None)
    assert " · " not in nowhere.blocks[0]["text"]["text"]


# Buttons ---------------------------------------------------------------------------------


def buttons(message: Message) -> list[dict]:
    found = []
    for block in message.blocks:
        if block["type"] == "actions":
            found += block["elements"]
        if "accessory" in block:
            found.append(block["accessory"])
    return found


def test_reminder_has_rsvp_buttons_carrying_the_session_id():
    message = reminder_24h_blocks(CATALOGUE.get("three-good-things"), session_id="s-42", group_name="A", session_start_local_text="noon")
    assert [(b["action_id"], b["value"]) for b in buttons(message)] == [(ACTION_RSVP_GOING, "s-42"), (ACTION_RSVP_NOT_GOING, "s-42")]
    assert message.text.startswith("Tomorrow: A, noon.")


def test_one_hour_reminder_offers_the_first_question():
    topic = CATALOGUE.get("exam-season")
    message = reminder_1h_blocks(topic, group_name="PGY-2", session_start_local_text="18:00")
    assert topic.questions[0] in message.blocks[-1]["elements"][0]["text"]
    assert buttons(message) == []


def test_lead_note_offers_another_topic_and_covers_open_time_close():
    topic = CATALOGUE.get("feedback-when-its-hard")
    note = lead_note_blocks(
        topic,
        session_id=9,
        group_name="Surgery",
        session_number=4,
        total_sessions=12,
        session_start_local_text="Tuesday 12:00",
        explanation="Next in the rotation: feedback, a theme your group has not discussed yet.",
        crisis_resources=CRISIS,
    )
    # The lead's tools, no syntax: Skip, Move…, Change topic, Where… (each carries the session).
    assert [(b["action_id"], b["value"]) for b in buttons(note)] == [
        ("lead_skip", "9"), ("lead_move", "9"), (ACTION_TOPIC_ALTERNATIVES, "9"), ("lead_place", "9")]
    assert note.text == "You're leading Surgery (Tuesday 12:00): Feedback when it is hard"
    blob = "\n".join(texts(note.blocks))
    for heading in ("*Open", "*The topic (at least 15 minutes)*", "*Close", "*If it gets heavy*"):
        assert heading in blob
    assert "Next in the rotation: feedback" in blob and topic.closing_question in blob
    assert "988" in blob and "1-888-409-0141" in blob


def test_lead_note_adapts_to_introductions_and_closing():
    def note(slug: str) -> str:
        message = lead_note_blocks(
            CATALOGUE.get(slug), session_id=1, group_name="A", session_number=1, total_sessions=12,
            session_start_local_text="noon", explanation="x",
        )
        return "\n".join(texts(message.blocks))

    assert "Agree the group's norms together" in note("introductions-what-brought-us-here")
    assert "stay, switch groups or take a break" in note("closing-thanks-and-next-steps")
    assert "Agree the group's norms" not in note("three-good-things")


def test_choose_topic_offers_a_button_per_alternative():
    history = ["introductions-what-brought-us-here", "new-rotation-new-team"]
    scheduled = choose_next_topic(CATALOGUE, audience="residents", history=history)
    options = alternatives(CATALOGUE, audience="residents", history=history, scheduled=scheduled.topic.slug)
    message = choose_topic_blocks(options, "s-7")
    found = buttons(message)
    assert [b["action_id"] for b in found] == [ACTION_TOPIC_CHOOSE] * 3
    assert [parse_topic_choice_value(b["value"]) for b in found] == [("s-7", o.topic.slug) for o in options]
    blob = "\n".join(texts(message.blocks))
    for option in options:
        assert option.topic.title in blob and option.explanation in blob and f"`{option.topic.slug}`" in blob
    assert "3 other topics" in blob


def test_choose_topic_with_no_alternatives_says_so():
    message = choose_topic_blocks([], "s-7")
    assert buttons(message) == []
    assert "scheduled topic stays" in "\n".join(texts(message.blocks))
    assert message.text == "No other topic fits this session right now"


def test_topic_choice_values_round_trip():
    assert topic_choice_value(12, "three-good-things") == "12:three-good-things"
    assert parse_topic_choice_value("12:three-good-things") == ("12", "three-good-things")
    assert parse_topic_choice_value("team:T1:12:x") == ("team:T1:12", "x")
    for bad in ("", "nocolon", ":slug", "12:"):
        with pytest.raises(ValueError):
            parse_topic_choice_value(bad)


def test_notification_text_drops_emphasis_but_keeps_emoji():
    from bot.slack.render import fallback_text

    assert fallback_text("*Session 3* is _today_ :palm_tree: at `18:00`\nmore") == "Session 3 is today :palm_tree: at 18:00"
