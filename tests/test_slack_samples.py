"""Slack-written contract data (tests/slack_samples/, see its README): the stand-in answers with every field
Slack's samples have among those the bot reads, and every handler accepts the payloads Slack's SDKs test with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from slack_sdk import WebClient
from sqlmodel import Session, select

from bot.slack.scopes import BOT_CALLS
from storage.models import Member
from tests.conftest import BOT_TOKEN, TEAM_ID
from tests.support.forms import join_values
from tests.support.waiting import eventually

SAMPLES = Path(__file__).parent / "slack_samples"

# The fields of each Web API answer the bot (or slack_sdk on its behalf) reads, besides ``ok`` and ``error``.
# ``a[].b`` means field ``b`` of every element of list ``a``. Where the bot reads only ``ok`` the list is empty.
READS: dict[str, list[str]] = {
    "auth.test": ["team_id", "team", "user_id"],  # roster import: the workspace; Bolt: the bot user
    "chat.postEphemeral": [],
    "chat.postMessage": ["channel", "ts"],  # delivery keeps ts; the pulse keeps (channel, ts) to close it later
    "chat.update": [],
    "conversations.create": ["channel.id"],
    "conversations.history": ["messages[].ts", "messages[].metadata.event_type", "messages[].metadata.event_payload",
                              "has_more", "response_metadata.next_cursor"],  # exactly-once delivery, click targets
    "conversations.invite": ["channel.id"],
    "conversations.open": ["channel.id"],
    "files.completeUploadExternal": ["files[].id"],  # the report's chart and CSV
    "files.getUploadURLExternal": ["upload_url", "file_id"],  # read by slack_sdk's files_upload_v2
    "files.info": ["file.id"],
    "users.info": ["user.id", "user.deleted", "user.is_bot", "user.is_app_user", "user.is_restricted",
                   "user.is_ultra_restricted", "user.tz", "user.name", "user.real_name", "user.profile.real_name",
                   "user.profile.display_name"],
    "views.open": ["view.id"],
    "views.publish": ["view.id"],
    "views.push": ["view.id"],
    "views.update": ["view.id"],
}
WITH_PAGES = {"conversations.history": {"response_metadata.next_cursor", "has_more"}}


def sample(method: str) -> dict[str, Any]:
    return json.loads((SAMPLES / "api" / f"{method}.json").read_text())


def values_at(data: Any, path: str) -> list[Any]:
    """Every value at ``path``; a missing field anywhere gives an empty list (or a shorter one)."""
    found = [data]
    for part in path.split("."):
        step = []
        for value in found:
            name, each = (part[:-2], True) if part.endswith("[]") else (part, False)
            if not isinstance(value, dict) or name not in value:
                return []
            inner = value[name]
            if each:
                if not isinstance(inner, list) or not inner:
                    return []
                step.extend(inner)
            else:
                step.append(inner)
        found = step
    return found


def test_the_fields_the_bot_reads_are_listed_for_every_method_it_calls_and_exist_in_slacks_samples():
    assert set(READS) == set(BOT_CALLS)
    for method, paths in READS.items():
        written = sample(method)
        assert "ok" in written and "error" in written, method
        for path in paths:
            assert values_at(written, path), f"{method}: Slack's sample has no {path}"


def answers_of(standin) -> dict[str, dict]:  # noqa: ANN001
    """One real answer of the stand-in to each method the bot calls, through slack_sdk's WebClient."""
    client = WebClient(token=BOT_TOKEN, base_url=standin.url)
    answers: dict[str, dict] = {"auth.test": client.auth_test().data, "users.info": client.users_info(user="U0ANA").data}
    created = client.conversations_create(name="compass-contract", is_private=True).data
    channel = created["channel"]["id"]
    answers["conversations.create"] = created
    answers["conversations.invite"] = client.conversations_invite(channel=channel, users="U0ANA").data
    answers["conversations.open"] = client.conversations_open(users="U0ANA").data
    metadata = {"event_type": "compass_post", "event_payload": {"key": "contract:1"}}
    for n in range(3):
        posted = client.chat_postMessage(channel=channel, text=f"post {n}", metadata=metadata).data
    answers["chat.postMessage"] = posted
    answers["chat.update"] = client.chat_update(channel=channel, ts=posted["ts"], text="edited").data
    answers["chat.postEphemeral"] = client.chat_postEphemeral(channel=channel, user="U0ANA", text="only you").data
    answers["conversations.history"] = client.conversations_history(channel=channel, limit=1, include_all_metadata=True).data
    url = client.files_getUploadURLExternal(filename="a.csv", length=3).data
    answers["files.getUploadURLExternal"] = url
    import httpx

    httpx.post(url["upload_url"], content=b"a,b")
    done = client.files_completeUploadExternal(files=[{"id": url["file_id"], "title": "a"}], channel_id=channel).data
    answers["files.completeUploadExternal"] = done
    answers["files.info"] = client.files_info(file=done["files"][0]["id"]).data
    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": []}
    opened = client.views_open(trigger_id=standin.new_trigger_id(), view=view).data
    answers["views.open"] = opened
    answers["views.push"] = client.views_push(trigger_id=standin.new_trigger_id(view_id=opened["view"]["id"]), view=view).data
    answers["views.update"] = client.views_update(view_id=opened["view"]["id"], view=view).data
    answers["views.publish"] = client.views_publish(user_id="U0ANA", view={"type": "home", "blocks": []}).data
    return answers


def test_the_standin_answers_with_every_field_slacks_samples_have_among_those_the_bot_reads(standin):
    answers = answers_of(standin)
    assert set(answers) == set(READS)
    missing = [f"{method}: {path}" for method, paths in READS.items() for path in paths
               if values_at(sample(method), path) and not values_at(answers[method], path)]
    assert missing == []
    for method, answer in answers.items():
        assert answer["ok"] is True, method


# --- inbound payloads, as Slack's SDKs test with them, signed and posted to the bot's endpoint -----------------


def inbound(name: str) -> Any:
    text = (SAMPLES / "inbound" / name).read_text()
    return text if name.endswith(".txt") else json.loads(text)


def test_a_slash_command_from_a_grid_workspace_is_answered(slack, responses):
    form = dict(parse_qsl(inbound("slash_command.txt")))
    assert form["enterprise_id"] == "E111" and form["user_id"].startswith("W")  # Slack's Grid sample, as written
    form.update(command="/compass", text="help", response_url=responses.new_url())  # ours, not /hello-world
    answer = slack.post(urlencode(form), "application/x-www-form-urlencoded")
    assert answer.status_code == 200 and "/compass join" in answer.json()["text"]


def test_a_block_action_from_a_grid_workspace_opens_the_join_form(slack, standin):
    payload = inbound("block_actions.json")
    payload["actions"][0].update(action_id="join_open", value="join")
    payload.update(trigger_id=standin.new_trigger_id())
    payload["response_url"] = slack.responses.new_url()
    answer = slack.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    assert answer.status_code == 200
    view = eventually(lambda: standin.calls_to("views.open"))[-1].args["view"]
    assert view["callback_id"] == "join_submit"


def test_a_view_submission_from_a_grid_workspace_enrols_the_person(slack, engine):
    payload = inbound("view_submission.json")
    user_id, team_id = payload["user"]["id"], payload["team"]["id"]
    payload["view"].update(callback_id="join_submit", private_metadata=json.dumps({"consent": True}),
                           state={"values": join_values()})
    answer = slack.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    assert answer.status_code == 200 and answer.json()["response_action"] == "update"  # the welcome replaces the form
    with Session(engine) as session:
        member = session.exec(select(Member).where(Member.slack_user_id == user_id)).one()
    assert member.team_id == team_id and member.status == "active"


def test_a_view_closed_from_a_grid_workspace_is_acknowledged(slack):
    payload = inbound("view_closed.json")  # unchanged: the bot acknowledges any modal's closing
    answer = slack.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    assert answer.status_code == 200


@pytest.mark.parametrize("tab", ["messages", "home"])
def test_app_home_opened_from_an_org_wide_install_is_accepted(slack, standin, tab):
    body = inbound("app_home_opened_org_install.json")
    assert body["authorizations"][0]["is_enterprise_install"] is True and body["authorizations"][0]["team_id"] is None
    standin.add_user(body["event"]["user"], name="primary-owner")  # the org's member, W111, in the stand-in's directory
    body["event"]["tab"] = tab  # Slack's sample opens the Messages tab; the Home tab is the one the bot draws
    answer = slack.post(json.dumps(body), "application/json")
    assert answer.status_code == 200
    if tab == "home":
        eventually(lambda: standin.home_view(body["event"]["user"]))
    else:
        assert standin.calls_to("views.publish") == []


def test_user_change_in_slacks_shape_takes_a_deactivated_member_out(slack, standin, engine):
    from tests.test_groups_flow import seed_members

    seed_members(engine, standin, ["U0CAL"])
    body = inbound("user_change.json")
    assert body["event"]["type"] == "user_change" and "is_ultra_restricted" in body["event"]["user"]
    # java-slack-sdk's samples are schemas with blank values: fill in the ones Slack always sets.
    body.update(type="event_callback", team_id=TEAM_ID, enterprise_id="", event_id="Ev0USERCHANGE", authorizations=[])
    body["event"]["user"].update(id="U0CAL", team_id=TEAM_ID, deleted=True)
    answer = slack.post(json.dumps(body), "application/json")
    assert answer.status_code == 200
    with Session(engine) as session:
        eventually(lambda: session.exec(select(Member.status).where(Member.slack_user_id == "U0CAL")).one() == "left")
