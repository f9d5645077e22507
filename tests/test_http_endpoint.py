"""The HTTP endpoint: signatures, malformed bodies, health."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import httpx

from tests.conftest import SIGNING_SECRET



def test_bad_signature_is_refused_with_401(slack, standin):
    response = slack.post(urlencode({"command": "/compass", "user_id": "U0ANA", "team_id": "T0COMPASS"}),
                          "application/x-www-form-urlencoded", headers={"X-Slack-Signature": "v0=deadbeef"})
    assert response.status_code == 401
    assert standin.calls_to("views.open") == []


def test_unsigned_and_stale_requests_are_refused(slack):
    body = urlencode({"command": "/compass", "user_id": "U0ANA", "team_id": "T0COMPASS"})
    assert slack.post(body, "application/x-www-form-urlencoded", sign=False).status_code == 401
    stale = int(time.time()) - 10 * 60
    assert slack.post(body, "application/x-www-form-urlencoded", timestamp=stale).status_code == 401


def test_malformed_bodies_get_400_never_500(slack):
    cases = [
        ("{not json", "application/json"),
        (json.dumps({"type": "mystery"}), "application/json"),
        (json.dumps([1, 2, 3]), "application/json"),
        (urlencode({"payload": "{broken"}), "application/x-www-form-urlencoded"),
        (urlencode({"payload": json.dumps({"type": "interpretive_dance", "user": {"id": "U0ANA"}})}), "application/x-www-form-urlencoded"),
        (urlencode({"payload": json.dumps({"type": "block_actions"})}), "application/x-www-form-urlencoded"),
        (urlencode({"hello": "world"}), "application/x-www-form-urlencoded"),
        (urlencode({"payload": json.dumps({"type": "view_submission", "user": {"id": "U0ANA"}, "view": {}})}), "application/x-www-form-urlencoded"),
        (urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": "U0ANA"}, "actions": "x"})}), "application/x-www-form-urlencoded"),
        ("", "application/x-www-form-urlencoded"),
    ]
    for body, content_type in cases:
        response = slack.post(body, content_type)
        assert response.status_code == 400, (body, response.status_code, response.text)
        assert "Traceback" not in response.text


def test_non_utf8_body_is_400(slack, bot):
    body = b"command=%2Fcompass&text=\xff\xfe"
    ts = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    signature = f"v0={digest}"
    response = httpx.post(f"{bot.url}/slack/events", content=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature})
    assert response.status_code == 400


def test_url_verification_challenge(slack):
    response = slack.post(json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"}), "application/json")
    assert response.status_code == 200
    assert "abc123" in response.text


def test_unhandled_event_is_acknowledged_so_slack_does_not_retry(slack):
    assert slack.event({"type": "reaction_added", "user": "U0ANA"}).status_code == 200


def test_stale_button_is_400_not_500(slack):
    assert slack.action("U0ANA", "a_button_from_an_older_version", "x").status_code == 400


def test_healthz_reports_the_database(bot, tmp_path):
    assert httpx.get(f"{bot.url}/healthz").json() == {"ok": True, "database": "ok"}
    from storage.db import make_engine

    bot.services.engine = make_engine(f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}")
    response = httpx.get(f"{bot.url}/healthz")
    assert response.status_code == 503
    assert response.json()["ok"] is False


def test_slacks_certificate_check_gets_a_200_and_touches_nothing(bot, standin):
    import httpx

    before = len(standin.calls)  # building the app asked auth.test who the bot is
    answer = httpx.post(f"{bot.url}/slack/events", content="ssl_check=1&token=legacy",
                        headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert answer.status_code == 200 and answer.text == ""
    assert len(standin.calls) == before
