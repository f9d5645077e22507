"""The one Slack client: what it retries on the spot, and what it leaves to the clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.runtime.delivery import RetryLater, post_once
from bot.slack.client import call, make_client
from storage.db import utcnow
from storage.models import ScheduledAction
from tests.conftest import BOT_TOKEN


def action(attempts: int) -> ScheduledAction:
    return ScheduledAction(key="session:1:1:1:0:post", kind="session_post", team_id="T0COMPASS", due_at=utcnow() - timedelta(minutes=1),
                           attempts=attempts)


def test_a_lost_answer_to_a_read_is_retried_on_the_spot(standin):
    client = make_client(BOT_TOKEN, standin.url)
    standin.inject("users.info", reset=True)
    assert call(client, "users.info", user="U0ANA").ok
    assert [c.status for c in standin.calls_to("users.info")] == [None, 200]


def test_a_lost_answer_to_a_post_is_not_sent_again_on_the_spot(standin):
    client = make_client(BOT_TOKEN, standin.url)
    standin.inject("chat.postMessage", reset_after=True)
    outcome = call(client, "chat.postMessage", channel="U0ANA", text="Your check-in")
    assert not outcome.ok and outcome.retryable
    assert [m["text"] for m in standin.dm_messages("U0ANA")] == ["Your check-in"]


def test_the_clock_retry_finds_the_post_slack_already_accepted(standin):
    client = make_client(BOT_TOKEN, standin.url)
    standin.inject("chat.postMessage", reset_after=True)
    with pytest.raises(RetryLater):
        post_once(client, action(attempts=1), channel="U0ANA", text="Session 1 starts now")
    found = post_once(client, action(attempts=2), channel="U0ANA", text="Session 1 starts now")
    assert found["ts"] == standin.dm_messages("U0ANA")[0]["ts"]
    assert len(standin.dm_messages("U0ANA")) == 1


def test_the_lookup_reads_every_page_of_a_busy_conversation(standin):
    client = make_client(BOT_TOKEN, standin.url)
    earlier = post_once(client, action(attempts=1), channel="U0ANA", text="Session 1 starts now")
    for n in range(250):
        assert call(client, "chat.postMessage", channel="U0ANA", text=f"later message {n}").ok
    found = post_once(client, action(attempts=2), channel="U0ANA", text="Session 1 starts now")
    assert found["ts"] == earlier["ts"]
    assert len(standin.dm_messages("U0ANA")) == 251
    assert len(standin.calls_to("conversations.history")) == 2
