"""A local Socket Mode endpoint speaking Slack's envelope protocol (docs.slack.dev, "Using Socket Mode").

The app asks ``apps.connections.open`` (the stand-in) for a URL and opens a WebSocket to it; Slack
(this endpoint) sends ``hello``, then envelopes ``{"envelope_id", "type", "payload",
"accepts_response_payload"}``; the app acknowledges each with ``{"envelope_id", "payload"?}``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

APP_ID = "A0COMPASS"


class SocketModeEndpoint:
    def __init__(self) -> None:
        self._server = serve(self._handle, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, name="socket-mode-endpoint", daemon=True)
        self._lock = threading.Condition()
        self._connections: list[ServerConnection] = []
        self._acks: dict[str, dict[str, Any]] = {}
        self.received: list[dict[str, Any]] = []  # every frame the app sent, in order
        self._ids = itertools.count(1)

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link/?ticket=standin"

    def start(self) -> "SocketModeEndpoint":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def _handle(self, connection: ServerConnection) -> None:
        connection.send(json.dumps({
            "type": "hello", "num_connections": 1,
            "debug_info": {"host": "applink-standin", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }))
        with self._lock:
            self._connections.append(connection)
            self._lock.notify_all()
        try:
            for frame in connection:
                message = json.loads(frame)
                with self._lock:
                    self.received.append(message)
                    if "envelope_id" in message:
                        self._acks[message["envelope_id"]] = message
                    self._lock.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._connections.remove(connection)

    def wait_connected(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self._connections:
                if not self._lock.wait(timeout=max(0.0, deadline - time.monotonic())) and time.monotonic() > deadline:
                    raise AssertionError("the app never opened a Socket Mode connection")

    def send(self, kind: str, payload: dict[str, Any], *, timeout: float = 10.0) -> dict[str, Any]:
        """Send one envelope and return the app's acknowledgement of it."""
        envelope_id = f"envelope-{next(self._ids):04d}"
        envelope: dict[str, Any] = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                                    "accepts_response_payload": kind != "events_api"}
        if kind == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        with self._lock:
            connection = self._connections[-1]
        connection.send(json.dumps(envelope))
        deadline = time.monotonic() + timeout
        with self._lock:
            while envelope_id not in self._acks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"the app did not acknowledge {kind} envelope {envelope_id}")
                self._lock.wait(timeout=remaining)
            return self._acks[envelope_id]
