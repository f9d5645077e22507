"""Times in the reader's own zone: Slack's ``<!date^…>`` token with a fallback."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.slack.render import fallback_text, reader_time, reader_time_fallbacks


def test_the_token_carries_the_epoch_and_a_fallback():
    moment = datetime(2027, 2, 2, 0, 0, tzinfo=timezone.utc)
    token = reader_time(moment, "Mon 1 Feb, 18:00 CST")
    assert token == "<!date^1801526400^{date_long_pretty} at {time}|Mon 1 Feb, 18:00 CST>"


def test_the_same_moment_in_any_zone_gives_the_same_token():
    utc = datetime(2027, 7, 1, 16, 30, tzinfo=timezone.utc)
    local = utc.astimezone(ZoneInfo("Asia/Kolkata"))
    assert reader_time(utc, "x") == reader_time(local, "x")


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError):
        reader_time(datetime(2027, 1, 1, 9, 0), "x")


def test_notifications_show_the_fallback_not_the_token():
    text = f"Reminder: *Peer group* meets {reader_time(datetime(2027, 1, 5, 0, 0, tzinfo=timezone.utc), 'Mon 4 Jan, 18:00 CST')}"
    assert reader_time_fallbacks(text) == "Reminder: *Peer group* meets Mon 4 Jan, 18:00 CST"
    assert fallback_text(text) == "Reminder: Peer group meets Mon 4 Jan, 18:00 CST"


def test_markup_in_the_fallback_is_escaped():
    assert reader_time(datetime(2027, 1, 5, tzinfo=timezone.utc), "a<b>").endswith("|a&lt;b&gt;>")
