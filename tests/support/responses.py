"""A tiny HTTP server standing in for Slack's ``response_url`` webhooks."""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class ResponseSink:
    def __init__(self) -> None:
        self.received: dict[str, list[dict]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                with sink._lock:
                    sink.received.setdefault(self.path, []).append(json.loads(body or "{}"))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def new_url(self) -> str:
        return f"{self.base_url}/response/{next(self._ids)}"

    def record_acknowledgement(self, url: str, answer: httpx.Response) -> None:
        """Keep the message a command's acknowledgement carried, if any: Slack shows it like one
        sent to the command's response_url, so it is kept with those."""
        if answer.status_code != 200 or not answer.headers.get("content-type", "").startswith("application/json"):
            return
        message = answer.json()
        if isinstance(message, dict) and (message.get("text") or message.get("blocks")):
            with self._lock:
                self.received.setdefault(url[len(self.base_url):], []).append(message)

    def messages(self, url: str) -> list[dict]:
        path = url[len(self.base_url):]
        with self._lock:
            return list(self.received.get(path, []))

    def all_messages(self) -> list[dict]:
        with self._lock:
            return [m for messages in self.received.values() for m in messages]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
