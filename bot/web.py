"""HTTP mode: a Starlette app in front of Bolt.

Requests are checked here before Bolt sees them so that a bad signature is a 401 and a
malformed or unknown payload is a 400 with a log line, never a 500 or a traceback.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.oauth.oauth_flow import OAuthFlow
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.services import Services

log = logging.getLogger(__name__)

EVENT_TYPES = {"url_verification", "event_callback", "app_rate_limited"}
INTERACTION_TYPES = {"block_actions", "view_submission", "view_closed", "shortcut", "message_action", "block_suggestion"}
MAX_BODY_BYTES = 1_000_000


class BadRequest(Exception):
    pass


def classify(body: str, content_type: str) -> str:
    """Which kind of Slack request this body is; raises BadRequest if it is none."""
    if content_type.startswith("application/json"):
        try:
            payload = json.loads(body)
        except ValueError:
            raise BadRequest("body is not valid JSON") from None
        if not isinstance(payload, dict) or payload.get("type") not in EVENT_TYPES:
            raise BadRequest(f"unknown event payload type {payload.get('type') if isinstance(payload, dict) else None!r}")
        return "event"
    form = parse_qs(body, keep_blank_values=True)
    if "payload" in form:
        try:
            payload = json.loads(form["payload"][0])
        except ValueError:
            raise BadRequest("interactivity payload is not valid JSON") from None
        if not isinstance(payload, dict) or payload.get("type") not in INTERACTION_TYPES:
            raise BadRequest(f"unknown interactivity payload type {payload.get('type') if isinstance(payload, dict) else None!r}")
        if not isinstance(payload.get("user"), dict) or not payload["user"].get("id"):
            raise BadRequest("interactivity payload has no user")
        if payload["type"] in ("view_submission", "view_closed") and not (
            isinstance(payload.get("view"), dict) and payload["view"].get("type") and payload["view"].get("callback_id")
        ):
            raise BadRequest(f"{payload['type']} payload has no usable view")
        if payload["type"] == "block_actions" and not isinstance(payload.get("actions"), list):
            raise BadRequest("block_actions payload has no actions")
        return "interaction"
    if form.get("command") and form.get("user_id") and form.get("team_id"):
        return "command"
    raise BadRequest("neither an event, a command nor an interactivity payload")


def create_web_app(bolt_app: App, services: Services) -> Starlette:
    verifier = SignatureVerifier(services.settings.slack_signing_secret or "")
    oauth_flow: OAuthFlow | None = bolt_app.oauth_flow

    async def slack_events(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            log.warning("rejected a %d-byte request to /slack/events", len(raw))
            return PlainTextResponse("request too large", status_code=413)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            log.warning("rejected a Slack request whose body is not UTF-8")
            return PlainTextResponse("malformed request", status_code=400)
        if not verifier.is_valid_request(body, headers):
            log.warning("rejected a request with an invalid or stale Slack signature")
            return PlainTextResponse("invalid signature", status_code=401)
        try:
            kind = classify(body, headers.get("content-type", ""))
        except BadRequest as exc:
            log.warning("rejected a malformed Slack request: %s", exc)
            return PlainTextResponse("malformed request", status_code=400)
        bolt_request = BoltRequest(body=body, query=request.url.query, headers=headers)
        try:
            bolt_response: BoltResponse = await run_in_threadpool(bolt_app.dispatch, bolt_request)
        except Exception:  # noqa: BLE001 - never a traceback to Slack
            log.exception("dispatching a Slack %s failed", kind)
            return PlainTextResponse("", status_code=200 if kind == "event" else 400)
        if bolt_response.status == 404:
            # No listener for it: Slack must not retry an event we don't handle.
            log.info("no listener for this Slack %s", kind)
            return PlainTextResponse("", status_code=200 if kind == "event" else 400)
        return _to_starlette(bolt_response)

    async def healthz(_: Request) -> Response:
        try:
            await run_in_threadpool(_ping_database, services)
        except Exception as exc:  # noqa: BLE001
            log.warning("health check: database unreachable: %s", exc)
            return JSONResponse({"ok": False, "database": "unreachable"}, status_code=503)
        return JSONResponse({"ok": True, "database": "ok"})

    async def oauth(request: Request) -> Response:
        if oauth_flow is None:
            return PlainTextResponse("not found", status_code=404)
        bolt_request = BoltRequest(body="", query=request.url.query, headers={k.lower(): v for k, v in request.headers.items()})
        if request.url.path.endswith("/install"):
            response = await run_in_threadpool(oauth_flow.handle_installation, bolt_request)
        else:
            response = await run_in_threadpool(oauth_flow.handle_callback, bolt_request)
        return _to_starlette(response)

    routes = [
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/slack/install", oauth, methods=["GET"]),
        Route("/slack/oauth_redirect", oauth, methods=["GET"]),
    ]
    return Starlette(routes=routes)


def _ping_database(services: Services) -> None:
    with services.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _to_starlette(bolt_response: BoltResponse) -> Response:
    response = Response(content=bolt_response.body, status_code=bolt_response.status)
    for name, values in bolt_response.headers.items():
        if name.lower() == "content-length":
            continue
        for value in values:
            response.headers.append(name, value)
    return response
