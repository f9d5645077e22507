"""HTTP mode: a Starlette app in front of Bolt.

Requests are checked here before Bolt sees them so that a bad signature is a 401 and a
malformed or unknown payload is a 400 with a log line, never a 500 or a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol
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

log = logging.getLogger(__name__)

# The one 5xx the endpoint sends: an event it could not record, so that Slack retries it.
EVENT_RETRY_STATUS = 503

EVENT_TYPES = {"url_verification", "event_callback", "app_rate_limited"}
INTERACTION_TYPES = {"block_actions", "view_submission", "view_closed", "shortcut", "message_action", "block_suggestion"}
MAX_BODY_BYTES = 1_000_000
DISPATCH_THREADS = 40  # requests Bolt dispatches at once (each waits for its listener's ack)


class Services(Protocol):
    """What the endpoint needs of the runtime's services: the signing secret and the engine to ping."""

    settings: Any
    engine: Any


class BadRequest(Exception):
    pass


# The fields Bolt reads to route a request and to build its context, and the shapes Slack gives
# them. Bolt assumes these shapes; a signed request that breaks them is malformed, not a crash.
# Slack IDs (U0123ABCD, T…, C…, Ev…) are short and plain; the database keeps them in 32 characters.
SLACK_ID = re.compile(r"[A-Za-z0-9._-]{0,32}")
ID_FIELDS = ("team", "user", "enterprise", "channel")  # an ID, or an object whose ids are IDs
ID_TEXT_FIELDS = ("team_id", "user_id", "channel_id", "enterprise_id", "user_team", "api_app_id", "event_id",
                  "context_team_id", "context_enterprise_id", "app_installed_team_id")
TEXT_FIELDS = ("type", "thread_ts", "trigger_id", "response_url", "callback_id", "action_id", "block_id",
               "function_execution_id", "bot_access_token", "private_metadata", "command")
OBJECT_FIELDS = ("event", "message", "previous_message", "item", "assistant_thread", "function_data", "view", "container",
                 "state")  # objects, never null: Bolt reads them with .get(key, {})
LIST_FIELDS = ("authorizations", "response_urls", "actions")  # lists of objects


def _not_an_id(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and SLACK_ID.fullmatch(value))


def _has_nul(value: object) -> bool:
    """Slack never sends a NUL character, and PostgreSQL cannot store one."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def shape_problem(payload: dict, path: str = "") -> str | None:
    """What is wrong with the shape of the fields Bolt relies on, or None."""
    if not path and _has_nul(payload):
        return "a NUL character"
    for key in ID_FIELDS:
        value = payload.get(key)
        if isinstance(value, dict):
            if any(_not_an_id(value.get(k)) for k in ("id", "team_id", "enterprise_id")):
                return f"{path}{key} has an id that is not a Slack ID"
        elif _not_an_id(value):
            return f"{path}{key} is neither a Slack ID nor an object"
    for key in ID_TEXT_FIELDS:
        if _not_an_id(payload.get(key)):
            return f"{path}{key} is not a Slack ID"
    for key in TEXT_FIELDS:
        if payload.get(key) is not None and not isinstance(payload[key], str):
            return f"{path}{key} is not text"
    for key in OBJECT_FIELDS:
        if key not in payload:
            continue
        value = payload[key]
        if not isinstance(value, dict):
            return f"{path}{key} is not an object"
        problem = shape_problem(value, f"{path}{key}.")
        if problem:
            return problem
    for key in LIST_FIELDS:
        value = payload.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            return f"{path}{key} is not a list of objects"
        for index, item in enumerate(value):
            problem = shape_problem(item, f"{path}{key}[{index}].")
            if problem:
                return problem
    return None


def is_ssl_check(body: str, content_type: str) -> bool:
    """Slack's certificate check of a slash command's URL (a form with ``ssl_check=1``), which wants a 200."""
    if not content_type.startswith("application/x-www-form-urlencoded") or "ssl_check=" not in body:
        return False  # most requests: no need to parse a whole click payload to know
    return parse_qs(body).get("ssl_check") == ["1"]


def _is_url(value: object) -> bool:
    """Slack always sends commands and message clicks a response_url to answer on."""
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def classify(payload: object) -> str:
    """Which kind of Slack request a body is, as Bolt parsed it; raises BadRequest if it is none.

    Checking Bolt's own reading of the body (not a second parse of it) means the two can never
    disagree, e.g. on a repeated ``payload`` field or on a form body that starts with ``{``.
    """
    if not isinstance(payload, dict):
        raise BadRequest("the body is not an object")
    problem = shape_problem(payload)
    if problem:
        raise BadRequest(problem)
    kind = payload.get("type")
    if kind in EVENT_TYPES:
        if kind == "event_callback" and not (isinstance(payload.get("event"), dict) and payload["event"].get("type")):
            raise BadRequest("event_callback payload has no event")
        return "event"
    if kind in INTERACTION_TYPES:
        if not isinstance(payload.get("user"), dict) or not payload["user"].get("id"):
            raise BadRequest("interactivity payload has no user")
        if not isinstance(payload.get("team"), (dict, type(None))):
            raise BadRequest("interactivity payload's team is not an object")
        if "response_url" in payload and not _is_url(payload["response_url"]):
            raise BadRequest("interactivity payload has an unusable response_url")
        if kind == "block_actions" and (payload.get("container") or {}).get("type") == "message" and "response_url" not in payload:
            raise BadRequest("a click on a message without a response_url")
        if kind in ("view_submission", "view_closed") and not (
            isinstance(payload.get("view"), dict) and payload["view"].get("type") and payload["view"].get("callback_id")
        ):
            raise BadRequest(f"{kind} payload has no usable view")
        if kind == "block_actions" and not (payload.get("actions") and all(a.get("action_id") for a in payload["actions"])):
            raise BadRequest("block_actions payload has no actions")
        return "interaction"
    if kind is None and payload.get("command") and payload.get("user_id") and payload.get("team_id"):
        if not _is_url(payload.get("response_url")):
            raise BadRequest("a command without a usable response_url")
        return "command"
    raise BadRequest(f"neither an event, a command nor an interactivity payload (type {kind!r})")


def create_web_app(bolt_app: App, services: Services) -> Starlette:
    verifier = SignatureVerifier(services.settings.slack_signing_secret or "")
    oauth_flow: OAuthFlow | None = bolt_app.oauth_flow
    # Bolt's dispatch blocks its thread until the listener acknowledges. A plain executor hands
    # it over with less work per request than Starlette's run_in_threadpool (anyio's limiter and
    # worker queue), which showed at hundreds of requests a second.
    dispatch_threads = ThreadPoolExecutor(max_workers=DISPATCH_THREADS, thread_name_prefix="slack-dispatch")

    async def slack_events(request: Request) -> Response:
        raw = await _body_within_limit(request)
        if raw is None:  # closing the connection stops the server from draining the rest of it
            return PlainTextResponse("request too large", status_code=413, headers={"Connection": "close"})
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            log.warning("rejected a Slack request whose body is not UTF-8")
            return PlainTextResponse("malformed request", status_code=400)
        if is_ssl_check(body, headers.get("content-type", "")):
            return PlainTextResponse("", status_code=200)  # Slack checking our certificate; nothing to do
        try:
            signed = verifier.is_valid_request(body, headers)
        except (ValueError, TypeError):  # a timestamp that is not a number, a signature that is not ASCII
            signed = False
        if not signed:
            log.warning("rejected a request with an invalid or stale Slack signature")
            return PlainTextResponse("invalid signature", status_code=401)
        try:
            bolt_request = BoltRequest(body=body, query=request.url.query, headers=headers)
            kind = classify(bolt_request.body)
        except BadRequest as exc:
            log.warning("rejected a malformed Slack request: %s", exc)
            return PlainTextResponse("malformed request", status_code=400)
        except Exception as exc:  # noqa: BLE001 - Bolt could not even read it (not JSON, not an object, ...)
            log.warning("rejected a malformed Slack request: %s: %s", type(exc).__name__, exc)
            return PlainTextResponse("malformed request", status_code=400)
        try:
            bolt_response: BoltResponse = await asyncio.get_running_loop().run_in_executor(
                dispatch_threads, bolt_app.dispatch, bolt_request)
        except Exception:  # noqa: BLE001 - never a traceback to Slack
            log.exception("dispatching a Slack %s failed", kind)
            return PlainTextResponse("", status_code=200 if kind == "event" else 400)
        if bolt_response.status == 404:
            # No listener for it: Slack must not retry an event we don't handle.
            log.info("no listener for this Slack %s", kind)
            return PlainTextResponse("", status_code=200 if kind == "event" else 400)
        if kind == "event" and bolt_response.status == EVENT_RETRY_STATUS:
            return _to_starlette(bolt_response)
        if bolt_response.status >= 500:
            # A listener failed before it answered (the error handler logged why): still never a 5xx.
            log.warning("a Slack %s listener failed before answering", kind)
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
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette):  # noqa: ANN202
        yield
        dispatch_threads.shutdown(wait=False)

    return Starlette(routes=routes, lifespan=lifespan)


async def _body_within_limit(request: Request) -> bytes | None:
    """The body, or None once it proves longer than MAX_BODY_BYTES: the declared length is checked
    first and the stream is cut off at the limit, so a huge body is never held in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        log.warning("rejected a request to /slack/events declaring %s bytes", declared)
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            log.warning("rejected a request to /slack/events longer than %d bytes", MAX_BODY_BYTES)
            return None
        chunks.append(chunk)
    return b"".join(chunks)


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
