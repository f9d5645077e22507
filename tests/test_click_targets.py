"""Which message a click may change: the bot's own post for the row the click is about."""

from __future__ import annotations

import logging

from slack_sdk import WebClient

from bot.flows.click_targets import dm_channel_of, is_own_post
from bot.runtime.delivery import post_keyed
from tests.conftest import BOT_TOKEN


def test_only_the_bots_post_for_the_row_may_change_and_only_a_forgery_is_a_warning(standin, caplog):
    client = WebClient(token=BOT_TOKEN, base_url=standin.url)
    dm = dm_channel_of(client, "U0ANA")
    after_session = post_keyed(client, channel=dm, key="session:7:1:3:1796706468:attendance", text="Were you there?")
    other = client.chat_postMessage(channel=dm, text="not the bot's keyed post").data

    with caplog.at_level(logging.DEBUG, logger="bot.flows.click_targets"):
        assert is_own_post(client, channel=dm, ts=after_session["ts"], key_prefix="session:7:1:3:", dm_of="U0ANA")
        assert not caplog.records
        # The next session's RSVP on the message after this one: ours, about another row; answered privately.
        assert not is_own_post(client, channel=dm, ts=after_session["ts"], key_prefix="session:7:1:4:", dm_of="U0ANA")
        assert [r.levelno for r in caplog.records] == [logging.DEBUG]
        caplog.clear()
        # A message without the bot's key, or another person's DM: a forged click, logged as a warning.
        assert not is_own_post(client, channel=dm, ts=other["ts"], key_prefix="session:7:1:3:", dm_of="U0ANA")
        assert not is_own_post(client, channel=dm, ts=after_session["ts"], key_prefix="session:7:1:3:", dm_of="U0BEN")
        assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.WARNING]
