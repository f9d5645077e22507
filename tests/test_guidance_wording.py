"""What leads, mentors and members read follows COMPASS and the mentoring reviews (issue 16: points 3 and 6)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bot.domain.curriculum import load_catalogue
from bot.slack.render import render, render_sections
from bot.slack.session_messages import lead_note_blocks, reminder_24h_blocks, session_post_blocks

PROMPTS = Path(__file__).resolve().parents[1] / "bot" / "prompts"
CATALOGUE = load_catalogue()
NORM = "no patient or case details in writing"


def blocks_text(blocks: list[dict]) -> str:
    found = []
    for block in blocks:
        if "text" in block:
            found.append(block["text"]["text"])
        for element in block.get("elements", []):
            if isinstance(element, dict) and "text" in element:
                text = element["text"]
                found.append(text["text"] if isinstance(text, dict) else text)
    return "\n".join(found)


def lead_note(slug: str, norms: str | None = None) -> str:
    message = lead_note_blocks(
        CATALOGUE.get(slug), session_id=1, group_name="A", session_number=3, total_sessions=12,
        session_start_local_text="noon", explanation="x", norms=norms,
    )
    return blocks_text(message.blocks)


def pair_intro() -> str:
    return "\n".join(render_sections("pair_intro.j2", mentee="U1", mentor="U2", reasons=["r"], mentee_about="a", mentor_about="b"))


def test_lead_note_asks_for_at_least_fifteen_minutes_and_never_cuts_a_conversation_off():
    text = lead_note("three-good-things")
    assert "at least 15 minutes" in text
    assert "mid-conversation" not in text and "At 15 minutes, wrap up" not in text
    assert "if the group wants to stay with it, stay" in text


def test_session_post_and_reminder_say_at_least_the_first_fifteen_minutes():
    post = blocks_text(session_post_blocks(CATALOGUE.get("three-good-things"), group_name="A", session_number=3, total_sessions=12).blocks)
    assert "At least the first 15 minutes are for this topic" in post
    reminder = reminder_24h_blocks(CATALOGUE.get("three-good-things"), session_id=1, group_name="A", session_start_local_text="noon", where=None)
    assert "At least the first 15 minutes are on the topic" in blocks_text(reminder.blocks)


def test_the_no_case_details_norm_is_in_the_default_norms_the_welcome_and_the_first_session():
    assert NORM in lead_note("three-good-things")
    post = blocks_text(session_post_blocks(CATALOGUE.get("three-good-things"), group_name="A", session_number=3, total_sessions=12).blocks)
    assert NORM in post
    assert "no patient or case details in writing" in lead_note("introductions-what-brought-us-here")
    welcome = render("group_welcome.j2", group_name="A", member_count=8, lead_id=None)
    assert "no patient or case details in this channel" in welcome


def test_pair_intro_cadence_is_a_few_times_a_year_without_contradiction():
    text = pair_intro()
    assert "a few times a year, roughly every two to three months" in text
    assert "every 4 to 6 weeks" not in text
    assert "no patient or case details in messages" in text


def test_pair_intro_carries_a_short_guide_for_the_mentor():
    text = pair_intro()
    assert "*A short guide for <@U2>, the mentor*" in text
    guide = text.split("the mentor*", 1)[1]
    assert 4 <= guide.count("•") <= 8
    for idea in ("Listen first", "Ask before you advise", "Point to others", "never become their evaluator"):
        assert idea in guide


def test_join_form_promises_the_one_to_two_year_gap_only_to_residents():
    hint = tomllib.loads((PROMPTS / "join_form.toml").read_text(encoding="utf-8"))["near_peer"]["hint"]
    assert hint.startswith("Residents: be paired with a resident a year or two ahead")
    assert "Attendings: with a colleague a few years further into practice" in hint
    assert hint.count("a year or two") == 2 and "Attendings" in hint.split("a year or two")[-1]
