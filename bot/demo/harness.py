"""Everything the demo runs in its own process: the Slack stand-in, the bot behind its real HTTP
endpoint, and a small server for the ``response_url`` replies Slack would show people.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import uvicorn
from slack_bolt import App

from bot.runtime.services import Services

START_TIMEOUT = 10.0
IDLE_TIMEOUT = 60.0


class IdleTracker(Executor):
    """Bolt's pool for the work a listener does after ``ack()``, counting what is still running.

    Bolt answers Slack first and works after, so a request's effects arrive after its HTTP
    response. The demo moves simulated time forward only once the bot has finished: this
    wraps the pool Bolt already has and lets :meth:`wait_idle` block until it is empty.
    """

    def __init__(self, inner: Executor):
        self._inner = inner
        self._running = 0
        self._changed = threading.Condition()

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        with self._changed:
            self._running += 1
        future = self._inner.submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _: Future) -> None:
        with self._changed:
            self._running -= 1
            self._changed.notify_all()

    def wait_idle(self, timeout: float = IDLE_TIMEOUT) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self._running == 0, timeout):
                raise TimeoutError(f"the bot was still busy after {timeout:.0f} s")

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait, cancel_futures=cancel_futures)


def track_listeners(bolt_app: App) -> IdleTracker:
    runner = bolt_app.listener_runner
    tracker = IdleTracker(runner.listener_executor)
    runner.listener_executor = tracker
    return tracker


class BotServer:
    """The bot's Starlette app under uvicorn on a free port of 127.0.0.1, in a thread."""

    def __init__(self, web_app: Any):
        config = uvicorn.Config(web_app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="compass-demo-bot", daemon=True)

    def start(self) -> str:
        """Start serving; returns the base URL."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the bot's HTTP server did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=START_TIMEOUT)


@dataclass
class Reply:
    """A message the bot sent to a ``response_url``: what one person saw, privately or in place."""

    url: str
    body: dict


@dataclass
class ReplySink:
    """Receives the bot's ``response_url`` posts, as Slack would."""

    replies: list[Reply] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8") if length else "{}"
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"text": raw}
                with sink._lock:
                    sink.replies.append(Reply(url=f"{sink.base_url}{self.path}", body=body))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="compass-demo-replies", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def new_url(self) -> str:
        with self._lock:
            self._next += 1
            return f"{self.base_url}/response/{self._next}"

    def record(self, url: str, body: dict) -> None:
        """A message a command's acknowledgement carried: Slack shows it like a reply."""
        with self._lock:
            self.replies.append(Reply(url=url, body=body))

    def since(self, index: int) -> list[Reply]:
        with self._lock:
            return list(self.replies[index:])

    def count(self) -> int:
        with self._lock:
            return len(self.replies)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class RunningBot:
    services: Services
    url: str
    tracker: IdleTracker
    server: BotServer

    @property
    def endpoint(self) -> str:
        return f"{self.url}/slack/events"


def start_bot(services: Services) -> RunningBot:
    from bot.runtime.app import build_app
    from bot.slack.web import create_web_app

    bolt_app = build_app(services)
    tracker = track_listeners(bolt_app)
    server = BotServer(create_web_app(bolt_app, services))
    return RunningBot(services=services, url=server.start(), tracker=tracker, server=server)
