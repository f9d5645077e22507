"""Requests an attacker (or a broken proxy) sends: huge bodies, replayed signed requests, view_closed."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlencode, urlsplit

from tests.conftest import TEAM_ID

MB = 1024 * 1024


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kb * 1024


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    connection = socket.create_connection((parts.hostname, parts.port), timeout=5)
    return connection


def _status_of(connection: socket.socket) -> int:
    answer = b""
    while b"\r\n" not in answer:
        chunk = connection.recv(4096)
        if not chunk:
            break
        answer += chunk
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def test_a_declared_gigabyte_is_refused_before_any_of_it_is_read(bot):
    connection = _connect(bot.url)
    started = time.monotonic()
    try:
        connection.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 1073741824\r\n\r\n" + b"{" * 1024)
        status = _status_of(connection)  # the old endpoint waited here for the whole gigabyte
    finally:
        connection.close()
    assert status == 413
    assert time.monotonic() - started < 1


def test_an_undeclared_gigabyte_is_cut_off_at_the_limit_without_growing_memory(bot):
    connection = _connect(bot.url)
    chunk = b"a" * MB
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    before = _rss_bytes()
    started = time.monotonic()
    sent = 0
    try:
        connection.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            while sent < 1024:  # up to 1 GB, until the server stops reading
                connection.sendall(framed)
                sent += 1
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        status = _status_of(connection)
    except (ConnectionResetError, BrokenPipeError):
        status = 413 if sent < 1024 else 0  # the answer may be lost when the server closes a connection still sending
    finally:
        connection.close()
    grown = _rss_bytes() - before
    assert sent < 1024, "the server read the whole gigabyte"
    assert status == 413
    assert grown < 20 * MB, f"memory grew by {grown / MB:.0f} MB"
    assert time.monotonic() - started < 5


def test_a_replayed_signed_command_has_no_second_effect(slack, standin, responses):
    url = responses.new_url()
    form = urlencode({"team_id": TEAM_ID, "channel_id": "C0GENERAL", "user_id": "U0ANA", "command": "/compass",
                      "text": "help", "response_url": url, "trigger_id": standin.new_trigger_id()})
    timestamp = int(time.time())
    first = slack.post(form, "application/x-www-form-urlencoded", timestamp=timestamp)
    replay = slack.post(form, "application/x-www-form-urlencoded", timestamp=timestamp)
    assert first.status_code == 200 and "/compass join" in first.text
    assert replay.status_code == 200 and replay.text == ""
    # Re-signed with a fresh timestamp, the same command (same trigger_id) still has no effect ...
    assert slack.post(form, "application/x-www-form-urlencoded", timestamp=timestamp + 1).text == ""
    # ... while a new command (a new trigger) is answered as usual.
    again = slack.command("U0ANA", "help")
    assert "/compass join" in again.text


def test_view_closed_is_acknowledged(slack):
    answer = slack.interaction({"type": "view_closed", "team": {"id": TEAM_ID}, "user": {"id": "U0ANA", "team_id": TEAM_ID},
                                "api_app_id": "A0COMPASS", "is_cleared": False,
                                "view": {"id": "V0TEST", "type": "modal", "callback_id": "join", "private_metadata": ""}})
    assert answer.status_code == 200


def test_free_text_after_the_command_never_reaches_a_log_line(slack, responses, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    sentences = ["my PHQ is 6, please help", "Kafkaesque is how this week felt", "schedule whenever-Kafkaesque 99:99", "session reschedule Kafkaesque-date",
                 "pair with Kafkaesque-colleague", "topic Kafkaesque", "pause until Kafkaesque"]
    for text in sentences:
        slack.command("U0ANA", text)
    slack.action("U0ANA", "session_topic", value="Kafkaesque-forged-value")
    time.sleep(0.5)  # listeners run after the acknowledgement
    logged = "\n".join(record.getMessage() for record in caplog.records).lower()
    assert "/compass" in logged or caplog.records, "nothing was logged at all: the check would prove nothing"
    for marker in ("phq", "please help", "kafkaesque"):
        assert marker not in logged
