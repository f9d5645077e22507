"""Answers at Slack's ``response_url``s over kept-alive connections.

Bolt's ``respond`` opens a new HTTPS connection for every message (a TCP and TLS handshake
each time). Every click and command answers this way, so the bot keeps a few idle
connections per host instead, as a browser would. ``respond`` keeps Bolt's signature; a
middleware in ``bot.runtime.app`` puts this one in every request's context.
"""

from __future__ import annotations

import http.client
import json
import logging
import select
import ssl
import threading
from collections import defaultdict
from typing import Any, Sequence
from urllib.parse import urlsplit

from slack_bolt.context.respond import Respond
from slack_sdk.webhook import WebhookResponse

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
IDLE_PER_HOST = 8
# Errors that, before any answer arrived, mean a kept-alive connection had been closed by the
# server while idle: the request never reached it, so it is sent once more on a new connection.
# On a new connection, or once an answer has begun, nothing is resent: the message may have been
# delivered, and a person must not see it twice.
_STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class _NoAnswer(Exception):
    """The connection broke before the status line of an answer: the cause is the original error."""

Origin = tuple[str, str, int]


class ResponseUrlPoster:
    """Posts JSON to response URLs, reusing up to ``IDLE_PER_HOST`` idle connections per origin."""

    def __init__(self, *, timeout: float = TIMEOUT_SECONDS, ssl_context: ssl.SSLContext | None = None):
        self._timeout = timeout
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = defaultdict(list)
        self._lock = threading.Lock()

    def post(self, url: str, message: dict) -> WebhookResponse:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not a response URL: {url!r}")
        origin = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        body = json.dumps(message).encode("utf-8")
        connection, reused = self._connection(origin)
        try:
            try:
                status, headers, answer = self._exchange(connection, path, body)
            except _NoAnswer:
                if not reused:
                    raise
                # The idle connection had been closed: send it once more, on a new one.
                status, headers, answer = self._exchange(self._new_connection(origin), path, body)
        except _NoAnswer as failed:
            raise failed.__cause__ from None
        if status != 200:
            log.warning("a response_url answered %d: %s", status, answer[:200])
        return WebhookResponse(url=url, status_code=status, body=answer, headers=headers)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, defaultdict(list)
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def _exchange(self, connection: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, dict, str]:
        """One request and its answer; the connection goes back to the pool, or is closed on any error."""
        try:
            try:
                connection.request("POST", path, body=body, headers={"Content-Type": "application/json;charset=utf-8"})
                response = connection.getresponse()
            except _STALE_CONNECTION as error:
                raise _NoAnswer() from error
            answer = response.read().decode("utf-8", "replace")
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._give_back(connection)
        return response.status, dict(response.getheaders()), answer

    def _connection(self, origin: Origin) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection to ``origin`` that the server has not closed, or a new one."""
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                connection = idle.pop() if idle else None
            if connection is None:
                return self._new_connection(origin), False
            if _still_open(connection):
                return connection, True
            connection.close()

    def _new_connection(self, origin: Origin) -> http.client.HTTPConnection:
        scheme, host, port = origin
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self._timeout, context=self._ssl_context)
        return http.client.HTTPConnection(host, port, timeout=self._timeout)

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        scheme = "https" if isinstance(connection, http.client.HTTPSConnection) else "http"
        origin = (scheme, connection.host, connection.port)
        with self._lock:
            idle = self._idle[origin]
            if len(idle) < IDLE_PER_HOST:
                idle.append(connection)
                return
        connection.close()


def _still_open(connection: http.client.HTTPConnection) -> bool:
    """An idle connection has nothing to read; if it has, the server closed it (or broke protocol)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        if hasattr(select, "poll"):  # select.select cannot watch descriptors past 1023
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return not poller.poll(0)
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class PooledRespond(Respond):
    """Bolt's ``respond``, sent through a shared ``ResponseUrlPoster``."""

    def __init__(self, *, response_url: str | None, poster: ResponseUrlPoster):
        super().__init__(response_url=response_url)
        self._poster = poster

    def __call__(  # noqa: PLR0913 - Bolt's signature
        self,
        text: str | dict = "",
        blocks: Sequence[Any] | None = None,
        attachments: Sequence[Any] | None = None,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WebhookResponse:
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        if isinstance(text, dict):
            return self._poster.post(self.response_url, _message(**text))
        return self._poster.post(self.response_url, _message(
            text=text, blocks=blocks, attachments=attachments, response_type=response_type,
            replace_original=replace_original, delete_original=delete_original, unfurl_links=unfurl_links,
            unfurl_media=unfurl_media, thread_ts=thread_ts, metadata=metadata,
        ))


def _message(**fields: Any) -> dict:
    """The JSON Slack expects: the fields given, blocks and attachments as plain dicts."""
    message = {"text": fields.pop("text", "") or ""}
    for name, value in fields.items():
        if value is None or (name in ("blocks", "attachments") and not value):
            continue
        if name in ("blocks", "attachments"):
            value = [item.to_dict() if hasattr(item, "to_dict") else item for item in value]
        message[name] = value
    return message
