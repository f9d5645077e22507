"""Socket Mode end to end: `compass-bot serve` with SLACK_APP_TOKEN opens a WebSocket to a local endpoint
speaking Slack's envelope protocol, and answers `/compass help` and a join through it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select

from storage.models import Member
from tests.conftest import BOT_TOKEN, TEAM_ID
from tests.support.forms import join_values
from tests.support.socket_mode import SocketModeEndpoint
from tests.support.waiting import eventually

APP_TOKEN = "xapp-1-A0COMPASS-1-standin"


@pytest.fixture
def endpoint(standin):  # noqa: ANN001
    socket_endpoint = SocketModeEndpoint().start()
    standin.enable_socket_mode(app_token=APP_TOKEN, url=socket_endpoint.url)
    yield socket_endpoint
    socket_endpoint.stop()


def command(user_id: str, text: str, trigger_id: str) -> dict:
    """A slash command as Socket Mode delivers it: the form Slack would post, as a JSON object."""
    return {"token": "legacy-unused", "team_id": TEAM_ID, "team_domain": "compass", "channel_id": "C0GENERAL",
            "channel_name": "general", "user_id": user_id, "user_name": user_id.lower(), "command": "/compass",
            "text": text, "api_app_id": "A0COMPASS", "is_enterprise_install": "false",
            "response_url": "https://hooks.slack.com/commands/T0/1/socket", "trigger_id": trigger_id}


def test_serve_over_socket_mode_answers_help_and_a_join(standin, endpoint, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COMPASS_", "DATABASE_URL"))}
    database = f"sqlite:///{tmp_path}/compass.db"
    env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_URL=standin.url, DATABASE_URL=database)
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        endpoint.wait_connected(timeout=60)
        opened = standin.calls_to("apps.connections.open")
        assert opened and opened[-1].token == APP_TOKEN and opened[-1].ok  # the app-level token, not the bot's

        help_ack = endpoint.send("slash_commands", command("U0ANA", "help", standin.new_trigger_id()))
        assert "/compass join" in help_ack["payload"]["text"] and help_ack["payload"]["response_type"] == "ephemeral"

        endpoint.send("slash_commands", command("U0ANA", "join", standin.new_trigger_id()))
        view = eventually(lambda: standin.calls_to("views.open"), timeout=10)[-1].args["view"]
        assert view["callback_id"] == "join_submit"
        submission = {
            "type": "view_submission", "team": {"id": TEAM_ID, "domain": "compass"},
            "user": {"id": "U0ANA", "username": "ana", "name": "ana", "team_id": TEAM_ID}, "api_app_id": "A0COMPASS",
            "trigger_id": standin.new_trigger_id(), "is_enterprise_install": False,
            "view": {**view, "id": "V0SOCKET", "state": {"values": join_values()}},
        }
        submit_ack = endpoint.send("interactive", submission)
        assert submit_ack["payload"]["response_action"] == "update"  # the welcome replaces the form, acknowledged here
        engine = create_engine(database)
        try:
            def enrolled() -> bool:
                with Session(engine) as session:
                    member = session.exec(select(Member).where(Member.slack_user_id == "U0ANA")).first()
                return member is not None and member.status == "active"

            eventually(enrolled, timeout=10)
        finally:
            engine.dispose()
        assert eventually(lambda: standin.home_view("U0ANA"), timeout=10)  # their Home tab, published after joining
        # Every envelope was acknowledged by its own envelope_id, once.
        acks = [frame["envelope_id"] for frame in endpoint.received if "envelope_id" in frame]
        assert acks == ["envelope-0001", "envelope-0002", "envelope-0003"]
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
    assert "Traceback" not in output, output


def test_the_standin_opens_socket_mode_connections_only_for_the_app_level_token(standin, endpoint):
    import httpx

    def answer(token: str | None) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(f"{standin.url}apps.connections.open", headers=headers).json()

    assert answer(APP_TOKEN) == {"ok": True, "url": endpoint.url}
    assert answer(BOT_TOKEN)["error"] == "not_allowed_token_type"
    assert answer("xapp-1-someone-else")["error"] == "invalid_auth"
    assert answer(None)["error"] == "not_authed"
