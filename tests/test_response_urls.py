"""Answers at response_urls over kept-alive connections (bot/slack/response_urls.py), against real
HTTP servers on 127.0.0.1 that can be told to misbehave."""

from __future__ import annotations

import http.client
import json
import logging
import os
import resource
import select
import shutil
import socket
import ssl
import struct
import subprocess
import threading
from collections import Counter
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Callable, Union

import pytest
from slack_bolt.context.respond.internals import _build_message
from slack_sdk.models.attachments import Attachment
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    DividerBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.slack import response_urls
from bot.slack.response_urls import IDLE_PER_HOST, PooledRespond, ResponseUrlPoster
from tests.support.waiting import eventually

QUICK_TIMEOUT = 2.0


# --- a response_url server that can be told how to behave -----------------------------------------

@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    # "keep": HTTP/1.1, kept alive. "announce": says `Connection: close`, then closes.
    # "http10": an HTTP/1.0 answer without a length, ended by closing. "close-when-idle": answers
    # as if keeping the connection alive, then closes it without saying so.
    ending: str = "keep"


# Instead of a Reply, after reading the whole request:
DROP = "drop"      # close the connection without answering
RESET = "reset"    # reset it (RST) without answering
SILENT = "silent"  # never answer (until the client gives up)


@dataclass(frozen=True)
class CutShort:
    """Start a 200 answer, wait until the client has read its status line, then reset the connection."""
    status_line_read: threading.Event


@dataclass(frozen=True)
class Request:
    connection: int  # which TCP connection, numbered from 1 in the order they were accepted
    position: int    # which request on that connection, from 1
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def message(self) -> dict:
        return json.loads(self.body)


Behaviour = Callable[[Request], Union[Reply, CutShort, str]]


@dataclass
class ResponseUrlServer:
    behave: Behaviour = field(default=lambda request: Reply())
    tls: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._changed = threading.Condition()
        self._requests: list[Request] = []
        self._accepted = 0
        self._closed_by_server: set[int] = set()
        self._closed_by_client: set[int] = set()
        self._open_sockets: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept_forever, daemon=True)
        self._acceptor.start()

    def url(self, path: str = "/hooks/1") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}{path}"

    @property
    def requests(self) -> list[Request]:
        with self._changed:
            return list(self._requests)

    @property
    def connections(self) -> int:
        with self._changed:
            return self._accepted

    def texts(self) -> list[str]:
        return [request.message["text"] for request in self.requests]

    def wait_until(self, condition: Callable[[], bool], timeout: float = 2.0) -> None:
        with self._changed:
            assert self._changed.wait_for(condition, timeout), "the server never got there"

    def wait_closed_by_server(self, connection: int) -> None:
        self.wait_until(lambda: connection in self._closed_by_server)

    def closed_by_client(self) -> set[int]:
        with self._changed:
            return set(self._closed_by_client)

    def stop(self) -> None:
        # shutdown() wakes a thread blocked in accept() or recv(); close() alone does not.
        for sock in [self._listener, *self._open_sockets]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._acceptor.join(timeout=1)

    def _accept_forever(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._changed:
                self._accepted += 1
                number = self._accepted
                self._open_sockets.append(sock)
                self._changed.notify_all()
            threading.Thread(target=self._serve, args=(sock, number), daemon=True).start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        reader = None
        try:
            if self.tls:
                sock = self.tls.wrap_socket(sock, server_side=True)
                with self._changed:
                    self._open_sockets.append(sock)
            reader = sock.makefile("rb")
            for position in range(1, 1_000):
                request = _read_request(reader, number, position)
                if request is None:
                    self._note(self._closed_by_client, number)
                    return
                with self._changed:
                    self._requests.append(request)
                    self._changed.notify_all()
                action = self.behave(request)
                if action == SILENT:
                    reader.read(1)  # returns when the client gives up and closes
                    self._note(self._closed_by_client, number)
                    return
                if isinstance(action, CutShort):
                    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok")
                    action.status_line_read.wait(2.0)
                if action == RESET or isinstance(action, CutShort):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if action == DROP:
                    return
                sock.sendall(_answer(action))
                if action.ending != "keep":
                    return
        except OSError:
            return
        finally:
            # The reader holds a reference to the socket: close both, or no FIN/RST is sent.
            if reader is not None:
                reader.close()
            sock.close()
            self._note(self._closed_by_server, number)

    def _note(self, closed: set[int], number: int) -> None:
        with self._changed:
            if number not in self._closed_by_client:
                closed.add(number)
            self._changed.notify_all()


def _read_request(reader, connection: int, position: int) -> Request | None:  # noqa: ANN001
    request_line = reader.readline()
    if not request_line:
        return None
    method, path, _ = request_line.decode("latin-1").split(" ", 2)
    headers = {}
    while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", 0)))
    return Request(connection, position, method, path, headers, body)


def _answer(reply: Reply) -> bytes:
    version = "HTTP/1.0" if reply.ending == "http10" else "HTTP/1.1"
    lines = [f"{version} {reply.status} {HTTPStatus(reply.status).phrase}", "Content-Type: text/plain"]
    if reply.ending != "http10":
        lines.append(f"Content-Length: {len(reply.body)}")
    if reply.ending == "announce":
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body


@pytest.fixture
def serve():
    servers: list[ResponseUrlServer] = []

    def start(behave: Behaviour = lambda request: Reply(), tls: ssl.SSLContext | None = None) -> ResponseUrlServer:
        servers.append(ResponseUrlServer(behave, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def poster():
    poster = ResponseUrlPoster(timeout=QUICK_TIMEOUT)
    yield poster
    poster.close()


def idle_connections(poster: ResponseUrlPoster) -> list:
    return [connection for connections in poster._idle.values() for connection in connections]


def wait_until_the_client_sees_the_close(poster: ResponseUrlPoster) -> None:
    """The server has closed its end; wait until the FIN has reached the idle client socket too."""
    (connection,) = idle_connections(poster)
    readable, _, _ = select.select([connection.sock], [], [], 2.0)
    assert readable


def count_exchanges(monkeypatch) -> list[int]:  # noqa: ANN001
    """How many times a request is written to some connection (one more for each resend)."""
    calls = [0]
    exchange = ResponseUrlPoster._exchange

    def counted(self, *args):  # noqa: ANN001, ANN002
        calls[0] += 1
        return exchange(self, *args)

    monkeypatch.setattr(ResponseUrlPoster, "_exchange", counted)
    return calls


# --- keeping connections alive ---------------------------------------------------------------------

def test_posts_to_one_origin_share_one_kept_alive_connection(serve, poster):
    server = serve()
    sent = [
        {"text": "first", "response_type": "ephemeral"},
        {"text": "Café ☕ — naïve “quotes”", "replace_original": True},
        {"text": "", "blocks": [{"type": "divider"}]},
        {"text": "fourth", "metadata": {"event_type": "e", "event_payload": {"n": 4}}},
        {"text": "fifth"},
    ]
    paths = ["/hooks/1", "/hooks/2", "/hooks/3?x=1&y=two", "/hooks/1", "/other/5"]
    for path, message in zip(paths, sent):
        answer = poster.post(server.url(path), message)
        assert (answer.status_code, answer.body) == (200, "ok")
        assert answer.api_url == server.url(path)

    assert server.connections == 1
    assert [(r.connection, r.position) for r in server.requests] == [(1, n) for n in range(1, 6)]
    assert [r.message for r in server.requests] == sent
    assert [r.path for r in server.requests] == paths
    assert {r.method for r in server.requests} == {"POST"}
    assert {r.headers["content-type"] for r in server.requests} == {"application/json;charset=utf-8"}
    assert len(idle_connections(poster)) == 1


def test_each_origin_keeps_its_own_connection(serve, poster):
    first, second = serve(), serve()
    for n in range(3):
        poster.post(first.url(), {"text": f"first {n}"})
        poster.post(second.url(), {"text": f"second {n}"})
    assert (first.connections, second.connections) == (1, 1)
    assert first.texts() == ["first 0", "first 1", "first 2"]
    assert second.texts() == ["second 0", "second 1", "second 2"]
    assert len(idle_connections(poster)) == 2


def test_eight_threads_posting_at_once_each_message_arrives_once(serve, poster):
    server = serve()
    threads, per_thread = 8, 10
    start = threading.Barrier(threads)
    failures = []

    def post_some(thread: int) -> None:
        start.wait()
        for n in range(per_thread):
            try:
                assert poster.post(server.url(f"/hooks/{thread}"), {"text": f"{thread}-{n}"}).status_code == 200
            except Exception as error:  # noqa: BLE001 - reported below
                failures.append(error)

    workers = [threading.Thread(target=post_some, args=(thread,)) for thread in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=5)
    assert failures == []
    expected = {f"{thread}-{n}" for thread in range(threads) for n in range(per_thread)}
    assert Counter(server.texts()) == Counter(expected)
    assert all(r.path == f"/hooks/{r.message['text'].split('-')[0]}" for r in server.requests)
    # A thread opens a connection only when none is idle: never more connections than threads.
    assert 1 <= server.connections <= threads
    assert len(idle_connections(poster)) <= IDLE_PER_HOST


def test_no_more_than_idle_per_host_connections_are_kept(serve, poster):
    threads = IDLE_PER_HOST + 4
    everyone_arrived = threading.Barrier(threads, timeout=3)

    def hold_the_first_posts(request: Request) -> Reply:
        # Nobody is answered until every thread's post has arrived, so each needs its own connection.
        if request.connection <= threads and request.position == 1:
            everyone_arrived.wait()
        return Reply()

    server = serve(hold_the_first_posts)
    workers = [threading.Thread(target=poster.post, args=(server.url(), {"text": f"t{n}"})) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=5)

    assert sorted(server.texts()) == sorted(f"t{n}" for n in range(threads))
    assert server.connections == threads
    assert len(idle_connections(poster)) == IDLE_PER_HOST
    server.wait_until(lambda: len(server.closed_by_client()) == threads - IDLE_PER_HOST)
    for n in range(IDLE_PER_HOST):
        poster.post(server.url(), {"text": f"later {n}"})
    assert server.connections == threads  # all reused


def test_close_empties_the_pool(serve, poster):
    server = serve()
    poster.post(server.url(), {"text": "one"})
    poster.close()
    assert idle_connections(poster) == []
    server.wait_until(lambda: server.closed_by_client() == {1})
    poster.post(server.url(), {"text": "two"})
    assert server.connections == 2


@pytest.mark.parametrize("ending", ["announce", "http10"])
def test_connections_the_server_will_close_are_not_kept(serve, poster, ending):
    server = serve(lambda request: Reply(ending=ending))
    for n in range(3):
        answer = poster.post(server.url(), {"text": f"m{n}"})
        assert (answer.status_code, answer.body) == (200, "ok")
    assert [(r.connection, r.position, r.message["text"]) for r in server.requests] == [
        (1, 1, "m0"), (2, 1, "m1"), (3, 1, "m2")]
    assert idle_connections(poster) == []


# --- connections that break -----------------------------------------------------------------------

def test_a_connection_closed_while_idle_is_noticed_before_posting(serve, poster, monkeypatch):
    server = serve(lambda request: Reply(ending="close-when-idle"))
    exchanges = count_exchanges(monkeypatch)
    poster.post(server.url(), {"text": "one"})
    server.wait_closed_by_server(1)
    wait_until_the_client_sees_the_close(poster)

    assert poster.post(server.url(), {"text": "two"}).status_code == 200
    assert [(r.connection, r.message["text"]) for r in server.requests] == [(1, "one"), (2, "two")]
    assert exchanges == [2]  # nothing was written to the closed connection


def test_a_connection_closed_just_before_reuse_is_retried_once(serve, poster, monkeypatch):
    """The check for a closed idle connection can lose a race with the server closing it. The request
    then goes to a closed socket, no server ever reads it, and it is sent again on a new connection."""
    server = serve(lambda request: Reply(ending="close-when-idle"))
    exchanges = count_exchanges(monkeypatch)
    poster.post(server.url(), {"text": "one"})
    server.wait_closed_by_server(1)
    wait_until_the_client_sees_the_close(poster)
    monkeypatch.setattr(response_urls, "_still_open", lambda connection: True)  # the check loses the race

    assert poster.post(server.url(), {"text": "two"}).status_code == 200
    assert [(r.connection, r.message["text"]) for r in server.requests] == [(1, "one"), (2, "two")]
    assert exchanges == [3]


@pytest.mark.parametrize("failure", [DROP, RESET])
def test_a_new_connection_that_breaks_after_the_request_is_not_resent(serve, poster, failure):
    server = serve(lambda request: failure)
    with pytest.raises(ConnectionError):
        poster.post(server.url(), {"text": "maybe delivered"})
    assert server.texts() == ["maybe delivered"]
    assert server.connections == 1
    assert idle_connections(poster) == []


@pytest.mark.parametrize("failure", [DROP, RESET])
def test_a_reused_connection_that_breaks_after_the_request_is_resent_once(serve, poster, failure):
    """A reused connection that breaks before any answer looks exactly like one the server closed while
    it was idle (the common case: Slack's servers close idle keep-alive connections). The poster cannot
    tell the two apart, so it sends the message once more on a new connection: in the rare case the
    server had read it, the person sees it twice. That is the accepted trade-off; it is never sent a
    third time."""
    server = serve(lambda request: failure if (request.connection, request.position) == (1, 2) else Reply())
    poster.post(server.url(), {"text": "one"})
    assert poster.post(server.url(), {"text": "two"}).status_code == 200
    assert [(r.connection, r.position, r.message["text"]) for r in server.requests] == [
        (1, 1, "one"), (1, 2, "two"), (2, 1, "two")]


@pytest.mark.parametrize("failure", [DROP, RESET])
def test_a_resend_that_breaks_too_is_not_sent_again(serve, poster, failure):
    server = serve(lambda request: failure if request.message["text"] == "two" else Reply())
    poster.post(server.url(), {"text": "one"})
    with pytest.raises(ConnectionError):
        poster.post(server.url(), {"text": "two"})
    assert [(r.connection, r.message["text"]) for r in server.requests] == [(1, "one"), (1, "two"), (2, "two")]
    assert idle_connections(poster) == []


def test_a_connection_that_breaks_after_the_answer_began_is_not_resent(serve, poster, monkeypatch):
    """The status line proves the server read the message, so sending it again could only duplicate it:
    only a break before any answer (a server that had closed the idle connection) is resent."""
    status_line_read = threading.Event()
    server = serve(lambda request: CutShort(status_line_read) if request.message["text"] == "two" else Reply())
    begin = http.client.HTTPResponse.begin

    def noting_the_status_line(response):  # noqa: ANN001
        begin(response)
        if response.status == 200 and response.length == 10:
            status_line_read.set()

    monkeypatch.setattr(http.client.HTTPResponse, "begin", noting_the_status_line)
    poster.post(server.url(), {"text": "one"})
    with pytest.raises((OSError, http.client.HTTPException)):
        poster.post(server.url(), {"text": "two"})
    assert server.texts() == ["one", "two"]


def test_connections_are_kept_alive_in_a_process_with_many_open_files(serve, poster):
    """select.select() cannot watch a descriptor numbered 1024 or more; if the idle check used it, every
    idle connection would count as closed and a busy process would silently stop reusing connections."""
    soft_limit, hard_limit = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft_limit != resource.RLIM_INFINITY and soft_limit < 1200:
        if hard_limit != resource.RLIM_INFINITY and hard_limit < 1200:
            pytest.skip(f"needs more than {hard_limit} open files")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard_limit))
    server = serve()
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        for n in range(3):
            poster.post(server.url(), {"text": f"m{n}"})
    finally:
        for descriptor in held:
            os.close(descriptor)
    assert server.connections == 1


@pytest.mark.parametrize("reused", [False, True], ids=["new connection", "reused connection"])
def test_a_server_that_never_answers_times_out_and_nothing_is_resent(serve, reused):
    server = serve(lambda request: SILENT if request.message["text"] == "unanswered" else Reply())
    poster = ResponseUrlPoster(timeout=0.3)
    try:
        if reused:
            poster.post(server.url(), {"text": "answered"})
        with pytest.raises(TimeoutError) as timed_out:
            poster.post(server.url(), {"text": "unanswered"})
        assert server.texts().count("unanswered") == 1
        assert server.connections == 1
        assert idle_connections(poster) == []
        # Closed at once, not whenever the garbage collector gets to it (the traceback still refers to it).
        server.wait_until(lambda: server.closed_by_client() == {1})
        del timed_out
    finally:
        poster.close()


def test_an_unreachable_server_raises(poster):
    with socket.create_server(("127.0.0.1", 0)) as reserved:
        port = reserved.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        poster.post(f"http://127.0.0.1:{port}/hooks/1", {"text": "nobody"})


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/hooks/1", "hooks/1", "http:///hooks/1", ""])
def test_only_http_urls_are_posted_to(poster, url):
    with pytest.raises(ValueError):
        poster.post(url, {"text": "x"})


# --- answers other than 200 -----------------------------------------------------------------------

@pytest.mark.parametrize(("status", "body"), [(404, "expired_url"), (500, "internal_error"), (429, "rate_limited")])
def test_an_error_answer_is_returned_and_logged_and_the_connection_kept(serve, poster, caplog, status, body):
    server = serve(lambda request: Reply(status, body.encode()) if request.position == 1 else Reply())
    with caplog.at_level(logging.WARNING, logger="bot.slack.response_urls"):
        answer = poster.post(server.url(), {"text": "too late"})
        assert (answer.status_code, answer.body) == (status, body)
        warnings = [r for r in caplog.records if r.name == "bot.slack.response_urls" and r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert str(status) in warnings[0].getMessage() and body in warnings[0].getMessage()

        assert poster.post(server.url(), {"text": "next"}).status_code == 200
        assert len([r for r in caplog.records if r.name == "bot.slack.response_urls"]) == 1
    assert server.connections == 1
    assert server.texts() == ["too late", "next"]


# --- PooledRespond sends what Bolt's respond would ------------------------------------------------

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*Hi*"}}
BLOCK_OBJECTS = [
    SectionBlock(text=MarkdownTextObject(text="*Session 3*"), block_id="s"),
    DividerBlock(),
    ActionsBlock(elements=[ButtonElement(text="Join", action_id="join", value="3")]),
]
RESPOND_CALLS = {
    "text only": (("hello",), {}),
    "text keyword": ((), {"text": "hello"}),
    "no arguments": ((), {}),
    "blocks as dicts": ((), {"text": "fallback", "blocks": [SECTION, {"type": "divider"}]}),
    "blocks as objects": ((), {"text": "fallback", "blocks": BLOCK_OBJECTS}),
    "empty blocks": ((), {"text": "no blocks", "blocks": []}),
    "attachments": ((), {"text": "a", "attachments": [{"color": "good", "text": "t"}, Attachment(text="obj")]}),
    "empty attachments": ((), {"text": "a", "attachments": []}),
    "ephemeral, kept original": ((), {"text": "t", "response_type": "ephemeral", "replace_original": False}),
    "in channel, thread": ((), {"text": "t", "response_type": "in_channel", "thread_ts": "1712.0001"}),
    "replace": ((), {"text": "done", "replace_original": True}),
    "delete": ((), {"delete_original": True}),
    "not deleted": ((), {"text": "t", "delete_original": False}),
    "unfurls and metadata": ((), {"text": "t", "unfurl_links": False, "unfurl_media": True,
                                  "metadata": {"event_type": "session", "event_payload": {"id": 3}}}),
    "empty metadata": ((), {"text": "t", "metadata": {}}),
    "positional": (("t", [SECTION], None, "ephemeral", True, None, None, None, "1.2"), {}),
    "dict form": (({"text": "whole", "blocks": [SECTION], "response_type": "ephemeral"},), {}),
    "dict form with objects": (({"text": "whole", "blocks": BLOCK_OBJECTS, "replace_original": True},), {}),
    "dict form, text only": (({"text": "just text"},), {}),
}


@pytest.mark.parametrize(("args", "kwargs"), RESPOND_CALLS.values(), ids=RESPOND_CALLS.keys())
def test_pooled_respond_sends_what_bolt_would(serve, poster, args, kwargs):
    server = serve()
    respond = PooledRespond(response_url=server.url("/actions/T1/42/abc"), poster=poster)
    answer = respond(*args, **kwargs)
    assert (answer.status_code, answer.body) == (200, "ok")

    bolt = _build_message(**args[0]) if args and isinstance(args[0], dict) else _build_message(*args, **kwargs)
    (request,) = server.requests
    assert request.path == "/actions/T1/42/abc"
    assert request.message == json.loads(json.dumps(bolt))


def test_pooled_respond_uses_the_shared_poster_connection(serve, poster):
    server = serve()
    for n in range(3):
        PooledRespond(response_url=server.url(f"/actions/{n}"), poster=poster)(text=f"reply {n}")
    assert server.connections == 1
    assert server.texts() == ["reply 0", "reply 1", "reply 2"]


def test_pooled_respond_without_a_response_url_raises(serve, poster):
    server = serve()
    respond = PooledRespond(response_url=None, poster=poster)
    with pytest.raises(ValueError, match="no response_url"):
        respond(text="nowhere to go")
    with pytest.raises(ValueError):
        respond({"text": "nor this"})
    assert server.requests == []


# --- HTTPS, as Slack's response_urls are -----------------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=10,
    )
    return cert, key


def test_https_connections_are_kept_alive_and_replaced_when_closed(serve, certificate):
    cert, key = certificate
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    server = serve(lambda request: Reply(ending="close-when-idle") if request.position == 3 else Reply(), tls=server_tls)
    poster = ResponseUrlPoster(timeout=QUICK_TIMEOUT, ssl_context=ssl.create_default_context(cafile=cert))
    try:
        for n in range(3):
            assert poster.post(server.url(f"/hooks/{n}"), {"text": f"m{n}"}).status_code == 200
        server.wait_closed_by_server(1)
        wait_until_the_client_sees_the_close(poster)
        assert poster.post(server.url(), {"text": "m3"}).status_code == 200
        assert [(r.connection, r.message["text"]) for r in server.requests] == [
            (1, "m0"), (1, "m1"), (1, "m2"), (2, "m3")]
    finally:
        poster.close()


def test_https_refuses_a_certificate_it_does_not_trust(serve, poster, certificate):
    cert, key = certificate
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    server = serve(tls=server_tls)
    with pytest.raises(ssl.SSLCertVerificationError):
        poster.post(server.url(), {"text": "secret"})
    assert server.requests == []


# --- through the bot ------------------------------------------------------------------------------

def test_the_bot_answers_commands_and_clicks_through_the_pooled_poster(slack, responses, monkeypatch):
    posted = []
    post = ResponseUrlPoster.post

    def spy(self, url, message):  # noqa: ANN001
        posted.append((url, message))
        return post(self, url, message)

    monkeypatch.setattr(ResponseUrlPoster, "post", spy)

    slack.command("U0ANA", "pause")  # not enrolled: the answer goes to the response_url
    command_url = slack.last_response_url
    slack.action("U0ANA", "forget_me_cancel", "cancel", channel_id="C0GENERAL")
    click_url = slack.last_response_url

    for url, expected in [(command_url, "/compass join"), (click_url, "Nothing was deleted")]:
        (message,) = eventually(lambda url=url: responses.messages(url))
        assert expected in message["text"]
        assert (url, message) in posted
    assert Counter(url for url, _ in posted) == Counter([command_url, click_url])  # in either order
