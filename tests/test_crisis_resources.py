"""Crisis resources by country, with their hours, from the member's stated country (issue 16, point 7)."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from bot.domain.crisis import NON_URGENT, OTHER, TABLE, country_of_timezone, resources_for
from bot.flows.join_form import join_view, parse_join_submission
from bot.runtime.settings import Settings
from storage.models import Member
from tests.support.forms import join_values
from tests.support.waiting import eventually

# country: (emergency number, a line that must be there, numbers that must not be)
EXPECTED = {
    "US": ("911", "988 Suicide & Crisis Lifeline: call or text *988*, 24 hours a day, 7 days a week.", ["116 123", "13 11 14"]),
    "CA": ("911", "988 Suicide Crisis Helpline: call or text *988*, 24 hours a day, 7 days a week.", ["1-888-409-0141", "116 123"]),
    "GB": ("999", "Samaritans: call *116 123*, 24 hours a day, 7 days a week (free).", ["988", "1-888-409-0141"]),
    "IE": ("112 or 999", "Samaritans: call *116 123*, 24 hours a day, 7 days a week (free).", ["988", "911"]),
    "AU": ("000", "Lifeline: call *13 11 14*, 24 hours a day, 7 days a week.", ["988", "116 123"]),
    "NZ": ("111", "Need to talk?: call or text *1737*, 24 hours a day, 7 days a week (free).", ["988", "13 11 14"]),
}


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_each_country_has_its_own_lines_with_their_hours(code):
    emergency, line, absent = EXPECTED[code]
    resources = resources_for(code)
    assert resources.code == code and resources.emergency_number == emergency
    lines = resources.lines()
    assert line in lines
    assert lines[-1] == NON_URGENT and "own doctor" in NON_URGENT and "employee assistance program" in NON_URGENT
    for resource in resources.resources:
        assert resource.hours and resource.hours in resource.line()
    for number in absent:
        assert not any(number in text for text in lines), (code, number)


def test_the_physician_support_line_shows_its_hours_and_who_it_serves():
    (psl,) = [r for r in TABLE["US"].resources if r.name == "Physician Support Line"]
    assert psl.line() == (
        "Physician Support Line: call *1-888-409-0141*, 8am to 1am Eastern time, 7 days a week "
        "(free and confidential, volunteer psychiatrists, for US physicians and medical students)."
    )


def test_the_stated_country_wins_over_the_deployment_and_elsewhere_gets_no_foreign_numbers():
    assert resources_for("GB", deployment_country="US").code == "GB"
    assert resources_for(None, deployment_country="NZ").code == "NZ"
    assert resources_for("uk").code == "GB"
    elsewhere = resources_for("OTHER", deployment_country="US")
    assert elsewhere is OTHER and elsewhere.emergency_number is None and elsewhere.lines() == [NON_URGENT]


def test_a_deployment_replaces_the_lines_and_number_of_its_own_country_only():
    own = resources_for(None, deployment_country="AU", deployment_lines=["Hospital line *1234*, 24/7."],
                        deployment_emergency_number="000 (or 112 from a mobile)")
    assert own.lines() == ["Hospital line *1234*, 24/7.", NON_URGENT]
    assert own.emergency_number == "000 (or 112 from a mobile)"
    visitor = resources_for("NZ", deployment_country="AU", deployment_lines=["Hospital line *1234*, 24/7."],
                            deployment_emergency_number="000")
    assert visitor.emergency_number == "111" and "Hospital line *1234*, 24/7." not in visitor.lines()


def test_settings_choose_by_country_and_default_to_the_deployment(monkeypatch):
    monkeypatch.setenv("COMPASS_COUNTRY", "IE")
    settings = Settings(_env_file=None)
    assert settings.crisis_for("").code == "IE" and settings.crisis_for("CA").code == "CA"
    assert any("116 123" in line for line in settings.crisis_resources)
    monkeypatch.setenv("COMPASS_EMERGENCY_NUMBER", "112")
    assert Settings(_env_file=None).crisis_for(None).emergency_number == "112"


def test_the_profile_form_asks_for_the_country_defaulting_to_the_deployment():
    view = join_view(member=None, timezone="Europe/London", min_group=5, needs_consent=False, country="GB")
    block = next(b for b in view["blocks"] if b.get("block_id") == "country")
    assert [o["value"] for o in block["element"]["options"]] == ["US", "CA", "GB", "IE", "AU", "NZ", "OTHER"]
    assert block["element"]["initial_option"]["value"] == "GB"
    profile, errors = parse_join_submission(join_values(country="NZ"), needs_consent=True, slack_timezone="Europe/London")
    assert errors == {} and profile.country == "NZ"
    _, errors = parse_join_submission(join_values(country="XX"), needs_consent=True, slack_timezone="Europe/London")
    assert "country" in errors


def test_joining_takes_the_country_from_the_slack_profiles_time_zone():
    # Joining does not ask the country (five fields at most); the time zone places the person.
    assert [country_of_timezone(z) for z in ("Europe/London", "America/Toronto", "Pacific/Auckland", "Europe/Paris", "UTC")] == [
        "GB", "CA", "NZ", "OTHER", None]
    view = join_view(member=None, timezone="Europe/London", min_group=5, needs_consent=True, country="US")
    assert "country" not in [b.get("block_id") for b in view["blocks"]]


def test_joining_shows_the_not_monitored_notice_and_the_members_resources_once_and_keeps_them_on_home(slack, standin, engine):
    user = "U0ANA"
    slack.command(user, "join")
    view = eventually(lambda: standin.calls_to("views.open"))[-1].args["view"]
    answer = slack.view_submission(user, view, join_values(country="GB"))
    assert answer.status_code == 200
    with_country = eventually(lambda: (m := _member(engine, user)) and m.status == "active" and m)
    assert with_country.country == "GB"
    welcome = json.dumps(answer.json()["view"]["blocks"])  # the welcome replaces the form in its modal
    assert "This bot is not monitored" in welcome
    assert "Samaritans: call *116 123*, 24 hours a day, 7 days a week (free)." in welcome
    assert "call 999" in welcome and "988" not in welcome and "employee assistance program" in welcome
    home = json.dumps(eventually(lambda: standin.home_view(user)))
    assert "not monitored" in home and "116 123" in home and "988" not in home

    # Editing the profile later does not repeat the notice; it stays on the Home tab.
    slack.command(user, "join")
    view = eventually(lambda: len(standin.calls_to("views.open")) >= 2 and standin.calls_to("views.open"))[-1].args["view"]
    updated = json.dumps(slack.view_submission(user, view, join_values(consent=None, country="GB")).json()["view"]["blocks"])
    assert "profile is updated" in updated and "not monitored" not in updated


def _member(engine, user_id: str) -> Member | None:  # noqa: ANN001
    with Session(engine) as session:
        return session.exec(select(Member).where(Member.slack_user_id == user_id)).first()
