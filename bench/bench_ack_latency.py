"""Ack latency of `/compass` commands and button clicks over HTTP, at 50 concurrent clients.

Starts `compass-bot serve --no-clock` as a real process (SQLite, the Slack stand-in in this
process as SLACK_API_URL), then 50 concurrent clients send signed requests exactly as Slack
does. Slack gives an app 3 seconds to acknowledge; the target is p99 under 100 ms. The
baseline, measured in the same run under the same load, is `GET /healthz` (a route that
does nothing but a database ping), so the ratio shows what Bolt dispatch and our handlers
add to the bare HTTP stack.

    .venv/bin/python bench/bench_ack_latency.py [--requests 2000] [--clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.standin import SlackStandIn  # noqa: E402
from tests.support.responses import ResponseSink  # noqa: E402

SECRET = "bench-secret"
TEAM = "T0BENCH"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class SignedRequests:
    def __init__(self, response_url: str):
        self.signer = SignatureVerifier(SECRET)
        self.response_url = response_url

    def headers(self, body: str, content_type: str) -> dict[str, str]:
        ts = str(int(time.time()))
        return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": self.signer.generate_signature(timestamp=ts, body=body)}

    def command(self, user: str) -> tuple[str, dict[str, str]]:
        body = urlencode({"team_id": TEAM, "channel_id": "C0BENCH", "user_id": user, "command": "/compass", "text": "help",
                          "response_url": self.response_url, "trigger_id": "1.1.bench"})
        return body, self.headers(body, "application/x-www-form-urlencoded")

    def button(self, user: str) -> tuple[str, dict[str, str]]:
        payload = {"type": "block_actions", "team": {"id": TEAM}, "user": {"id": user, "team_id": TEAM},
                   "trigger_id": "1.1.bench", "response_url": self.response_url, "container": {"type": "message"},
                   "actions": [{"type": "button", "action_id": "forget_me_cancel", "block_id": "forget_me", "value": "cancel"}]}
        body = urlencode({"payload": json.dumps(payload)})
        return body, self.headers(body, "application/x-www-form-urlencoded")


async def load(url: str, make, total: int, clients: int, method: str = "POST") -> list[float]:  # noqa: ANN001
    latencies: list[float] = []
    counter = iter(range(total))

    async def client(number: int) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            for n in counter:
                started = time.perf_counter()
                if method == "GET":
                    response = await http.get(url)
                else:
                    body, headers = make(f"U{number:03d}{n:05d}")
                    response = await http.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:200]}")

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies


def describe(name: str, latencies: list[float]) -> dict[str, float]:
    p50, p99 = percentile(latencies, 0.50) * 1000, percentile(latencies, 0.99) * 1000
    print(f"{name:<16} n={len(latencies):5d}  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  mean {statistics.mean(latencies) * 1000:7.1f} ms")
    return {"p50_ms": p50, "p99_ms": p99}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per kind (default 2000)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    args = parser.parse_args()

    standin = SlackStandIn(team_id=TEAM, bot_token="xoxb-bench")
    standin.start()
    sink = ResponseSink()
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="compass-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COMPASS_", "DATABASE_URL"))}
    env.update(SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=standin.url,
               DATABASE_URL=f"sqlite:///{workdir}/compass.db", PORT=str(port))
    server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--no-clock", "--host", "127.0.0.1"], env=env,
                              cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the bot did not start")
            time.sleep(0.2)
        signed = SignedRequests(sink.new_url())
        asyncio.run(load(f"{base}/slack/events", signed.command, 200, args.clients))  # warm-up
        print(f"{args.clients} concurrent clients, {args.requests} requests of each kind, 2 cores\n")
        baseline = describe("GET /healthz", asyncio.run(load(f"{base}/healthz", None, args.requests, args.clients, "GET")))
        commands = describe("/compass help", asyncio.run(load(f"{base}/slack/events", signed.command, args.requests, args.clients)))
        buttons = describe("button click", asyncio.run(load(f"{base}/slack/events", signed.button, args.requests, args.clients)))
        worst = max(commands["p99_ms"], buttons["p99_ms"])
        print(f"\np99 ratio to baseline: commands {commands['p99_ms'] / baseline['p99_ms']:.2f}x, "
              f"buttons {buttons['p99_ms'] / baseline['p99_ms']:.2f}x")
        print(f"worst p99 {worst:.1f} ms = {worst / 3000:.1%} of Slack's 3-second limit (target: under 100 ms)")
    finally:
        server.terminate()
        server.wait(timeout=20)
        sink.close()
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
