"""The stand-in's HTTP side and its public face, :class:`SlackStandIn`.

A ``ThreadingHTTPServer`` on 127.0.0.1 (port 0) serves ``/api/<method>`` like
slack.com/api and ``/upload/v1/<key>`` like the upload URLs that
files.getUploadURLExternal hands out. Every request is recorded as a
:class:`~bot.standin.state.Call` before anything else happens to it.
"""

from __future__ import annotations

import base64
import copy
import email.policy
import json
import logging
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.standin.api import METHODS
from bot.standin.api.apps import APP_TOKEN_METHODS
from bot.standin.api.oauth import TOKENLESS_METHODS
from bot.standin.api.files import receive_upload
from bot.standin.args import Args, SlackError, decode_json_arguments
from bot.standin.faults import ANY_METHOD, Fault, FaultPlan
from bot.standin.ratelimits import POST_MESSAGE, RateLimits
from bot.standin.scope_check import missing_scope
from bot.standin.state import Call, Workspace

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
UPLOAD_PREFIX = "/upload/v1/"
# Name under which POSTs to upload URLs are recorded (and can be targeted by ``inject``).
UPLOAD_CALL = "files.upload.raw"
_FILE_FIELDS = ("id", "title", "filename", "content", "channels", "initial_comment", "thread_ts")


@dataclass
class _Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


def _json_answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> _Answer:
    return _Answer(status=status, body=json.dumps(body).encode("utf-8"), headers=headers or {})


def _multipart_fields(content_type: str, body: bytes) -> dict[str, Any]:
    """Form fields of a multipart body: text as str, file parts as bytes."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    )
    if not message.is_multipart():
        raise SlackError("invalid_form_data")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        fields[str(name)] = payload if part.get_filename() else payload.decode("utf-8")
    return fields


def parse_arguments(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    """Arguments from the query string and a form, multipart or JSON body (the body wins)."""
    arguments: dict[str, Any] = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return arguments
    if media_type == "application/json":
        try:
            decoded = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SlackError("invalid_json") from None
        if not isinstance(decoded, dict):
            raise SlackError("invalid_json")
        arguments.update(decoded)
    elif media_type == "multipart/form-data":
        arguments.update(_multipart_fields(content_type, body))
    else:
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise SlackError("invalid_form_data") from None
        arguments.update({key: values[-1] for key, values in form.items()})
    return arguments


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 makes concurrent clients wait out a SYN retransmit (1 s).
    request_queue_size = 128
    standin: "SlackStandIn"


class _RequestHandler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "SlackStandIn/1.0"

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_GET(self) -> None:  # noqa: N802
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature from http.server
        logger.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        target = urlsplit(self.path)
        standin = self.server.standin
        content_type = self.headers.get("Content-Type", "")
        if target.path.startswith(API_PREFIX):
            answer = standin._answer_api(
                target.path[len(API_PREFIX) :], self.headers.get("Authorization"), content_type, body, target.query
            )
        elif target.path.startswith(UPLOAD_PREFIX):
            answer = standin._answer_upload(target.path[len(UPLOAD_PREFIX) :], content_type, body)
        else:
            answer = _Answer(status=404, body=b"Not Found", content_type="text/plain")
        if answer.delay:
            standin._stopping.wait(answer.delay)
        if answer.drop:
            self.close_connection = True
            return  # closing without a status line: the client sees the connection drop
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except OSError:
            logger.debug("client went away before the answer to %s", self.path)


class SlackStandIn:
    """A stateful, thread-safe Slack Web API over real HTTP on 127.0.0.1.

    Pass :attr:`url` as ``WebClient(base_url=...)``. Also a context manager.
    """

    def __init__(
        self,
        *,
        team_id: str = "T0COMPASS",
        team_name: str = "Compass Health",
        bot_token: str = "xoxb-test",
        bot_user_id: str = "UBOT",
    ) -> None:
        self._ws = Workspace(team_id=team_id, team_name=team_name, bot_token=bot_token, bot_user_id=bot_user_id)
        self._calls: list[Call] = []
        self._faults = FaultPlan()
        self._stopping = threading.Event()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.latency = 0.0  # seconds added to every answer
        self.rate_limits: RateLimits | None = None  # None: no enforcement, like a test workspace with no traffic

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> "SlackStandIn":
        if self._server is not None:
            raise RuntimeError("the stand-in is already running")
        self._stopping.clear()
        server = _HTTPServer(("127.0.0.1", 0), _RequestHandler)
        server.standin = self
        self._server = server
        self._ws.upload_base_url = f"http://127.0.0.1:{self.port}{UPLOAD_PREFIX}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes answers that are sleeping out an injected delay
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> "SlackStandIn":
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the stand-in is not running; call start() first")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The Web API base URL, ``http://127.0.0.1:PORT/api/``."""
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    # -- the workspace ----------------------------------------------------------------

    @property
    def team_id(self) -> str:
        return self._ws.team_id

    @property
    def bot_user_id(self) -> str:
        return self._ws.bot_user_id

    @property
    def bot_token(self) -> str:
        return self._ws.bot_token

    def add_workspace_token(self, token: str, team_id: str) -> None:
        """Accept ``token`` as the bot token of another workspace, ``team_id``, of the same Grid: its calls
        see this stand-in's users and channels but spend that workspace's rate budget."""
        with self._ws.lock:
            self._ws.workspace_tokens[token] = team_id

    @property
    def trigger_ttl(self) -> float:
        """Seconds a trigger_id stays valid (Slack: 3)."""
        return self._ws.trigger_ttl

    @trigger_ttl.setter
    def trigger_ttl(self, seconds: float) -> None:
        self._ws.trigger_ttl = seconds

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        tz: str = "America/Los_Angeles",
        email: str | None = None,
        is_admin: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
        is_restricted: bool = False,
        is_ultra_restricted: bool = False,
        is_app_user: bool = False,
    ) -> dict[str, Any]:
        """Add (or replace) a workspace member; returns the user object users.info will return.

        ``is_restricted``: a multi-channel guest; ``is_ultra_restricted``: a single-channel guest.
        """
        return self._ws.add_user(
            user_id,
            name=name,
            real_name=real_name,
            tz=tz,
            email=email,
            is_admin=is_admin,
            is_bot=is_bot,
            deleted=deleted,
            is_restricted=is_restricted,
            is_ultra_restricted=is_ultra_restricted,
            is_app_user=is_app_user,
        )

    def enable_socket_mode(self, *, app_token: str, url: str) -> None:
        """Answer ``apps.connections.open`` for ``app_token`` with ``url`` (a Socket Mode endpoint's ws:// URL)."""
        with self._ws.lock:
            self._ws.app_token, self._ws.socket_mode_url = app_token, url

    def change_user(self, user_id: str, **fields: Any) -> dict[str, Any]:
        """Change a member as a Slack admin would (``deleted=True`` deactivates, ``is_restricted=True`` makes a guest);
        returns the user object Slack then sends in the ``user_change`` event and users.info returns."""
        return self._ws.change_user(user_id, **fields)

    def add_channel(self, name: str, *, is_private: bool = False, members: tuple[str, ...] | list[str] = ()) -> str:
        """Add a channel made by a person; the bot is a member only if listed. Returns its ID."""
        return self._ws.add_channel(name, is_private=is_private, members=members)

    def new_trigger_id(self, *, view_id: str | None = None) -> str:
        """A trigger_id that views.open/views.push accept once, within :attr:`trigger_ttl` seconds.

        ``view_id`` ties it to an open modal (an interaction inside it), which views.push then stacks onto.
        """
        return self._ws.new_trigger_id(view_id=view_id)

    # -- what happened ----------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._ws.lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Messages in a conversation, oldest first, thread replies included."""
        with self._ws.lock:
            self._ws.deliver_due_scheduled()
            if channel_id not in self._ws.conversations:
                raise KeyError(f"no conversation {channel_id!r} in the stand-in")
            return [
                {"user": None, "text": "", "blocks": None, "metadata": None, "thread_ts": None, **copy.deepcopy(m)}
                for m in self._ws.messages[channel_id]
            ]

    def dm_channel(self, user_id: str) -> str:
        """The ID of the bot's DM with ``user_id``, opened if needed."""
        with self._ws.lock:
            if user_id not in self._ws.users:
                raise KeyError(f"no user {user_id!r} in the stand-in")
            return self._ws.open_dm(user_id)

    def dm_messages(self, user_id: str) -> list[dict[str, Any]]:
        with self._ws.lock:
            channel_id = self._ws.dm_by_user.get(user_id)
            return [] if channel_id is None else self.messages(channel_id)

    def members(self, channel_id: str) -> list[str]:
        with self._ws.lock:
            return list(self._ws.conversations[channel_id].members)

    def conversation(self, channel_id: str) -> dict[str, Any]:
        """conversations.info's view of a conversation, plus its ``members``."""
        with self._ws.lock:
            conversation = self._ws.conversations[channel_id]
            described = conversation.describe(viewer=self._ws.bot_user_id, include_num_members=True)
            return {**described, "members": list(conversation.members)}

    def ephemerals(self, user_id: str | None = None) -> list[dict[str, Any]]:
        with self._ws.lock:
            return [copy.deepcopy(e) for e in self._ws.ephemerals if user_id is None or e["user"] == user_id]

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self._ws.lock:
            view = self._ws.home_views.get(user_id)
            return copy.deepcopy(view) if view is not None else None

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        """Open modal views by ID (pushed ones included)."""
        with self._ws.lock:
            return copy.deepcopy(self._ws.open_views)

    def close_view(self, view_id: str) -> None:
        """Close a modal as the person would; closing the root closes its whole stack."""
        with self._ws.lock:
            view = self._ws.open_views[view_id]
            stack = self._ws.view_stacks[view["root_view_id"]]
            closing = stack[stack.index(view_id) :]
            del stack[stack.index(view_id) :]
            if not stack:
                del self._ws.view_stacks[view["root_view_id"]]
            for closed in closing:
                del self._ws.open_views[closed]

    @property
    def files(self) -> list[dict[str, Any]]:
        """Completed uploads: id, title, filename, content (bytes), channels, initial_comment, thread_ts."""
        with self._ws.lock:
            return [
                {key: copy.deepcopy(record[key]) for key in _FILE_FIELDS} for record in self._ws.files.values()
            ]

    def scheduled_messages(self, channel_id: str | None = None) -> list[dict[str, Any]]:
        """Messages scheduled and not yet due (due ones are posted when anything looks)."""
        with self._ws.lock:
            self._ws.deliver_due_scheduled()
            return [
                {
                    "id": item["id"],
                    "channel": item["channel_id"],
                    "post_at": item["post_at"],
                    **copy.deepcopy(item["content"]),
                }
                for item in sorted(self._ws.scheduled.values(), key=lambda item: item["post_at"])
                if channel_id is None or item["channel_id"] == channel_id
            ]

    # -- failures -------------------------------------------------------------------

    def inject(
        self,
        method_or_star: str,
        *,
        status: int | None = None,
        error: str | None = None,
        retry_after: int | None = None,
        delay: float | None = None,
        reset: bool = False,
        reset_after: bool = False,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of a method (``"*"``: any) fail.

        ``status``: an HTTP error status (429 gets a ``Retry-After``); ``error``: a Slack error
        body such as ``missing_scope`` (HTTP 200 unless ``status`` says otherwise);
        ``retry_after``: seconds, implies 429; ``reset``: drop the connection without an answer.
        Those skip the method. ``delay`` alone lets the method run and answers late, as when
        Slack did the work but the answer was slow; ``reset_after`` lets it run and then drops
        the connection, as when Slack did the work but the answer was lost.
        """
        if method_or_star != ANY_METHOD and method_or_star not in METHODS and method_or_star != UPLOAD_CALL:
            raise ValueError(f"the stand-in does not implement {method_or_star!r}")
        self._faults.add(
            Fault(
                method=method_or_star,
                status=status,
                error=error,
                retry_after=retry_after,
                delay=delay or 0.0,
                reset=reset,
                reset_after=reset_after,
                remaining=times,
            )
        )

    @property
    def granted_scopes(self) -> set[str]:
        """The bot scopes the installation holds (default: the app manifest's); a call needing another is refused."""
        return self._ws.granted_scopes

    @granted_scopes.setter
    def granted_scopes(self, scopes: set[str]) -> None:
        with self._ws.lock:
            self._ws.granted_scopes = set(scopes)

    def register_oauth_app(self, client_id: str, client_secret: str, *, enterprise_id: str = "",
                           org_install: bool = False, token_rotation: bool = False) -> None:
        """Accept oauth.v2.access from this app (multi-workspace installs), answering for a workspace
        of the Grid org ``enterprise_id``, or for the whole org (``org_install``), with tokens that
        expire and are refreshed when ``token_rotation`` is on."""
        with self._ws.lock:
            self._ws.oauth_clients[client_id] = client_secret
            self._ws.enterprise_id, self._ws.org_install, self._ws.token_rotation = enterprise_id, org_install, token_rotation

    def new_oauth_code(self, *, installer: str) -> str:
        """The one-time code Slack would append to the redirect URL after a person approves the install."""
        with self._ws.lock:
            code = f"code-{self._ws.new_id('')}"
            self._ws.oauth_codes[code] = installer
            return code

    def reset(self) -> None:
        """Forget calls, messages, views, files, faults and rate-limit counts; keep seeded users and channels."""
        with self._ws.lock:
            self._calls.clear()
            self._faults.clear()
            self._ws.forget_activity()
            if self.rate_limits is not None:
                self.rate_limits.clear()

    # -- serving (called from the HTTP threads) ------------------------------------------

    def _record(self, method: str, args: dict[str, Any], token: str | None) -> Call:
        # Reading the clock a few frames below http.server matters: freezegun treats calls made
        # within 5 frames of an ignored module (http.server, socketserver) as real time.
        call = Call(method=method, args=args, token=token, at=self._ws.now())
        with self._ws.lock:
            self._calls.append(call)
        return call

    def _answer_api(
        self, method: str, authorization: str | None, content_type: str, body: bytes, query: str
    ) -> _Answer:
        parse_error: SlackError | None = None
        try:
            arguments = parse_arguments(content_type, body, query)
        except SlackError as exc:
            arguments, parse_error = {}, exc
        token = arguments.pop("token", None)
        if authorization and authorization.lower().startswith("bearer "):
            token = authorization[len("bearer ") :].strip()
        elif authorization and authorization.lower().startswith("basic ") and method in TOKENLESS_METHODS:
            client_id, _, client_secret = base64.b64decode(authorization[6:].strip()).decode("utf-8", "replace").partition(":")
            arguments.setdefault("client_id", client_id)
            arguments.setdefault("client_secret", client_secret)
        call = self._record(method, decode_json_arguments(arguments), token)
        fault = self._faults.take(method)
        if fault is not None and fault.replaces_answer:
            answer = _Answer(drop=True) if fault.reset else _json_answer(*fault.answer())
        else:
            answer = self._execute(call, parse_error)
            answer.drop = fault is not None and fault.reset_after
        answer.delay = self.latency + (fault.delay if fault is not None else 0.0)
        with self._ws.lock:
            call.status = None if answer.drop else answer.status
            call.response = None if answer.drop else json.loads(answer.body)
        return answer

    def _execute(self, call: Call, parse_error: SlackError | None) -> _Answer:
        ws = self._ws
        with ws.lock:
            ws.deliver_due_scheduled()
            handler = METHODS.get(call.method)
            tokenless = TOKENLESS_METHODS.get(call.method)
            app_level = APP_TOKEN_METHODS.get(call.method)
            if handler is None and tokenless is None and app_level is None:
                return _json_answer(200, {"ok": False, "error": "unknown_method"})
            if parse_error is not None:
                return _json_answer(200, parse_error.body())
            if app_level is not None:
                return _json_answer(200, app_level(ws, call.token))
            if tokenless is not None:
                try:
                    return _json_answer(200, {"ok": True, **tokenless(ws, Args(call.args))})
                except SlackError as exc:
                    return _json_answer(200, exc.body())
            if not call.token:
                return _json_answer(200, {"ok": False, "error": "not_authed"})
            if call.token in ws.token_expiry and ws.token_expiry[call.token] <= ws.now():
                return _json_answer(200, {"ok": False, "error": "token_expired"})
            if call.token != ws.bot_token and call.token not in ws.token_expiry and call.token not in ws.workspace_tokens:
                return _json_answer(200, {"ok": False, "error": "invalid_auth"})
            refusal = missing_scope(ws, call.method, call.args)
            if refusal is not None:
                return _json_answer(200, refusal)
            if self.rate_limits is not None:
                channel = ws.resolve_channel_id(call.args.get("channel")) if call.method == POST_MESSAGE else None
                wait = self.rate_limits.admit(call.method, channel=channel, workspace=ws.workspace_tokens.get(call.token, ""))
                if wait is not None:
                    return _json_answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)})
            try:
                result = handler(ws, Args(call.args))
            except SlackError as exc:
                return _json_answer(200, exc.body())
            except Exception:  # a stand-in bug must be loud, not look like a Slack answer
                logger.exception("stand-in failed on %s", call.method)
                return _json_answer(500, {"ok": False, "error": "internal_error", "standin_bug": True})
            return _json_answer(200, {"ok": True, **result})

    def _answer_upload(self, key: str, content_type: str, body: bytes) -> _Answer:
        content = body
        if content_type.split(";", 1)[0].strip().lower() == "multipart/form-data":
            try:
                parts = _multipart_fields(content_type, body)
            except SlackError:
                parts = {}
            content = next((value for value in parts.values() if isinstance(value, bytes)), body)
        call = self._record(UPLOAD_CALL, {"key": key, "length": len(content)}, None)
        fault = self._faults.take(UPLOAD_CALL)
        if fault is not None and fault.replaces_answer:
            answer = _Answer(drop=True) if fault.reset else _json_answer(*fault.answer())
        else:
            with self._ws.lock:
                stored = receive_upload(self._ws, key, content)
            if stored:
                answer = _Answer(status=200, body=f"OK - {len(content)}".encode(), content_type="text/plain")
            else:
                answer = _Answer(status=404, body=b"upload URL not found", content_type="text/plain")
        answer.delay = self.latency + (fault.delay if fault is not None else 0.0)
        with self._ws.lock:
            call.status = None if answer.drop else answer.status
            if not answer.drop:
                call.response = {"ok": answer.status == 200, "body": answer.body.decode("utf-8", "replace")}
        return answer
