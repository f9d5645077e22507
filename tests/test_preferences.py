"""A person's message preferences in App Home: the hour-before reminder is their choice, and so
are their quiet hours."""

from __future__ import annotations

import json

from tests.support.waiting import eventually
from tests.test_enrolment_flow import ANA, join, member


def test_the_hour_before_reminder_and_quiet_hours_are_chosen_in_app_home(slack, standin, engine):
    joined = join(slack, standin, engine)
    assert joined.remind_hour_before is False and (joined.quiet_start, joined.quiet_end) == ("21:00", "07:00")
    home = json.dumps(eventually(lambda: standin.home_view(ANA)))
    assert "Reminders: the day before each session." in home and "Quiet hours: none from 21:00 to 07:00" in home
    assert "waits until 07:30" in home

    slack.action(ANA, "prefs_hour_before", "on")
    eventually(lambda: member(engine).remind_hour_before is True)
    eventually(lambda: "and an hour before" in json.dumps(standin.home_view(ANA)))

    payload = {
        "type": "block_actions", "team": {"id": slack.team_id, "domain": "compass"},
        "user": {"id": ANA, "username": "ana", "name": "ana", "team_id": slack.team_id}, "api_app_id": "A0COMPASS",
        "trigger_id": "1.2.3", "container": {"type": "view"},
        "actions": [{"type": "static_select", "action_id": "prefs_quiet_hours", "block_id": "home_prefs",
                     "selected_option": {"text": {"type": "plain_text", "text": "22:00 to 06:00"}, "value": "22-06"},
                     "action_ts": "1.0"}],
    }
    assert slack.interaction(payload).status_code == 200
    changed = eventually(lambda: (m := member(engine)) and m.quiet_start == "22:00" and m)
    assert changed.quiet_end == "06:00"
    eventually(lambda: "waits until 06:30" in json.dumps(standin.home_view(ANA)))

    slack.action(ANA, "prefs_hour_before", "off")
    eventually(lambda: member(engine).remind_hour_before is False)
