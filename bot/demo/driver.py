"""Requests to the bot exactly as Slack sends them: signed, to its real HTTP endpoint.

Slash commands are forms, button clicks and modal submissions are ``payload=`` forms,
events are JSON. Every request carries a fresh ``trigger_id`` from the stand-in (so the
bot may open a modal with it) and, where Slack gives one, a ``response_url`` on the
demo's reply sink. Signatures use the current (simulated) time, as the bot checks them.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.demo.harness import ReplySink
from bot.standin import SlackStandIn


class BotRefused(RuntimeError):
    """The bot answered a request with an error status: the demo itself is broken."""


@dataclass(frozen=True)
class Sent:
    """What the demo sent and what came back at once (the rest arrives after, see IdleTracker)."""

    trigger_id: str
    response_url: str
    answer: dict


class SlackDriver:
    def __init__(self, *, endpoint: str, signing_secret: str, team_id: str, standin: SlackStandIn, replies: ReplySink):
        self.endpoint = endpoint
        self.team_id = team_id
        self._signer = SignatureVerifier(signing_secret)
        self._standin = standin
        self._replies = replies
        self._event_ids = itertools.count(1)
        self._http = httpx.Client(timeout=30)

    def close(self) -> None:
        self._http.close()

    # -- what a person does -----------------------------------------------------------

    def command(self, user_id: str, text: str, *, channel_id: str = "") -> Sent:
        """``/compass <text>`` typed by ``user_id`` (in a channel, or in their DM with the bot)."""
        trigger, response_url = self._standin.new_trigger_id(), self._replies.new_url()
        form = {
            "token": "unused", "team_id": self.team_id, "team_domain": "compass-demo",
            "channel_id": channel_id or self._standin.dm_channel(user_id), "channel_name": "directmessage",
            "user_id": user_id, "user_name": user_id.lower(), "command": "/compass", "text": text,
            "api_app_id": "A0COMPASSDEMO", "response_url": response_url, "trigger_id": trigger,
        }
        acknowledgement = self._post(urlencode(form), "application/x-www-form-urlencoded")
        if acknowledgement.get("text") or acknowledgement.get("blocks"):  # answered at once (help)
            self._replies.record(response_url, acknowledgement)
        return Sent(trigger, response_url, acknowledgement)

    def click(self, user_id: str, action_id: str, value: str, *, channel_id: str = "", message_ts: str = "",
              block_id: str = "actions") -> Sent:
        """A button clicked in a message (``channel_id`` and ``message_ts``) or in App Home."""
        trigger = self._standin.new_trigger_id()
        payload: dict[str, Any] = {
            "type": "block_actions",
            "team": {"id": self.team_id, "domain": "compass-demo"},
            "user": self._user(user_id),
            "api_app_id": "A0COMPASSDEMO",
            "trigger_id": trigger,
            "actions": [{"type": "button", "action_id": action_id, "block_id": block_id, "value": value,
                         "action_ts": f"{time.time():.6f}"}],
        }
        response_url = ""
        if channel_id:
            response_url = self._replies.new_url()
            payload.update(response_url=response_url, channel={"id": channel_id}, message={"ts": message_ts},
                           container={"type": "message", "channel_id": channel_id, "message_ts": message_ts})
        else:
            payload.update(container={"type": "view"}, view={"type": "home"})
        return Sent(trigger, response_url, self._interaction(payload))

    def submit(self, user_id: str, view: dict, values: dict, *, view_id: str) -> Sent:
        """Submit a modal the bot opened, with the state a person's answers produce."""
        submitted = {**view, "id": view_id, "state": {"values": values}}
        trigger = self._standin.new_trigger_id(view_id=view_id)
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "compass-demo"},
            "user": self._user(user_id),
            "api_app_id": "A0COMPASSDEMO",
            "trigger_id": trigger,
            "view": submitted,
        }
        return Sent(trigger, "", self._interaction(payload))

    def open_home(self, user_id: str) -> Sent:
        event = {"type": "app_home_opened", "user": user_id, "tab": "home", "channel": self._standin.dm_channel(user_id),
                 "event_ts": f"{time.time():.6f}"}
        body = {"token": "unused", "team_id": self.team_id, "api_app_id": "A0COMPASSDEMO", "event": event,
                "type": "event_callback", "event_id": f"Ev{next(self._event_ids):010d}", "event_time": int(time.time())}
        return Sent("", "", self._post(json.dumps(body), "application/json"))

    # -- the wire -------------------------------------------------------------------

    def _user(self, user_id: str) -> dict:
        return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": self.team_id}

    def _interaction(self, payload: dict) -> dict:
        return self._post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def _post(self, body: str, content_type: str) -> dict:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": self._signer.generate_signature(timestamp=timestamp, body=body),
        }
        response = self._http.post(self.endpoint, content=body.encode("utf-8"), headers=headers)
        if response.status_code != 200:
            raise BotRefused(f"the bot answered {response.status_code} to a demo request: {response.text[:200]}")
        try:
            return response.json() if response.content else {}
        except ValueError:
            return {}
