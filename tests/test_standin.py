"""The Slack Web API stand-in, driven only through the real slack_sdk WebClient over HTTP."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import freezegun
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.slack.scopes import CONVERSATION_KINDS, METHOD_SCOPES, scope_needed
from bot.standin import UPLOAD_CALL, RateLimits, SlackStandIn

TOKEN = "xoxb-test"
BOT = "UBOT"
ANA, BEN, CAL, DEE = "U01ANA", "U01BEN", "U01CAL", "U01DEE"
FROZEN_EPOCH = 1_700_000_000  # 2023-11-14 22:13:20 UTC
FAST_RETRY = FixedValueRetryIntervalCalculator(0.01)
# Suites commonly tell freezegun to leave HTTP server plumbing on real time; the stand-in must
# still read the frozen clock (freezegun decides by looking 5 frames up the caller's stack).
SERVER_PLUMBING = ["http.server", "socketserver", "selectors", "threading"]


ALL_SCOPES = {scope_needed(m, k) for m in METHOD_SCOPES for k in CONVERSATION_KINDS} - {None}


def frozen():
    return freezegun.freeze_time("2023-11-14 22:13:20", ignore=list(SERVER_PLUMBING))


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded():
    standin = SlackStandIn(team_id="T0COMPASS", team_name="Compass Health", bot_token=TOKEN, bot_user_id=BOT)
    standin.granted_scopes = ALL_SCOPES  # these tests exercise every method, beyond what the bot needs
    standin.add_user(ANA, name="ana", real_name="Ana Ruiz", tz="America/Chicago", email="ana@example.org")
    standin.add_user(BEN, name="ben", real_name="Ben Okafor", tz="America/Denver", email="Ben@Example.org")
    standin.add_user(CAL, name="cal", real_name="Cal Ng", is_admin=True)
    standin.add_user(DEE, name="dee", real_name="Dee Former", deleted=True, email="dee@example.org")
    channels = SimpleNamespace(
        general=standin.add_channel("general", members=(ANA, BEN, CAL, BOT)),
        lounge=standin.add_channel("physicians-lounge", members=(ANA, BEN)),
        leadership=standin.add_channel("leadership", is_private=True, members=(CAL,)),
        wellbeing=standin.add_channel("wellbeing-team", is_private=True, members=(CAL, BOT)),
    )
    with standin:
        yield SimpleNamespace(standin=standin, channels=channels)


@pytest.fixture
def standin(seeded):
    server = seeded.standin
    server.reset()
    server.latency = 0.0
    server.rate_limits = None
    server.trigger_ttl = 3.0
    return server


@pytest.fixture
def channels(seeded):
    return seeded.channels


@pytest.fixture
def client(standin):
    return WebClient(token=TOKEN, base_url=standin.url)


@pytest.fixture
def no_jitter(monkeypatch):
    """RateLimitErrorRetryHandler sleeps Retry-After plus random(); keep the test fast and exact."""
    monkeypatch.setattr(builtin_handlers, "random", SimpleNamespace(random=lambda: 0.0))


def error_of(call) -> str:  # noqa: ANN001
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value.response["error"]


def failure(call):  # noqa: ANN001, ANN201
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value.response


def section(text: str, **extra) -> dict:  # noqa: ANN003
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def plain(text: str) -> dict:
    return {"type": "plain_text", "text": text}


def button(text: str = "Go", action_id: str = "go", **extra) -> dict:  # noqa: ANN003
    return {"type": "button", "text": plain(text), "action_id": action_id, **extra}


def select(options: list[dict], action_id: str = "pick") -> dict:
    return {"type": "static_select", "action_id": action_id, "placeholder": plain("Choose"), "options": options}


def option(text: str = "Option", value: str = "v") -> dict:
    return {"text": plain(text), "value": value}


def modal(blocks: list[dict] | None = None, **extra) -> dict:  # noqa: ANN003
    return {"type": "modal", "title": plain("Join COMPASS"), "blocks": blocks or [section("Hello")], **extra}


def text_input_block(block_id: str = "goals", label: str = "Your goals", **extra) -> dict:  # noqa: ANN003
    return {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "element": {"type": "plain_text_input", "action_id": "value"},
        **extra,
    }


# -- auth and directory -------------------------------------------------------------------------


def test_auth_test_identifies_the_bot_and_workspace(client):
    reply = client.auth_test()
    assert (reply["team_id"], reply["user_id"], reply["team"]) == ("T0COMPASS", BOT, "Compass Health")
    assert reply["url"] == "https://compass-health.slack.com/"


def test_missing_token_is_not_authed(standin):
    assert error_of(lambda: WebClient(base_url=standin.url).auth_test()) == "not_authed"


def test_unknown_token_is_invalid_auth(standin):
    assert error_of(lambda: WebClient(token="xoxb-wrong", base_url=standin.url).users_list()) == "invalid_auth"


def test_token_may_be_a_form_argument(standin):
    reply = WebClient(base_url=standin.url).api_call("auth.test", params={"token": TOKEN})
    assert reply["ok"] and reply["user_id"] == BOT
    assert standin.calls_to("auth.test")[-1].token == TOKEN


def test_unknown_method(client):
    assert error_of(lambda: client.api_call("conversations.teleport")) == "unknown_method"


def test_team_info(client):
    assert client.team_info()["team"] == {
        "id": "T0COMPASS",
        "name": "Compass Health",
        "domain": "compass-health",
        "email_domain": "",
        "icon": {"image_default": True},
    }
    assert error_of(lambda: client.team_info(team="T0OTHER")) == "team_not_found"


def test_users_info(client):
    user = client.users_info(user=ANA)["user"]
    assert user["real_name"] == "Ana Ruiz" and user["tz"] == "America/Chicago"
    assert user["tz_offset"] in (-6 * 3600, -5 * 3600)
    assert user["profile"]["email"] == "ana@example.org"
    assert client.users_info(user=CAL)["user"]["is_admin"] is True
    assert error_of(lambda: client.users_info(user="U0NOBODY")) == "user_not_found"
    assert error_of(lambda: client.api_call("users.info", params={})) == "user_not_found"


def test_users_list_pages_with_cursor(client):
    first = client.users_list(limit=2)
    assert len(first["members"]) == 2
    cursor = first["response_metadata"]["next_cursor"]
    rest = client.users_list(limit=10, cursor=cursor)
    everyone = [u["id"] for u in first["members"] + rest["members"]]
    assert sorted(everyone) == sorted([BOT, ANA, BEN, CAL, DEE])
    assert rest["response_metadata"]["next_cursor"] == ""
    assert error_of(lambda: client.users_list(cursor="not-a-cursor")) == "invalid_cursor"


def test_users_lookup_by_email_ignores_case_and_deactivated_people(client):
    assert client.users_lookupByEmail(email="ben@example.ORG")["user"]["id"] == BEN
    assert error_of(lambda: client.users_lookupByEmail(email="nobody@example.org")) == "users_not_found"
    assert error_of(lambda: client.users_lookupByEmail(email="dee@example.org")) == "users_not_found"


# -- conversations ----------------------------------------------------------------------------------


def test_create_channel_public_and_private(client, standin):
    public = client.conversations_create(name="compass-group-1")["channel"]
    private = client.conversations_create(name="compass_group_2", is_private=True)["channel"]
    assert public["name"] == "compass-group-1" and public["is_private"] is False and public["is_member"] is True
    assert private["is_private"] is True
    assert standin.members(private["id"]) == [BOT]


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("Compass", "invalid_name_specials"),
        ("compass group", "invalid_name_specials"),
        ("compass.group", "invalid_name_specials"),
        ("x" * 81, "invalid_name_maxlength"),
        ("---", "invalid_name_punctuation"),
        ("", "invalid_name_required"),
        ("general", "name_taken"),
    ],
)
def test_create_channel_name_rules(client, name, error):
    assert error_of(lambda: client.conversations_create(name=name)) == error


def test_create_channel_accepts_80_characters(client):
    assert client.conversations_create(name="x" * 80)["ok"]


def test_invite_adds_members(client, standin):
    created = client.conversations_create(name="compass-group-3", is_private=True)["channel"]["id"]
    reply = client.conversations_invite(channel=created, users=[ANA, BEN])
    assert reply["channel"]["id"] == created
    assert standin.members(created) == [BOT, ANA, BEN]


def test_invite_errors(client, channels):
    assert error_of(lambda: client.conversations_invite(channel=channels.general, users=[ANA])) == "already_in_channel"
    unknown = "U0NOBODY"
    assert error_of(lambda: client.conversations_invite(channel=channels.general, users=[unknown])) == "user_not_found"
    assert error_of(lambda: client.conversations_invite(channel=channels.general, users=[BOT])) == "cant_invite_self"
    assert error_of(lambda: client.conversations_invite(channel="C0MISSING", users=[ANA])) == "channel_not_found"
    assert error_of(lambda: client.conversations_invite(channel=channels.leadership, users=[ANA])) == "not_in_channel"
    assert error_of(lambda: client.api_call("conversations.invite", params={"channel": channels.general})) == "no_user"


def test_invite_reports_each_failure_and_adds_nobody(client, standin, channels):
    response = failure(lambda: client.conversations_invite(channel=channels.wellbeing, users=[ANA, "U0NOBODY"]))
    assert response["errors"] == [{"user": "U0NOBODY", "ok": False, "error": "user_not_found"}]
    assert ANA not in standin.members(channels.wellbeing)


def test_open_dm_with_one_user(client, standin):
    reply = client.conversations_open(users=ANA)
    dm = reply["channel"]["id"]
    assert dm.startswith("D") and dm == standin.dm_channel(ANA)
    again = client.conversations_open(users=[ANA], return_im=True)
    assert again["channel"]["id"] == dm and again["channel"]["is_im"] and again["already_open"]


def test_open_mpim_reuses_the_channel_for_the_same_people(client, standin):
    first = client.conversations_open(users=[ANA, BEN, CAL])["channel"]["id"]
    assert first.startswith("G")
    second = client.conversations_open(users=[CAL, ANA, BEN])
    assert second["channel"]["id"] == first and second["already_open"] is True
    other = client.conversations_open(users=[ANA, BEN])["channel"]["id"]
    assert other != first
    assert set(standin.members(first)) == {ANA, BEN, CAL, BOT}
    assert client.conversations_info(channel=first)["channel"]["is_mpim"] is True


def test_open_errors(client):
    assert error_of(lambda: client.api_call("conversations.open", params={})) == "users_list_not_supplied"
    assert error_of(lambda: client.conversations_open(users=["U0NOBODY"])) == "user_not_found"
    nine = [f"U{n:08d}" for n in range(9)]
    assert error_of(lambda: client.conversations_open(users=nine)) == "too_many_users"


def test_info_and_members(client, channels):
    info = client.conversations_info(channel=channels.lounge, include_num_members=True)["channel"]
    assert info["name"] == "physicians-lounge" and info["num_members"] == 2 and info["is_member"] is False
    assert client.conversations_members(channel=channels.general)["members"] == [ANA, BEN, CAL, BOT]
    page = client.conversations_members(channel=channels.general, limit=3)
    assert len(page["members"]) == 3 and page["response_metadata"]["next_cursor"]
    assert error_of(lambda: client.conversations_info(channel="C0MISSING")) == "channel_not_found"
    assert error_of(lambda: client.conversations_info(channel=channels.leadership)) == "channel_not_found"
    assert error_of(lambda: client.api_call("conversations.members", params={})) == "channel_not_found"


def test_archive_blocks_posting(client, standin):
    created = client.conversations_create(name="compass-cycle-1")["channel"]["id"]
    assert client.conversations_archive(channel=created)["ok"]
    assert client.conversations_info(channel=created)["channel"]["is_archived"] is True
    assert standin.conversation(created)["is_archived"] is True
    assert error_of(lambda: client.conversations_archive(channel=created)) == "already_archived"
    assert error_of(lambda: client.chat_postMessage(channel=created, text="hello")) == "is_archived"
    assert error_of(lambda: client.conversations_archive(channel=standin.dm_channel(ANA))) == (
        "method_not_supported_for_channel_type"
    )


def test_set_topic(client, channels):
    reply = client.conversations_setTopic(channel=channels.general, topic="Session 3: meaning in work")
    assert reply["channel"]["topic"]["value"] == "Session 3: meaning in work"
    assert error_of(lambda: client.conversations_setTopic(channel=channels.general, topic="x" * 251)) == "too_long"
    assert error_of(lambda: client.conversations_setTopic(channel=channels.leadership, topic="hi")) == "not_in_channel"


def test_history_filters_and_pages(client, channels):
    sent = [client.chat_postMessage(channel=channels.general, text=f"message {n}")["ts"] for n in range(5)]
    newest_first = client.conversations_history(channel=channels.general)["messages"]
    assert [m["ts"] for m in newest_first] == sent[::-1]
    after_second = client.conversations_history(channel=channels.general, oldest=sent[1])["messages"]
    assert [m["text"] for m in after_second] == ["message 4", "message 3", "message 2"]
    inclusive = client.conversations_history(channel=channels.general, oldest=sent[1], inclusive=True)["messages"]
    assert len(inclusive) == 4
    first_page = client.conversations_history(channel=channels.general, limit=2)
    assert [m["text"] for m in first_page["messages"]] == ["message 4", "message 3"] and first_page["has_more"]
    second_page = client.conversations_history(
        channel=channels.general, limit=2, cursor=first_page["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in second_page["messages"]] == ["message 2", "message 1"]


def test_history_keeps_metadata_unless_asked_and_hides_thread_replies(client, channels):
    metadata = {"event_type": "session_posted", "event_payload": {"group": 7, "session": 3}}
    parent = client.chat_postMessage(channel=channels.general, text="Session 3", metadata=metadata)["ts"]
    client.chat_postMessage(channel=channels.general, text="a reply", thread_ts=parent)
    plain_history = client.conversations_history(channel=channels.general)["messages"]
    assert [m["text"] for m in plain_history] == ["Session 3"]
    assert "metadata" not in plain_history[0]
    assert plain_history[0]["reply_count"] == 1
    with_metadata = client.conversations_history(channel=channels.general, include_all_metadata=True)["messages"]
    assert with_metadata[0]["metadata"] == metadata
    thread = client.conversations_replies(channel=channels.general, ts=parent)["messages"]
    assert [m["text"] for m in thread] == ["Session 3", "a reply"]


def test_history_of_a_private_channel_needs_membership(client, channels):
    assert error_of(lambda: client.conversations_history(channel=channels.leadership)) == "not_in_channel"
    assert client.conversations_history(channel=channels.wellbeing)["messages"] == []


# -- chat -------------------------------------------------------------------------------------------


def test_post_message_to_a_user_id_goes_to_the_bots_dm(client, standin):
    reply = client.chat_postMessage(channel=ANA, text="Welcome to COMPASS")
    assert reply["channel"] == standin.dm_channel(ANA) and reply["channel"].startswith("D")
    [message] = standin.dm_messages(ANA)
    assert message["text"] == "Welcome to COMPASS" and message["user"] == BOT and message["ts"] == reply["ts"]


def test_post_message_stores_blocks_metadata_and_threads(client, standin, channels):
    blocks = [section("*Session 3*"), {"type": "divider"}]
    metadata = {"event_type": "session_posted", "event_payload": {"session": 3}}
    parent = client.chat_postMessage(channel=channels.general, text="Session 3", blocks=blocks, metadata=metadata)
    reply = client.chat_postMessage(channel=channels.general, text="Reminder", thread_ts=parent["ts"])
    first, second = standin.messages(channels.general)
    assert first["blocks"] == blocks and first["metadata"] == metadata and first["reply_count"] == 1
    assert second["thread_ts"] == parent["ts"] and second["ts"] == reply["ts"]


def test_post_message_content_errors(client, channels):
    assert error_of(lambda: client.api_call("chat.postMessage", json={"channel": channels.general})) == "no_text"
    assert error_of(lambda: client.chat_postMessage(channel=channels.general, text="x" * 40_001)) == "msg_too_long"
    assert client.chat_postMessage(channel=channels.general, text="x" * 40_000)["ok"]
    assert error_of(lambda: client.chat_postMessage(channel=channels.general, text="hi", metadata={"x": 1})) == (
        "invalid_metadata_format"
    )


def test_post_message_channel_errors(client, channels):
    assert error_of(lambda: client.api_call("chat.postMessage", json={"text": "hi"})) == "channel_not_found"
    assert error_of(lambda: client.chat_postMessage(channel="C0MISSING", text="hi")) == "channel_not_found"
    assert error_of(lambda: client.chat_postMessage(channel=channels.leadership, text="hi")) == "not_in_channel"
    assert client.chat_postMessage(channel=channels.wellbeing, text="hi")["ok"]


def test_blocks_may_arrive_as_a_json_string_in_a_form_body(client, standin, channels):
    blocks = [section("From a form")]
    reply = client.api_call("chat.postMessage", params={"channel": channels.general, "blocks": json.dumps(blocks)})
    assert reply["ok"]
    assert standin.calls_to("chat.postMessage")[-1].args["blocks"] == blocks
    assert standin.messages(channels.general)[-1]["blocks"] == blocks


def test_post_ephemeral(client, standin, channels):
    reply = client.chat_postEphemeral(channel=channels.general, user=ANA, text="Only you can see this")
    assert reply["message_ts"]
    assert [e["text"] for e in standin.ephemerals(ANA)] == ["Only you can see this"]
    assert standin.ephemerals(BEN) == []
    assert standin.messages(channels.general) == []
    assert error_of(lambda: client.chat_postEphemeral(channel=channels.wellbeing, user=ANA, text="hi")) == (
        "user_not_in_channel"
    )


def test_update_and_delete(client, standin, channels):
    ts = client.chat_postMessage(channel=channels.general, text="Draft", blocks=[section("Draft")])["ts"]
    updated = client.chat_update(channel=channels.general, ts=ts, text="Final")
    assert updated["text"] == "Final"
    [message] = standin.messages(channels.general)
    assert message["text"] == "Final" and message["blocks"] == [section("Draft")] and "edited" in message
    client.chat_update(channel=channels.general, ts=ts, text="Final", blocks=[])
    assert standin.messages(channels.general)[0]["blocks"] == []
    missing = "1.000001"
    assert error_of(lambda: client.chat_update(channel=channels.general, ts=missing, text="x")) == "message_not_found"
    assert client.chat_delete(channel=channels.general, ts=ts)["ts"] == ts
    assert standin.messages(channels.general) == []
    assert error_of(lambda: client.chat_delete(channel=channels.general, ts=ts)) == "message_not_found"


def test_get_permalink(client, channels):
    ts = client.chat_postMessage(channel=channels.general, text="Session 1")["ts"]
    link = client.chat_getPermalink(channel=channels.general, message_ts=ts)["permalink"]
    assert link == f"https://compass-health.slack.com/archives/{channels.general}/p{ts.replace('.', '')}"
    reply_ts = client.chat_postMessage(channel=channels.general, text="r", thread_ts=ts)["ts"]
    assert f"thread_ts={ts}" in client.chat_getPermalink(channel=channels.general, message_ts=reply_ts)["permalink"]
    assert error_of(lambda: client.chat_getPermalink(channel=channels.general, message_ts="1.000001")) == (
        "message_not_found"
    )


def test_schedule_list_and_delete(client, standin, channels):
    post_at = int(time.time()) + 3600
    reply = client.chat_scheduleMessage(channel=channels.general, post_at=post_at, text="Session tomorrow")
    scheduled_id = reply["scheduled_message_id"]
    listed = client.chat_scheduledMessages_list(channel=channels.general)["scheduled_messages"]
    assert [(m["id"], m["post_at"], m["text"]) for m in listed] == [(scheduled_id, post_at, "Session tomorrow")]
    assert [m["id"] for m in standin.scheduled_messages(channels.general)] == [scheduled_id]
    client.chat_deleteScheduledMessage(channel=channels.general, scheduled_message_id=scheduled_id)
    assert client.chat_scheduledMessages_list()["scheduled_messages"] == []
    assert error_of(
        lambda: client.chat_deleteScheduledMessage(channel=channels.general, scheduled_message_id=scheduled_id)
    ) == "invalid_scheduled_message_id"


def test_schedule_time_limits(client, channels):
    now = int(time.time())
    assert error_of(lambda: client.chat_scheduleMessage(channel=channels.general, post_at=now - 1, text="x")) == (
        "time_in_past"
    )
    too_far = now + 121 * 24 * 3600
    assert error_of(lambda: client.chat_scheduleMessage(channel=channels.general, post_at=too_far, text="x")) == (
        "time_too_far"
    )
    assert client.chat_scheduleMessage(channel=channels.general, post_at=now + 119 * 24 * 3600, text="x")["ok"]
    without_post_at = {"channel": channels.general, "text": "x"}
    assert error_of(lambda: client.api_call("chat.scheduleMessage", json=without_post_at)) == "invalid_time"


def test_scheduled_message_is_posted_when_due(client, standin):
    with frozen() as clock:
        client.chat_scheduleMessage(channel=ANA, post_at=FROZEN_EPOCH + 60, text="Pulse check")
        assert standin.dm_messages(ANA) == []
        clock.tick(61)
        [message] = standin.dm_messages(ANA)
        assert message["text"] == "Pulse check" and message["ts"].startswith(f"{FROZEN_EPOCH + 61}.")


# -- views -------------------------------------------------------------------------------------------


def test_views_open_with_a_valid_trigger(client, standin):
    trigger = standin.new_trigger_id()
    view = client.views_open(trigger_id=trigger, view=modal(callback_id="enrol", private_metadata="group=7"))["view"]
    assert view["id"].startswith("V") and view["callback_id"] == "enrol" and view["hash"]
    assert standin.views[view["id"]]["private_metadata"] == "group=7"


def test_views_open_trigger_errors(client, standin):
    assert error_of(lambda: client.views_open(trigger_id="12345.98765.abcd", view=modal())) == "invalid_trigger_id"
    trigger = standin.new_trigger_id()
    client.views_open(trigger_id=trigger, view=modal())
    assert error_of(lambda: client.views_open(trigger_id=trigger, view=modal())) == "exchanged_trigger_id"


def test_trigger_ids_expire_after_three_seconds(client, standin):
    with frozen() as clock:
        trigger = standin.new_trigger_id()
        clock.tick(3.5)
        assert error_of(lambda: client.views_open(trigger_id=trigger, view=modal())) == "expired_trigger_id"
        fresh = standin.new_trigger_id()
        clock.tick(2.5)
        assert client.views_open(trigger_id=fresh, view=modal())["ok"]


def test_invalid_view_does_not_use_up_the_trigger(client, standin):
    trigger = standin.new_trigger_id()
    assert error_of(lambda: client.views_open(trigger_id=trigger, view=modal(title=plain("x" * 25)))) == (
        "invalid_arguments"
    )
    assert client.views_open(trigger_id=trigger, view=modal())["ok"]


def test_views_push_stacks_up_to_three(client, standin):
    root = client.views_open(trigger_id=standin.new_trigger_id(), view=modal())["view"]
    pushed = client.views_push(trigger_id=standin.new_trigger_id(view_id=root["id"]), view=modal())["view"]
    assert pushed["root_view_id"] == root["id"] and pushed["previous_view_id"] == root["id"]
    client.views_push(trigger_id=standin.new_trigger_id(view_id=pushed["id"]), view=modal())
    assert error_of(
        lambda: client.views_push(trigger_id=standin.new_trigger_id(view_id=root["id"]), view=modal())
    ) == "push_limit_reached"
    standin.close_view(root["id"])
    assert standin.views == {}


def test_views_update_by_id_and_external_id_with_hash_check(client, standin):
    opened = client.views_open(trigger_id=standin.new_trigger_id(), view=modal(external_id="enrol-U01ANA"))["view"]
    step_2 = modal([section("Step 2")], external_id="enrol-U01ANA")
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=step_2)["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert error_of(lambda: client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal())) == (
        "hash_conflict"
    )
    step_3 = modal([section("Step 3")], external_id="enrol-U01ANA")
    by_external = client.views_update(external_id="enrol-U01ANA", view=step_3)
    assert by_external["view"]["blocks"] == [section("Step 3")]
    assert error_of(lambda: client.views_update(view_id="V0MISSING", view=modal())) == "not_found"
    assert error_of(lambda: client.api_call("views.update", json={"view": modal()})) == "invalid_arguments"


def test_views_publish_home(client, standin):
    home = {"type": "home", "blocks": [section("Your next session is Tuesday")]}
    first = client.views_publish(user_id=ANA, view=home)["view"]
    assert standin.home_view(ANA)["blocks"] == home["blocks"]
    assert standin.home_view(BEN) is None
    updated_home = {"type": "home", "blocks": [section("Updated")]}
    second = client.views_publish(user_id=ANA, hash=first["hash"], view=updated_home)
    assert second["view"]["id"] == first["id"]
    assert error_of(lambda: client.views_publish(user_id=ANA, hash=first["hash"], view=home)) == "hash_conflict"
    assert error_of(lambda: client.views_publish(user_id=ANA, view=modal())) == "invalid_arguments"
    assert error_of(lambda: client.views_publish(user_id="U0NOBODY", view=home)) == "invalid_arguments"


# -- Block Kit limits ------------------------------------------------------------------------------------

MESSAGE_VIOLATIONS = {
    "51 blocks": ([{"type": "divider"}] * 51, "/blocks"),
    "section text 3001": ([section("x" * 3001)], "/blocks/0/text/text"),
    "empty section text": ([section("")], "/blocks/0/text/text"),
    "11 fields": ([{"type": "section", "fields": [plain("f")] * 11}], "/blocks/0/fields"),
    "field 2001": ([{"type": "section", "fields": [plain("f" * 2001)]}], "/blocks/0/fields/0/text"),
    "header 151": ([{"type": "header", "text": plain("h" * 151)}], "/blocks/0/text/text"),
    "mrkdwn header": ([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}], "/blocks/0/text/type"),
    "11 context elements": ([{"type": "context", "elements": [plain("c")] * 11}], "/blocks/0/elements"),
    "26 actions": (
        [{"type": "actions", "elements": [button(action_id=f"a{n}") for n in range(26)]}],
        "/blocks/0/elements",
    ),
    "button text 76": ([{"type": "actions", "elements": [button("b" * 76)]}], "/blocks/0/elements/0/text/text"),
    "button value 2001": ([{"type": "actions", "elements": [button(value="v" * 2001)]}], "/blocks/0/elements/0/value"),
    "action_id 256": (
        [{"type": "actions", "elements": [button(action_id="a" * 256)]}],
        "/blocks/0/elements/0/action_id",
    ),
    "duplicate action_id": ([{"type": "actions", "elements": [button(), button()]}], "/blocks/0/elements/1/action_id"),
    "block_id 256": ([section("s", block_id="b" * 256)], "/blocks/0/block_id"),
    "duplicate block_id": ([section("a", block_id="same"), section("b", block_id="same")], "/blocks/1/block_id"),
    "option text 76": (
        [{"type": "actions", "elements": [select([option("o" * 76)])]}],
        "/blocks/0/elements/0/options/0/text/text",
    ),
    "option value 151": (
        [{"type": "actions", "elements": [select([option(value="v" * 151)])]}],
        "/blocks/0/elements/0/options/0/value",
    ),
    "101 options": (
        [{"type": "actions", "elements": [select([option(value=str(n)) for n in range(101)])]}],
        "/blocks/0/elements/0/options",
    ),
    "image without url": ([{"type": "image", "alt_text": "chart"}], "/blocks/0"),
    "unknown block type": ([{"type": "carousel"}], "/blocks/0/type"),
    "input element in actions": (
        [{"type": "actions", "elements": [{"type": "plain_text_input", "action_id": "x"}]}],
        "/blocks/0/elements/0/type",
    ),
}


@pytest.mark.parametrize("case", MESSAGE_VIOLATIONS, ids=list(MESSAGE_VIOLATIONS))
def test_message_block_limits(client, channels, case):
    blocks, pointer = MESSAGE_VIOLATIONS[case]
    response = failure(lambda: client.chat_postMessage(channel=channels.general, text="fallback", blocks=blocks))
    assert response["error"] == "invalid_blocks"
    messages = response["response_metadata"]["messages"]
    assert any(m.startswith("[ERROR] ") and m.endswith(f"[json-pointer:{pointer}]") for m in messages), messages


def test_blocks_exactly_at_the_limits_are_accepted(client, channels):
    hundred_options = [option(value=str(n)) for n in range(100)]
    at_limits = [
        section("x" * 3000, block_id="b" * 255),
        {"type": "section", "fields": [plain("f" * 2000)] * 10},
        {"type": "header", "text": plain("h" * 150)},
        {"type": "context", "elements": [plain("c")] * 10},
        {"type": "actions", "elements": [button("b" * 75, action_id=f"a{n}", value="v" * 2000) for n in range(24)]
         + [button(action_id="a" * 255)]},
        {"type": "actions", "elements": [select([option("o" * 75, "v" * 150), *hundred_options[1:]])]},
        {"type": "image", "image_url": "https://example.org/chart.png", "alt_text": "chart"},
        {"type": "input", "label": plain("l" * 2000), "hint": plain("h" * 2000),
         "element": {"type": "plain_text_input", "action_id": "v"}},
    ]
    blocks = at_limits + [{"type": "divider"}] * (50 - len(at_limits))
    assert client.chat_postMessage(channel=channels.general, text="ok", blocks=blocks)["ok"]


@settings(max_examples=15, deadline=None, derandomize=True)
@given(count=st.integers(min_value=0, max_value=120))
def test_message_block_count_property(seeded, count):
    standin = seeded.standin
    client = WebClient(token=TOKEN, base_url=standin.url)
    blocks = [{"type": "divider"}] * count
    if count <= 50:
        assert client.chat_postMessage(channel=seeded.channels.general, text="t", blocks=blocks)["ok"]
    else:
        assert error_of(lambda: client.chat_postMessage(channel=seeded.channels.general, text="t", blocks=blocks)) == (
            "invalid_blocks"
        )


VIEW_VIOLATIONS = {
    "101 blocks": (modal([{"type": "divider"}] * 101), "/view/blocks"),
    "title 25": (modal(title=plain("t" * 25)), "/view/title/text"),
    "submit 25": (modal(submit=plain("s" * 25)), "/view/submit/text"),
    "close 25": (modal(close=plain("c" * 25)), "/view/close/text"),
    "private_metadata 3001": (modal(private_metadata="m" * 3001), "/view/private_metadata"),
    "callback_id 256": (modal(callback_id="c" * 256), "/view/callback_id"),
    "input label 2001": (
        modal([text_input_block(label="l" * 2001)], submit=plain("Save")),
        "/view/blocks/0/label/text",
    ),
    "input hint 2001": (
        modal([text_input_block(hint=plain("h" * 2001))], submit=plain("Save")),
        "/view/blocks/0/hint/text",
    ),
    "input without submit": (modal([text_input_block()]), "/view/submit"),
    "file block in a modal": (modal([{"type": "file", "external_id": "x", "source": "remote"}]), "/view/blocks/0/type"),
}


@pytest.mark.parametrize("case", VIEW_VIOLATIONS, ids=list(VIEW_VIOLATIONS))
def test_view_limits(client, standin, case):
    view, pointer = VIEW_VIOLATIONS[case]
    response = failure(lambda: client.views_open(trigger_id=standin.new_trigger_id(), view=view))
    assert response["error"] == "invalid_arguments"
    assert any(m.endswith(f"[json-pointer:{pointer}]") for m in response["response_metadata"]["messages"])


def test_views_exactly_at_the_limits_are_accepted(client, standin):
    view = modal(
        [text_input_block()] + [{"type": "divider"}] * 99,
        title=plain("t" * 24),
        submit=plain("s" * 24),
        close=plain("c" * 24),
        private_metadata="m" * 3000,
        callback_id="c" * 255,
    )
    assert client.views_open(trigger_id=standin.new_trigger_id(), view=view)["ok"]
    home = {"type": "home", "blocks": [{"type": "divider"}] * 100}
    assert client.views_publish(user_id=ANA, view=home)["ok"]
    too_big_home = {"type": "home", "blocks": [{"type": "divider"}] * 101}
    assert error_of(lambda: client.views_publish(user_id=ANA, view=too_big_home)) == "invalid_arguments"


# -- files ----------------------------------------------------------------------------------------------


def test_files_upload_v2_round_trip(client, standin, channels):
    content = "name,score\nana,4\n".encode()
    reply = client.files_upload_v2(
        channel=channels.wellbeing,
        content=content,
        filename="pulse.csv",
        title="Pulse results",
        initial_comment="This cycle's pulse",
    )
    file_id = reply["file"]["id"]
    [uploaded] = standin.files
    assert uploaded == {
        "id": file_id,
        "title": "Pulse results",
        "filename": "pulse.csv",
        "content": content,
        "channels": [channels.wellbeing],
        "initial_comment": "This cycle's pulse",
        "thread_ts": None,
    }
    [shared] = standin.messages(channels.wellbeing)
    assert shared["text"] == "This cycle's pulse" and shared["files"][0]["id"] == file_id
    info = client.files_info(file=file_id)["file"]
    assert info["size"] == len(content) and info["groups"] == [channels.wellbeing] and info["mimetype"] == "text/csv"
    assert [call.method for call in standin.calls][:3] == [
        "files.getUploadURLExternal",
        UPLOAD_CALL,
        "files.completeUploadExternal",
    ]


def test_upload_errors(client, channels):
    assert error_of(lambda: client.files_completeUploadExternal(files=[{"id": "F0MISSING"}])) == "file_not_found"
    assert error_of(lambda: client.files_info(file="F0MISSING")) == "file_not_found"
    assert error_of(
        lambda: client.files_upload_v2(channel=channels.leadership, content=b"x", filename="x.txt")
    ) == "not_in_channel"
    url = client.files_getUploadURLExternal(filename="x.txt", length=1)
    assert error_of(lambda: client.files_completeUploadExternal(files=[{"id": url["file_id"]}])) == "file_not_found"


# -- recording, timestamps, reset ---------------------------------------------------------------------


def test_failed_calls_are_recorded_with_decoded_arguments(client, standin, channels):
    error_of(lambda: client.chat_postMessage(channel=channels.general, text="t", blocks=[{"type": "carousel"}]))
    [call] = standin.calls_to("chat.postMessage")
    assert call.args == {"channel": channels.general, "text": "t", "blocks": [{"type": "carousel"}]}
    assert call.token == TOKEN and call.status == 200 and call.error == "invalid_blocks" and not call.ok


def test_timestamps_are_unique_and_frozen_time_gives_deterministic_prefixes(client, standin):
    with frozen():
        first = client.chat_postMessage(channel=ANA, text="one")["ts"]
        second = client.chat_postMessage(channel=ANA, text="two")["ts"]
        assert standin.calls[-1].at == FROZEN_EPOCH
    assert (first, second) == (f"{FROZEN_EPOCH}.000000", f"{FROZEN_EPOCH}.000001")


def test_concurrent_posts_get_distinct_increasing_timestamps(standin, channels):
    client = WebClient(token=TOKEN, base_url=standin.url)

    def post_many(worker: int) -> None:
        for n in range(15):
            client.chat_postMessage(channel=channels.general, text=f"{worker}-{n}")

    threads = [threading.Thread(target=post_many, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps = [m["ts"] for m in standin.messages(channels.general)]
    assert len(stamps) == 120 and len(set(stamps)) == 120
    assert stamps == sorted(stamps, key=lambda ts: tuple(int(part) for part in ts.split(".")))


def test_reset_keeps_seeded_users_and_channels_only(client, standin, channels):
    client.chat_postMessage(channel=channels.general, text="before reset")
    client.conversations_invite(channel=channels.wellbeing, users=[ANA])
    client.conversations_create(name="made-by-the-bot")
    standin.reset()
    assert standin.calls == [] and standin.messages(channels.general) == []
    assert standin.members(channels.wellbeing) == [CAL, BOT]
    assert client.conversations_create(name="made-by-the-bot")["ok"]
    assert client.users_info(user=ANA)["user"]["name"] == "ana"


def test_stop_closes_the_port():
    with SlackStandIn() as standin:
        url = standin.url
        assert WebClient(token="xoxb-test", base_url=url).auth_test()["ok"]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "auth.test", data=b"", timeout=2)


# -- fault injection ---------------------------------------------------------------------------------------


def test_injected_429_sends_retry_after(standin):
    standin.inject("auth.test", status=429, retry_after=0)
    request = urllib.request.Request(standin.url + "auth.test", data=b"", headers={"Authorization": f"Bearer {TOKEN}"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 429 and caught.value.headers["Retry-After"] == "0"
    assert json.loads(caught.value.read()) == {"ok": False, "error": "ratelimited"}


def test_injected_429_is_retried_by_the_rate_limit_handler(standin, channels, no_jitter):
    client = WebClient(token=TOKEN, base_url=standin.url, retry_handlers=[RateLimitErrorRetryHandler()])
    standin.inject("chat.postMessage", retry_after=0)
    assert client.chat_postMessage(channel=channels.general, text="after a 429")["ok"]
    assert [call.status for call in standin.calls_to("chat.postMessage")] == [429, 200]
    assert len(standin.messages(channels.general)) == 1


def test_injected_429_without_a_retry_handler_surfaces(client, standin):
    standin.inject("users.list", status=429, retry_after=1)
    error = failure(lambda: client.users_list())
    assert error.status_code == 429 and error.headers["Retry-After"] == "1"


def test_injected_500_is_retried_by_the_server_error_handler(standin, channels):
    client = WebClient(
        token=TOKEN,
        base_url=standin.url,
        retry_handlers=[ServerErrorRetryHandler(max_retry_count=2, interval_calculator=FAST_RETRY)],
    )
    standin.inject("chat.postMessage", status=500, times=2)
    assert client.chat_postMessage(channel=channels.general, text="third time lucky")["ok"]
    assert [call.status for call in standin.calls_to("chat.postMessage")] == [500, 500, 200]
    assert len(standin.messages(channels.general)) == 1


def test_dropped_connection_is_retried_by_the_connection_error_handler(standin, channels):
    client = WebClient(
        token=TOKEN,
        base_url=standin.url,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=FAST_RETRY)],
    )
    standin.inject("chat.postMessage", reset=True)
    assert client.chat_postMessage(channel=channels.general, text="after a reset")["ok"]
    assert [call.status for call in standin.calls_to("chat.postMessage")] == [None, 200]
    assert len(standin.messages(channels.general)) == 1


def test_dropped_connection_without_a_retry_handler_raises(standin):
    client = WebClient(token=TOKEN, base_url=standin.url, retry_handlers=[])
    standin.inject("auth.test", reset=True)
    with pytest.raises(ConnectionError):
        client.auth_test()


def test_injected_slack_error_applies_the_given_number_of_times(client, standin):
    standin.inject("users.info", error="missing_scope", times=2)
    assert error_of(lambda: client.users_info(user=ANA)) == "missing_scope"
    assert error_of(lambda: client.users_info(user=ANA)) == "missing_scope"
    assert client.users_info(user=ANA)["ok"]


def test_star_injection_hits_any_method_after_specific_ones(client, standin):
    standin.inject("*", error="fatal_error")
    standin.inject("auth.test", error="account_inactive")
    assert error_of(lambda: client.auth_test()) == "account_inactive"
    assert error_of(lambda: client.team_info()) == "fatal_error"
    assert client.team_info()["ok"]


def test_injected_delay_answers_late_but_does_the_work(standin, channels):
    standin.inject("chat.postMessage", delay=0.3)
    impatient = WebClient(token=TOKEN, base_url=standin.url, timeout=0.1)
    with pytest.raises(TimeoutError):
        impatient.chat_postMessage(channel=channels.general, text="slow")
    assert [m["text"] for m in standin.messages(channels.general)] == ["slow"]


def test_latency_is_added_to_every_call(client, standin):
    standin.latency = 0.05
    started = time.monotonic()
    client.auth_test()
    client.auth_test()
    assert time.monotonic() - started >= 0.1


def test_inject_rejects_meaningless_requests(standin):
    with pytest.raises(ValueError):
        standin.inject("chat.postMessage")
    with pytest.raises(ValueError):
        standin.inject("chat.postMesage", status=500)
    with pytest.raises(ValueError):
        standin.inject("chat.postMessage", retry_after=1.5)


# -- rate limits ----------------------------------------------------------------------------------------


def test_rate_limits_are_off_by_default(client):
    for _ in range(30):
        client.users_list()


def test_tier_budget_returns_429_once_exhausted(client, standin):
    standin.rate_limits = RateLimits(scale=0.1)  # Tier 2 (users.list): 20/min * 0.1 = 2
    client.users_list()
    client.users_list()
    error = failure(lambda: client.users_list())
    assert error.status_code == 429 and error["error"] == "ratelimited"
    assert int(error.headers["Retry-After"]) >= 1
    assert client.users_info(user=ANA)["ok"]  # Tier 4 has its own budget
    assert standin.rate_limits.rejected == {"users.list": 1} and standin.rate_limits.rejected_total == 1


def test_post_message_is_limited_per_channel_and_refills(client, standin, channels):
    now = [1000.0]
    standin.rate_limits = RateLimits(clock=lambda: now[0])
    client.chat_postMessage(channel=channels.general, text="one")
    assert error_of(lambda: client.chat_postMessage(channel=channels.general, text="two")) == "ratelimited"
    assert client.chat_postMessage(channel=ANA, text="another channel")["ok"]
    assert error_of(lambda: client.chat_postMessage(channel=ANA, text="same DM by user id")) == "ratelimited"
    now[0] += 1.0
    assert client.chat_postMessage(channel=channels.general, text="a second later")["ok"]
    assert [m["text"] for m in standin.messages(channels.general)] == ["one", "a second later"]


def test_post_message_workspace_budget(client, standin, channels):
    standin.rate_limits = RateLimits(post_message_per_minute=2, clock=lambda: 0.0)
    client.chat_postMessage(channel=channels.general, text="1")
    client.chat_postMessage(channel=ANA, text="2")
    assert error_of(lambda: client.chat_postMessage(channel=BEN, text="3")) == "ratelimited"


def test_scale_raises_budgets_for_benchmarks(client, standin, channels):
    standin.rate_limits = RateLimits(scale=10, clock=lambda: 0.0)
    for n in range(10):
        client.chat_postMessage(channel=channels.general, text=str(n))
    assert error_of(lambda: client.chat_postMessage(channel=channels.general, text="11th")) == "ratelimited"
    assert standin.rate_limits.rejected_total == 1


def test_rate_limited_calls_are_retried_once_the_budget_refills(standin, channels, no_jitter, monkeypatch):
    now = [0.0]
    standin.rate_limits = RateLimits(scale=0.1, clock=lambda: now[0])  # Tier 2: 2 calls a minute

    def advance(seconds: float) -> None:
        now[0] += seconds

    # The handler sleeps Retry-After seconds; move the stand-in's clock instead of really waiting.
    monkeypatch.setattr(builtin_handlers, "time", SimpleNamespace(sleep=advance))
    client = WebClient(token=TOKEN, base_url=standin.url, retry_handlers=[RateLimitErrorRetryHandler()])
    for topic in ("one", "two", "three"):
        client.conversations_setTopic(channel=channels.general, topic=topic)
    assert [c.status for c in standin.calls_to("conversations.setTopic")] == [200, 200, 429, 200]
    assert client.conversations_info(channel=channels.general)["channel"]["topic"]["value"] == "three"
    assert now[0] == 30.0


def test_reset_after_runs_the_method_then_drops_the_connection(standin, channels):
    client = WebClient(token=TOKEN, base_url=standin.url, retry_handlers=[])
    standin.inject("chat.postMessage", reset_after=True)
    with pytest.raises(ConnectionError):
        client.chat_postMessage(channel=channels.general, text="Slack got this")
    assert [m["text"] for m in standin.messages(channels.general)] == ["Slack got this"]
    assert standin.calls_to("chat.postMessage")[0].status is None
