"""Builds requests exactly as Slack sends them, signed, and posts them to the bot's endpoint."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from tests.support.responses import ResponseSink


class SlackRequests:
    def __init__(self, *, endpoint: str, signing_secret: str, team_id: str, responses: ResponseSink, standin=None,  # noqa: ANN001
                 enterprise_id: str = "", org_install: bool = False):
        """``enterprise_id``: the workspace is in that Grid org; ``org_install``: the app is installed org-wide
        (payloads carry ``is_enterprise_install``, as Slack sends them for such installs)."""
        self.enterprise_id = enterprise_id
        self.org_install = org_install
        self.endpoint = endpoint
        self.signer = SignatureVerifier(signing_secret)
        self.team_id = team_id
        self.responses = responses
        self.standin = standin
        self.last_response_url = ""
        self._event_ids = itertools.count(1)
        self._http = httpx.Client(timeout=10)

    def close(self) -> None:
        self._http.close()

    def post(self, body: str, content_type: str, *, headers: dict[str, str] | None = None, sign: bool = True,
             timestamp: int | None = None) -> httpx.Response:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        request_headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts}
        if sign:
            request_headers["X-Slack-Signature"] = self.signer.generate_signature(timestamp=ts, body=body)
        request_headers.update(headers or {})
        return self._http.post(self.endpoint, content=body.encode("utf-8"), headers=request_headers)

    def _trigger(self, user_id: str) -> str:
        return self.standin.new_trigger_id() if self.standin is not None else f"{int(time.time())}.1.abc"

    def command(self, user_id: str, text: str = "", *, channel_id: str = "C0GENERAL") -> httpx.Response:
        self.last_response_url = self.responses.new_url()
        form = {
            "token": "legacy-unused",
            "team_id": self.team_id,
            "team_domain": "compass",
            "channel_id": channel_id,
            "channel_name": "general",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": "/compass",
            "text": text,
            "api_app_id": "A0COMPASS",
            "response_url": self.last_response_url,
            "trigger_id": self._trigger(user_id),
        }
        if self.enterprise_id:
            form.update(enterprise_id=self.enterprise_id, enterprise_name="Grid Health",
                        is_enterprise_install="true" if self.org_install else "false")
        answer = self.post(urlencode(form), "application/x-www-form-urlencoded")
        self.responses.record_acknowledgement(self.last_response_url, answer)
        return answer

    def interaction(self, payload: dict[str, Any]) -> httpx.Response:
        if self.enterprise_id:
            payload = {**payload, "enterprise": {"id": self.enterprise_id, "name": "Grid Health"},
                       "is_enterprise_install": self.org_install}
            if isinstance(payload.get("team"), dict):
                payload["team"] = {**payload["team"], "enterprise_id": self.enterprise_id}
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def action(self, user_id: str, action_id: str, value: str = "", *, block_id: str = "b", channel_id: str | None = None,
               message_ts: str | None = None) -> httpx.Response:
        self.last_response_url = self.responses.new_url()
        payload: dict[str, Any] = {
            "type": "block_actions",
            "team": {"id": self.team_id, "domain": "compass"},
            "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": self.team_id},
            "api_app_id": "A0COMPASS",
            "trigger_id": self._trigger(user_id),
            "response_url": self.last_response_url,
            "actions": [{"type": "button", "action_id": action_id, "block_id": block_id, "value": value,
                         "action_ts": f"{time.time():.6f}"}],
        }
        if channel_id:
            payload["channel"] = {"id": channel_id}
            payload["container"] = {"type": "message", "channel_id": channel_id, "message_ts": message_ts or "1.0"}
            payload["message"] = {"ts": message_ts or "1.0"}
        else:
            payload["container"] = {"type": "view"}
        return self.interaction(payload)

    def view_submission(self, user_id: str, view: dict[str, Any], values: dict[str, Any]) -> httpx.Response:
        submitted = dict(view)
        submitted.setdefault("id", "V0TEST")
        submitted["state"] = {"values": values}
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "compass"},
            "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": self.team_id},
            "api_app_id": "A0COMPASS",
            "trigger_id": self._trigger(user_id),
            "view": submitted,
        }
        return self.interaction(payload)

    def event(self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None) -> httpx.Response:
        body = {
            "token": "legacy-unused",
            "team_id": self.team_id,
            "api_app_id": "A0COMPASS",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._event_ids):08d}",
            "event_time": int(time.time()),
        }
        if self.enterprise_id:
            body["enterprise_id"] = self.enterprise_id
            body["authorizations"] = [{"enterprise_id": self.enterprise_id, "team_id": None if self.org_install else self.team_id,
                                       "user_id": "UBOT", "is_bot": True, "is_enterprise_install": self.org_install}]
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else None
        return self.post(json.dumps(body), "application/json", headers=headers)

    def user_change(self, user: dict[str, Any]) -> httpx.Response:
        """The ``user_change`` event Slack sends when a member's account changes (deactivated, made a guest...)."""
        return self.event({"type": "user_change", "user": user, "cache_ts": int(time.time()), "event_ts": f"{time.time():.6f}"})
