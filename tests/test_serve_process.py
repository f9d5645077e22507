"""`compass-bot serve` as a real process: it reaches Slack through SLACK_API_URL and answers Slack."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx

from tests.conftest import BOT_TOKEN, SIGNING_SECRET, TEAM_ID
from tests.support.slack_requests import SlackRequests
from tests.support.waiting import eventually


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_answers_a_signed_command_and_runs_the_clock(standin, responses, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COMPASS_", "DATABASE_URL"))}
    env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=standin.url,
               DATABASE_URL=f"sqlite:///{tmp_path}/compass.db", PORT=str(port))
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1"], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                assert process.poll() is None, process.stdout.read()
                return False

        eventually(healthy, timeout=30)
        assert standin.calls_to("auth.test"), "the bot checks its token with Slack at start"
        slack = SlackRequests(endpoint=f"http://127.0.0.1:{port}/slack/events", signing_secret=SIGNING_SECRET,
                              team_id=TEAM_ID, responses=responses, standin=standin)
        try:
            assert slack.command("U0ANA", "help").status_code == 200
            assert "/compass join" in eventually(lambda: responses.messages(slack.last_response_url))[-1]["text"]
        finally:
            slack.close()
        # The heartbeat runs in the same process: its lock file exists next to the database.
        assert (tmp_path / "compass.db.clock.lock").exists()
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert "Traceback" not in (process.stdout.read() or "")


def test_a_second_clock_on_sqlite_refuses_to_start(standin, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COMPASS_", "DATABASE_URL"))}
    env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=standin.url,
               DATABASE_URL=f"sqlite:///{tmp_path}/compass.db")
    first = subprocess.Popen([sys.executable, "-m", "bot.cli", "clock"], env=env, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        eventually(lambda: (tmp_path / "compass.db.clock.lock").exists() and _locked(tmp_path / "compass.db.clock.lock"), timeout=30)
        # The clock gives way to the web process on a shared machine (COMPASS_CLOCK_NICE, 10 by default).
        assert os.getpriority(os.PRIO_PROCESS, first.pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
        second = subprocess.run([sys.executable, "-m", "bot.cli", "clock"], env=env, cwd=tmp_path, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 2
        assert "another clock is already running" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None
    finally:
        first.terminate()
        first.wait(timeout=20)


def _locked(path) -> bool:  # noqa: ANN001
    import fcntl

    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
