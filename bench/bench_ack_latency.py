"""Ack latency of `/compass` commands and button clicks over HTTP, at 50 concurrent clients.

    .venv/bin/python bench/bench_ack_latency.py [--requests 2000] [--clients 50] [--rate 100] [--repeat 3]
        [--slack-latency 0.15] [--home-burst 150] [--server-cmd CMD] [--server-log FILE]

Starts `compass-bot serve --no-clock` as a real process (SQLite; the Slack stand-in and a
`response_url` endpoint run in this process). The load comes from a *separate* client process
(its own GIL) that sends pre-built requests, signed with the signing secret exactly as Slack
signs them, over 50 keep-alive HTTP/1.1 connections with raw asyncio streams, so the client
costs tens of microseconds per request and never stalls its own timers. (The previous harness
made one httpx.AsyncClient per client in the bench process: creating one takes about 21 ms of
blocked event loop, 50 of them about a second, which showed up as a 1-2 s p99 for every kind
of request, /healthz included.)

Loads, each run for every kind of request (``GET /healthz``, ``/compass help``, a button click):

* **closed**: each of the 50 clients sends its next request as soon as the last is answered.
  The server is saturated, so p50 is about 50 / throughput (Little's law): this measures the
  server's CPU cost per request more than its responsiveness.
* **open**: requests arrive at ``--rate`` per second over up to 50 connections, as Slack
  delivers them whatever the bot is doing; latency counts from the moment a request was due,
  so a stalled server is not hidden (no coordinated omission).
* **home burst** (``--home-burst N``, last): N App Home opens at once, then commands at
  ``--rate``. Each Home open is acknowledged at once but leaves Bolt a views.publish to make,
  which the bot's limiter holds to Slack's 100 a minute.

``GET /healthz`` (a database ping in the same thread pool) is the baseline in the same run, so
the ratios show what Bolt dispatch and our handlers add to the bare HTTP stack. Every phase also
shows the server's CPU milliseconds per request (from /proc, all its processes) and waits until
every acknowledged command and click had its follow-up at its ``response_url`` (help answers
in its acknowledgement, which the client counts; every Home its views.publish), so phases do
not overlap; requests the bot did not acknowledge with a 200 (Bolt gives up after 3 s and the
bot answers 400: Slack shows the person an error) are counted.
``--slack-latency`` makes the stand-in and the response_url endpoint answer as slowly as real
Slack (0.1-0.3 s); 0 by default. Each phase runs ``--repeat`` times; the best p99 and the
spread (min-max) are printed. The target: p99 under 100 ms.

``--server-cmd`` replaces the server command (same environment) to compare variants, e.g.
uvicorn options or a larger Bolt thread pool in a scratch script, against the same client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "bench-secret"
TEAM = "T0BENCH"
TARGET_P99_MS = 100.0


# ---------------------------------------------------------------- the client process


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bool]:
    """Send one request on a keep-alive connection and read the whole answer; returns the status and
    whether the answer carries a message (a command answered in its acknowledgement)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body += (await reader.readexactly(size + 2))[:-2]
            if size == 0:
                break
    return status, headers.get("content-type", "").startswith("application/json") and b'"text"' in body


async def _run_client(spec: dict) -> dict:
    host, port, connections = spec["host"], spec["port"], spec["connections"]
    requests = [r.encode("latin-1") for r in spec["requests"]]
    latencies: list[float] = [0.0] * len(requests)
    statuses: dict[str, int] = {}
    answered_in_ack = 0
    pool = [await asyncio.open_connection(host, port) for _ in range(connections)]
    preload = iter([r.encode("latin-1") for r in spec.get("preload", [])])

    async def load_first(conn) -> None:  # noqa: ANN001 - sent before the timed requests, not timed
        for request in preload:
            await _exchange(*conn, request)

    await asyncio.gather(*(load_first(conn) for conn in pool))

    async def one(conn, index: int, due: float) -> None:  # noqa: ANN001
        nonlocal answered_in_ack
        status, with_message = await _exchange(*conn, requests[index])
        latencies[index] = time.perf_counter() - due
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        answered_in_ack += status == 200 and with_message

    started = time.perf_counter()
    if spec["mode"] == "closed":
        counter = iter(range(len(requests)))

        async def worker(conn) -> None:  # noqa: ANN001
            for index in counter:
                await one(conn, index, time.perf_counter())

        await asyncio.gather(*(worker(conn) for conn in pool))
    else:  # open: request i is due at started + i / rate, whatever happened before
        idle: asyncio.Queue = asyncio.Queue()
        for conn in pool:
            idle.put_nowait(conn)
        tasks = []

        async def send(conn, index: int, due: float) -> None:  # noqa: ANN001
            try:
                await one(conn, index, due)
            finally:
                idle.put_nowait(conn)

        for index in range(len(requests)):
            due = started + index / spec["rate"]
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            conn = await idle.get()
            tasks.append(asyncio.create_task(send(conn, index, due)))
        await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    for _, writer in pool:
        writer.close()
    return {"latencies": latencies, "statuses": statuses, "elapsed": elapsed, "client_cpu": time.process_time(),
            "answered_in_ack": answered_in_ack}


def client_main() -> int:
    spec = json.loads(sys.stdin.read())
    json.dump(asyncio.run(_run_client(spec)), sys.stdout)
    return 0


# ---------------------------------------------------------------- the bench process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and all its descendants, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        if current in stats:
            total += (int(stats[current][11]) + int(stats[current][12])) / ticks
        todo.extend(children.get(current, []))
    return total


class Requests:
    """Raw HTTP/1.1 requests as Slack sends them, signed now (valid for five minutes)."""

    def __init__(self, host: str, port: int, sink, standin) -> None:  # noqa: ANN001
        from slack_sdk.signature import SignatureVerifier

        self.signer = SignatureVerifier(SECRET)
        self.host = f"127.0.0.1:{port}"
        self.sink = sink
        self.standin = standin
        self.serial = 0

    def _post(self, body: str, content_type: str) -> str:
        ts = str(int(time.time()))
        signature = self.signer.generate_signature(timestamp=ts, body=body)
        return (f"POST /slack/events HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: Slackbot 1.0 (+https://api.slack.com/robots)\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body.encode())}\r\n"
                f"X-Slack-Request-Timestamp: {ts}\r\nX-Slack-Signature: {signature}\r\n\r\n{body}")

    def healthz(self) -> str:
        return f"GET /healthz HTTP/1.1\r\nHost: {self.host}\r\n\r\n"

    def command(self) -> str:
        self.serial += 1
        user = f"U{self.serial:08d}"
        body = urlencode({"token": "legacy-unused", "team_id": TEAM, "team_domain": "bench", "channel_id": "C0BENCH",
                          "channel_name": "general", "user_id": user, "user_name": user.lower(), "command": "/compass",
                          "text": "help", "api_app_id": "A0COMPASS", "response_url": self.sink.new_url(),
                          "trigger_id": f"{self.serial}.1.bench"})
        return self._post(body, "application/x-www-form-urlencoded")

    def button(self) -> str:
        self.serial += 1
        user = f"U{self.serial:08d}"
        payload = {"type": "block_actions", "team": {"id": TEAM, "domain": "bench"},
                   "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
                   "api_app_id": "A0COMPASS", "trigger_id": f"{self.serial}.1.bench", "response_url": self.sink.new_url(),
                   "container": {"type": "message", "channel_id": "C0BENCH", "message_ts": "1.0"},
                   "channel": {"id": "C0BENCH"}, "message": {"ts": "1.0"},
                   "actions": [{"type": "button", "action_id": "forget_me_cancel", "block_id": "forget_me", "value": "cancel",
                                "action_ts": f"{time.time():.6f}"}]}
        return self._post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def home_opened(self) -> str:
        """An Events API delivery (JSON); its ack path records the event id in the database (retry detection)."""
        self.serial += 1
        user = f"U{self.serial:08d}"
        self.standin.add_user(user)  # views.publish needs a workspace member
        body = json.dumps({"token": "legacy-unused", "team_id": TEAM, "api_app_id": "A0COMPASS", "type": "event_callback",
                           "event_id": f"Ev{self.serial:010d}", "event_time": int(time.time()),
                           "event": {"type": "app_home_opened", "user": user, "channel": f"D{self.serial:08d}", "tab": "home",
                                     "event_ts": f"{time.time():.6f}"}})
        return self._post(body, "application/json")


class ResponseURLs:
    """Slack's ``response_url`` webhooks: counts the follow-up messages, answering after ``delay`` seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.count = 0
        self._lock = threading.Lock()
        self._serial = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The bot keeps connections to response URLs alive; without this the headers and the
            # body of each answer go out as two packets, and the second waits 40 ms for a delayed ACK.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802
                json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if delay:
                    time.sleep(delay)
                with sink._lock:
                    sink.count += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def new_url(self) -> str:
        self._serial += 1
        return f"http://127.0.0.1:{self._server.server_address[1]}/response/{self._serial}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def run_client(spec: dict) -> dict:
    completed = subprocess.run([sys.executable, __file__, "--client"], input=json.dumps(spec), capture_output=True,
                               text=True, timeout=600, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"the client process failed:\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per kind and phase (default 2000)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients / connections (default 50)")
    parser.add_argument("--rate", type=float, default=100.0, help="arrivals per second in the open load (default 100)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each phase (default 3)")
    parser.add_argument("--modes", default="closed,open", help="closed, open or both (default closed,open)")
    parser.add_argument("--slack-latency", type=float, default=0.0,
                        help="seconds the Slack stand-in and response_url take to answer (real Slack: about 0.1-0.3)")
    parser.add_argument("--server-cmd", help="run this instead of `compass-bot serve --no-clock` (same environment)")
    parser.add_argument("--home-burst", type=int, default=0,
                        help="last phase: commands right after this many App Home opens (e.g. 150; default 0: skip)")
    parser.add_argument("--server-log", help="write the server's output to this file (default: discarded)")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        return client_main()

    from bot.standin import SlackStandIn
    standin = SlackStandIn(team_id=TEAM, bot_token="xoxb-bench").start()
    sink = ResponseURLs(delay=args.slack_latency)
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="compass-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COMPASS_", "DATABASE_URL"))}
    env.update(SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=standin.url,
               DATABASE_URL=f"sqlite:///{workdir}/compass.db", PORT=str(port), PYTHONPATH=str(ROOT))
    command = shlex.split(args.server_cmd) if args.server_cmd else [
        sys.executable, "-m", "bot.cli", "serve", "--no-clock", "--host", "127.0.0.1"]
    log = open(args.server_log, "w") if args.server_log else subprocess.DEVNULL  # noqa: SIM115
    server = subprocess.Popen(command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
                    if b" 200 " in sock.recv(100):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the bot did not start")
            time.sleep(0.2)
        standin.latency = args.slack_latency
        make = Requests("127.0.0.1", port, sink, standin)
        kinds = {"GET /healthz": make.healthz, "/compass help": make.command, "button click": make.button}
        # What each request leads to after its ack: a message at its response_url, or a published Home tab.
        follow_ups = {"/compass help": lambda: sink.count, "button click": lambda: sink.count,
                      "app_home_opened": lambda: len(standin.calls_to("views.publish"))}

        def drain(kind: str, before: int, count: int) -> None:
            """Wait until every request of a phase has had its follow-up, so phases do not overlap."""
            done = follow_ups[kind]
            wait_until = time.monotonic() + 300
            while done() < before + count and time.monotonic() < wait_until:
                time.sleep(0.05)
            if done() < before + count:
                raise SystemExit(f"{kind}: only {done() - before} of {count} follow-ups arrived")

        def phase(kind: str, mode: str, requests: list[str], preload: list[str] | None = None) -> dict:
            before = follow_ups[kind]() if kind in follow_ups else 0
            cpu_before = process_tree_cpu(server.pid)
            result = run_client({"host": "127.0.0.1", "port": port, "connections": args.clients, "mode": mode,
                                 "rate": args.rate, "requests": requests, "preload": preload or []})
            failed = sum(n for status, n in result["statuses"].items() if status != "200")
            if kind in follow_ups:  # every acknowledged request must be followed by the handler's work
                drain(kind, before, len(requests) - failed - result["answered_in_ack"])
            cpu = process_tree_cpu(server.pid) - cpu_before
            lat = result["latencies"]
            return {"p50": percentile(lat, 0.5) * 1000, "p99": percentile(lat, 0.99) * 1000, "max": max(lat) * 1000,
                    "rps": len(lat) / result["elapsed"], "cpu": cpu / len(lat) * 1000, "failed": failed}

        def show(name: str, runs: list[dict]) -> dict:
            best = min(runs, key=lambda r: r["p99"])
            spread = f"({min(r['p99'] for r in runs):.1f}-{max(r['p99'] for r in runs):.1f})"
            print(f"{name:<16} {best['p50']:8.1f} {best['p99']:8.1f} {spread:>17} {best['max']:8.1f} {best['rps']:7.0f} "
                  f"{best['cpu']:15.2f} {best['failed']:8d}")
            return best

        header = f"{'':16} {'p50 ms':>8} {'p99 ms':>8} {'(p99 spread)':>17} {'max ms':>8} {'req/s':>7} {'srv CPU ms/req':>15} {'not 200':>8}"
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        print(f"server: {' '.join(command[1:] if not args.server_cmd else command)}")
        print(f"{args.clients} connections from a separate client process, {args.requests} requests per phase, "
              f"best of {args.repeat}; Slack answers in {args.slack_latency * 1000:.0f} ms; {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.2f} at start\n")
        # Warm-up of every path, so lazy imports and first-use caches are not timed.
        for kind in ("/compass help", "button click"):
            phase(kind, "closed", [kinds[kind]() for _ in range(200)])
        phase("app_home_opened", "closed", [make.home_opened() for _ in range(20)])
        worst_of_all = 0.0
        for mode in modes:
            print(f"-- {'closed loop (saturated)' if mode == 'closed' else f'open loop, {args.rate:g} arrivals/s'}")
            print(header)
            summary = {kind: show(kind, [phase(kind, mode, [build() for _ in range(args.requests)]) for _ in range(args.repeat)])
                       for kind, build in kinds.items()}
            base = summary["GET /healthz"]["p99"]
            worst = max(summary[k]["p99"] for k in ("/compass help", "button click"))
            worst_of_all = max(worst_of_all, worst)
            print(f"   p99 ratio to /healthz: commands {summary['/compass help']['p99'] / base:.2f}x, "
                  f"buttons {summary['button click']['p99'] / base:.2f}x; worst p99 {worst:.1f} ms: "
                  f"{'meets' if worst < TARGET_P99_MS else 'misses'} the {TARGET_P99_MS:.0f} ms target")
            failures = {k: summary[k]["failed"] for k in summary if summary[k]["failed"]}
            if failures:
                print(f"   NOT ACKNOWLEDGED (Bolt gave up after 3 s and the bot answered 400: Slack shows the person an "
                      f"error): {failures}")
            print()
        if args.home_burst:
            # A burst of App Home opens (an announcement, a reminder to everyone) is acknowledged at once, but each
            # leaves Bolt a views.publish to make, and the bot waits for Slack's budget (100 a minute) before it.
            print(f"-- /compass help at {args.rate:g} arrivals/s right after {args.home_burst} App Home opens "
                  f"(views.publish: Slack allows 100 a minute)")
            print(header)
            before = follow_ups["app_home_opened"]()
            burst = [make.home_opened() for _ in range(args.home_burst)]
            result = show("/compass help", [phase("/compass help", "open", [make.command() for _ in range(args.requests)],
                                                  preload=burst)])
            print(f"   p99 {result['p99']:.1f} ms: {'meets' if result['p99'] < TARGET_P99_MS else 'misses'} the target; "
                  f"{result['failed']} of {args.requests} commands not acknowledged within Slack's 3 s")
            print("   (waiting for the Home tabs to be published...)")
            drain("app_home_opened", before, args.home_burst)
            print()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        sink.close()
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
