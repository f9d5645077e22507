"""The bot's real HTTP app under uvicorn, on a free port of 127.0.0.1, in a thread."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

import uvicorn


@contextmanager
def running_bot(services, warm_ups: list | None = None) -> Iterator[str]:  # noqa: ANN001
    """Yields the base URL of the running bot; ``warm_ups`` receives the start-up work `serve` would run."""
    from bot.runtime.app import build_app
    from bot.slack.web import create_web_app

    web_app = create_web_app(build_app(services, warm_ups), services)
    server = uvicorn.Server(uvicorn.Config(web_app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the bot's HTTP server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
