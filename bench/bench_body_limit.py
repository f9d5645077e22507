"""Oversized request bodies against a real `compass-bot serve` (targets: 413 within 1 s, memory of
`serve` grows by under 20 MB for a 1 GB body).

Run from the project root::

    .venv/bin/python bench/bench_body_limit.py [--gigabytes 1]

Starts the Slack stand-in in this process and `compass-bot serve --no-clock` as a subprocess on a
fresh SQLite file, reads the server's resident memory (the baseline), then sends an unsigned POST
to /slack/events twice: once declaring the whole size in Content-Length, once chunked with no
declared size. For each it prints the status, the time to the answer, how much the client managed
to send before the server closed the connection, and the server's memory after, against the
baseline of the same run. Exits non-zero if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.standin import SlackStandIn

MB = 1 << 20
HEAD = b"POST /slack/events HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def _send(port: int, megabytes: int, *, declared: bool) -> tuple[str, float, int]:
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    chunk, sent, started = b"a" * MB, 0, time.monotonic()
    try:
        if declared:
            connection.sendall(HEAD + f"Content-Length: {megabytes * MB}\r\n\r\n".encode())
        else:
            connection.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        framed = chunk if declared else f"{MB:x}\r\n".encode() + chunk + b"\r\n"
        while sent < megabytes:
            connection.sendall(framed)
            sent += 1
    except OSError:
        pass  # the server closed the connection: what we measure
    try:
        answer = connection.recv(64)
        status = answer.split(b" ")[1].decode() if answer.startswith(b"HTTP/") else "closed"
    except OSError:
        status = "reset"
    finally:
        connection.close()
    return status, time.monotonic() - started, sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=int, default=1)
    args = parser.parse_args()
    port = _free_port()
    standin = SlackStandIn(bot_token="xoxb-bench").start()
    env = dict(os.environ, SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET="bench-secret", PORT=str(port),
               DATABASE_URL=f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}", SLACK_API_URL=standin.url)
    serve = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--no-clock"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or serve.poll() is not None:
                    print("serve did not start", file=sys.stderr)
                    return 1
                time.sleep(0.2)
        time.sleep(1)
        baseline = _rss_mb(serve.pid)
        print(f"serve resident memory before: {baseline:.0f} MB (the baseline)")
        failed = False
        for declared in (True, False):
            status, seconds, sent = _send(port, args.gigabytes * 1024, declared=declared)
            grown = _rss_mb(serve.pid) - baseline
            label = "declared in Content-Length" if declared else "chunked, size undeclared"
            print(f"{args.gigabytes} GB {label}: {status} after {seconds:.2f} s; {sent} MB sent before the server "
                  f"closed the connection; serve memory {grown:+.1f} MB against the baseline")
            failed |= status != "413" or seconds > 1 or grown >= 20
        return 1 if failed else 0
    finally:
        serve.terminate()
        serve.wait(timeout=10)
        standin.stop()


if __name__ == "__main__":
    sys.exit(main())
