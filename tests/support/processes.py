"""Real bot processes for the fault tests: clock workers and `compass-bot serve --no-clock`.

A clock worker is ``python -c CLOCK_WORKER '<json>'``: the bot's own :class:`bot.runtime.clock.Clock`,
ticking until nothing due is left open. Tests compress minutes into seconds, so the worker
takes a short lease (a killed worker's rows come back in seconds, not five minutes), a short
retry backoff and, to match the lease, a short takeover time for an interrupted session post
(``POST_CLAIM_STALE`` must stay below the lease, as 4 minutes is below the default 5).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ADMIN_ID, BOT_TOKEN, SIGNING_SECRET

ROOT = Path(__file__).resolve().parent.parent.parent

CLOCK_WORKER = """
import json, sys, time
from datetime import timedelta

config = json.loads(sys.argv[1])

import logging
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s")
logging.getLogger("slack_sdk").setLevel(logging.WARNING)

import bot.runtime.clock
import bot.flows.sessions
from sqlalchemy.exc import SQLAlchemyError
from bot.runtime.clock import Clock, SingleClockLock, sqlite_lock_path
from bot.runtime.settings import load_settings
from bot.slack.rate_limits import SlackRateLimiter
from bot.runtime.services import Services
from bot.slack.client import configure_rate_limits
from storage.db import utcnow
from tests.support.fault_load import open_due

bot.runtime.clock.BASE_BACKOFF = timedelta(seconds=config["backoff"])
bot.flows.sessions.POST_CLAIM_STALE = timedelta(seconds=config["post_claim_stale"])
settings = load_settings()
services = Services.from_settings(settings)
# Slack's budgets stay in force (per channel, per method) but a thousand times faster, as in the other tests.
configure_rate_limits(SlackRateLimiter(posts_per_minute=settings.compass_posts_per_minute, scale=1000))
open(config["ready"], "w").close()
if config.get("go"):
    import os
    while not os.path.exists(config["go"]):
        time.sleep(0.005)
lock_path = sqlite_lock_path(settings.database_url)
lock = SingleClockLock(lock_path) if lock_path else None
if lock is not None:
    lock.acquire()  # a clock killed with -9 must not keep the next one out
clock = Clock(services, worker_id=config["id"], batch=config["batch"], lease=timedelta(seconds=config["lease"]),
              workers=config["workers"])
delivered = ticks = 0
while True:
    report = clock.tick()
    ticks += 1
    delivered += report.delivered
    if report.total():
        continue
    try:
        left = open_due(services.engine, utcnow())
    except SQLAlchemyError:
        left = -1
    if left == 0:
        break
    time.sleep(0.1)
print(json.dumps({"worker": config["id"], "delivered": delivered, "ticks": ticks}), flush=True)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bot_env(*, slack_api_url: str, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COMPASS_", "DATABASE_URL"))}
    env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack_api_url,
               DATABASE_URL=database_url, COMPASS_ADMINS=ADMIN_ID, COMPASS_POSTS_PER_MINUTE="10000",
               PYTHONPATH=str(ROOT), **extra)
    return env


class ClockWorker:
    """One clock process. ``ready`` exists once it has started (imports, settings, database engine); with
    ``go`` it then waits for that file before it takes the SQLite clock lock and ticks, so a test can
    start the next clock while the current one works."""

    def __init__(self, env: dict[str, str], workdir: Path, worker_id: str, *, lease: float = 2.0, batch: int = 5,
                 workers: int = 4, backoff: float = 0.2, go: Path | None = None):
        self.id = worker_id
        self.ready = workdir / f"{worker_id}.ready"
        self.log = workdir / f"{worker_id}.log"
        config = {"id": worker_id, "lease": lease, "batch": batch, "workers": workers, "backoff": backoff,
                  "post_claim_stale": lease * 0.75, "ready": str(self.ready), "go": str(go) if go else None}
        self._log = open(self.log, "w")  # noqa: SIM115 - closed in wait/kill
        self.process = subprocess.Popen([sys.executable, "-c", CLOCK_WORKER, json.dumps(config)], env=env, cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=self._log, text=True)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready.exists():
            if self.process.poll() is not None:
                raise AssertionError(f"clock worker {self.id} exited early:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"clock worker {self.id} did not start in {timeout}s")
            time.sleep(0.01)

    def kill(self) -> bool:
        """SIGKILL, as the OOM killer or a pulled plug would; False if it had already finished."""
        finished = self.process.poll() is not None
        if not finished:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()
        return not finished

    def result(self, timeout: float = 120) -> dict:
        try:
            out, _ = self.process.communicate(timeout=timeout)
        finally:
            self._log.close()
        assert self.process.returncode == 0, self.log.read_text()[-3000:]
        return json.loads(out.strip().splitlines()[-1])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self._log.close()


class ServeProcess:
    """`compass-bot serve --no-clock` on a port of 127.0.0.1."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str):
        self.port = free_port()
        self.log = workdir / f"{name}.log"
        self._log = open(self.log, "w")  # noqa: SIM115 - closed in stop
        self.process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--no-clock", "--host", "127.0.0.1"],
                                        env={**env, "PORT": str(self.port)}, cwd=workdir, stdout=self._log,
                                        stderr=subprocess.STDOUT, text=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited early:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not answer /healthz in {timeout}s:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
        return self.log.read_text()
