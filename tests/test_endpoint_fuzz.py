"""Fuzzing the HTTP endpoint with hypothesis: random and mutated signed requests, and forged ones.

One real bot per module and database backend (uvicorn on 127.0.0.1, the Slack stand-in, a
``response_url`` sink, a seeded database). Every request goes over real HTTP to
``POST /slack/events``; for every one of them:

- the status is below 500, the answer comes within Slack's 3 seconds, and it carries nothing of
  Python's internals (a traceback, a source path, an exception class name) unless the request
  itself said it;
- once the bot's listener threads are idle, the database is exactly as before: every row of
  every table. The only write a request may leave is the ``processed_events`` row that records
  its own ``event_id`` (Slack's retries are deduplicated by it) or, for a command or click, its own
  signature (``sig:…``, so that a replay of it has no effect). The people in these requests
  are never members or admins, so nothing they send may create a member, an audit entry, a
  schedule row or a workspace;
- nothing the bot sent on (Slack API calls, ``response_url`` messages) carries internals either;
- no error was logged with a traceback: malformed input is a warning, not a crash.

Hypothesis runs derandomized, without an example database, and with a bounded number of
examples, so each test takes seconds. Every bug the fuzzing found has a plain regression test at
the end of this file.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import itertools
import json
import logging
import re
import threading
import time
from collections import Counter
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable
from urllib.parse import quote, unquote_plus, urlencode

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis.control import currently_in_test_context
from hypothesis import strategies as st
from sqlalchemy import inspect, text

from tests.conftest import ADMIN_ID, BOT_TOKEN, SIGNING_SECRET, TEAM_ID
from tests.support import database
from tests.support.responses import ResponseSink

ANA, BEN, CAL, DEE = "U0ANA", "U0BEN", "U0CAL", "U0DEE"
KNOWN_USERS = frozenset({ADMIN_ID, ANA, BEN, CAL, DEE, "UBOT"})
GROUP_CHANNEL = "C0GROUP"
RESPONSE_URL = "<<response_url>>"  # replaced by a fresh sink URL just before a request is sent

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    # The bot is module-scoped on purpose (one server per module); conftest's autouse
    # rate-limit fixture is function-scoped but holds no per-example state.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------- the bot under test


class IdleTracker(Executor):
    """Bolt's listener executor, counting work in flight so a test can wait until the bot is idle
    (Bolt acks first and runs the listener afterwards, in this executor)."""

    def __init__(self, inner: Executor):
        self._inner = inner
        self._pending = 0
        self._started = 0
        self._idle = threading.Condition()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        with self._idle:
            self._pending += 1
            self._started += 1

        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

        return self._inner.submit(run)

    @property
    def started(self) -> int:
        return self._started

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait, cancel_futures=cancel_futures)


class LogRecorder(logging.Handler):
    """Every record at ERROR or above, and every record that carries a traceback, from any thread."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def since(self, mark: int) -> list[logging.LogRecord]:
        return self.records[mark:]


@dataclass
class Target:
    url: str
    engine: Any
    services: Any
    standin: Any
    sink: ResponseSink
    tracker: IdleTracker
    logs: LogRecorder
    http: httpx.Client
    listeners: dict[str, list]
    subcommands: list[str]
    tables: list[str]
    sent: Counter = field(default_factory=Counter)

    def __repr__(self) -> str:
        return f"<the bot at {self.url}, database {self.engine.url.get_backend_name()}>"

    @property
    def endpoint(self) -> str:
        return f"{self.url}/slack/events"

    def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of every table, in a stable order."""
        rows: dict[str, list[tuple]] = {}
        with self.engine.connect() as connection:
            for name in self.tables:
                found = connection.execute(text(f'SELECT * FROM "{name}"')).all()
                rows[name] = sorted((tuple(row) for row in found), key=repr)
        return rows


def registered_listeners(bolt_app) -> dict[str, list]:  # noqa: ANN001
    """The action_ids, callback_ids, event types and commands the bot's flows registered, read
    from the running Bolt app (strings and regular expressions), so new flows are fuzzed too."""
    kinds = {"action": "action", "block_action": "action", "view_submission": "view", "view_closed": "view",
             "event": "event", "command": "command"}
    found: dict[str, list] = {kind: [] for kind in set(kinds.values())}
    for listener in bolt_app._listeners:  # noqa: SLF001 - Bolt keeps them here
        for matcher in listener.matchers:
            func = getattr(matcher, "func", None)
            kind = kinds.get(getattr(func, "__qualname__", "").split(".")[0])
            if kind is None:
                continue
            for cell in func.__closure__ or ():
                value = cell.cell_contents
                if isinstance(value, (str, re.Pattern)) and value not in found[kind]:
                    found[kind].append(value)
    return found


def subcommands_of(bolt_app) -> list[str]:  # noqa: ANN001
    """The /compass subcommands every flow added to the command router."""
    for listener in bolt_app._listeners:  # noqa: SLF001
        router = getattr(listener.ack_function, "__self__", None)
        if router is not None and hasattr(router, "_subcommands"):
            return sorted(router._subcommands)  # noqa: SLF001
    return []


def seed(engine) -> None:  # noqa: ANN001
    """A small program: members, a group with sessions, a pair with a check-in, an open survey,
    a scheduled action and an audit entry, so fuzzed IDs ("1", "2") point at real rows."""
    from storage import schedule
    from storage.db import session_scope, utcnow
    from storage.models import (AuditEntry, Group, GroupMember, GroupSession, Member, Pair, PairCheckin, PairingRound,
                                Survey)
    from storage.workspaces import ensure_workspace

    now = utcnow()
    with session_scope(engine) as session:
        ensure_workspace(session, team_id=TEAM_ID, name="Compass Health", bot_user_id="UBOT")
        for user_id, stage, role in ((ANA, "PGY-1", "mentee"), (BEN, "PGY-2", "mentor"), (CAL, "PGY-3", "both"),
                                     (DEE, "ATTENDING-5", "none")):
            session.add(Member(team_id=TEAM_ID, slack_user_id=user_id, display_name=f"Dr {user_id}", status="active",
                               consented_at=now, invited_at=now, created_at=now, updated_at=now, timezone="America/Chicago",
                               availability="Tue 18:00-21:00", career_stage=stage, specialty="Internal Medicine",
                               near_peer_role=role, lead_willing=True))
        group = Group(team_id=TEAM_ID, name="Group 1", cohort="2026-spring", status="active", lead_user_id=ANA,
                      channel_id=GROUP_CHANNEL, timezone="America/Chicago", weekday=1, local_time="18:30",
                      created_at=now, updated_at=now)
        session.add(group)
        session.flush()
        for user_id in (ANA, BEN, CAL):
            session.add(GroupMember(group_id=group.id, team_id=TEAM_ID, slack_user_id=user_id, joined_at=now))
        for number in (1, 2):
            starts = now + timedelta(days=14 * number)
            session.add(GroupSession(group_id=group.id, number=number, starts_at=starts, local_date=starts.date()))
        round_ = PairingRound(team_id=TEAM_ID, number=1, status="published", created_by=ADMIN_ID, created_at=now,
                              published_at=now)
        session.add(round_)
        session.flush()
        pair = Pair(round_id=round_.id, team_id=TEAM_ID, mentee_id=ANA, mentor_id=BEN, dm_channel_id="D0PAIR",
                    started_at=now)
        session.add(pair)
        session.flush()
        session.add(PairCheckin(pair_id=pair.id, slack_user_id=ANA, number=1, sent_at=now))
        session.add(Survey(team_id=TEAM_ID, slack_user_id=ANA, kind="pulse", wave=f"pulse:{group.id}:1:2",
                           instruments="burnout,who5,group_worth", sent_at=now))
        session.add(AuditEntry(at=now, team_id=TEAM_ID, actor_id="cli", action="seeded"))
        schedule.schedule(session, key="fuzz:resume", kind="member_resume", due_at=now + timedelta(days=30),
                          team_id=TEAM_ID, subject_user_id=CAL, payload={"until": "2099-01-01"})


@pytest.fixture(scope="module", params=database.backends())
def target(request, tmp_path_factory):  # noqa: ANN001, ANN201
    from bot.runtime.app import build_app
    from bot.runtime.settings import load_settings
    from bot.runtime.services import Services
    from bot.standin import SlackStandIn
    from bot.slack.web import create_web_app
    from storage.db import make_engine
    from storage.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'compass.db'}"
    else:
        database.empty_postgres(database.postgres_engine())
        url = database.postgres_url()

    standin = SlackStandIn(team_id=TEAM_ID, team_name="Compass Health", bot_token=BOT_TOKEN, bot_user_id="UBOT")
    standin.start()
    standin.add_user(ADMIN_ID, name="admin", real_name="Avery Admin", tz="America/New_York", is_admin=True)
    for user_id in (ANA, BEN, CAL, DEE):
        standin.add_user(user_id, name=user_id.lower(), real_name=f"Dr {user_id}", tz="America/Chicago")
    sink = ResponseSink()
    settings_ = load_settings(
        _env_file=None, slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET, slack_app_token=None,
        slack_client_id=None, slack_client_secret=None, slack_api_url=standin.url, database_url=url,
        compass_admins=ADMIN_ID, compass_timezone="America/New_York",
    )
    engine = make_engine(url)
    upgrade(engine)
    seed(engine)
    services = Services(settings=settings_, engine=engine)

    bolt_app = build_app(services)
    runner = bolt_app.listener_runner
    tracker = IdleTracker(runner.listener_executor)
    runner.listener_executor = tracker
    runner.lazy_listener_runner.executor = tracker

    logs = LogRecorder()
    logging.getLogger().addHandler(logs)
    # log_config=None: uvicorn's own loggers propagate to the root logger (and to the recorder).
    server = uvicorn.Server(uvicorn.Config(create_web_app(bolt_app, services), host="127.0.0.1", port=0,
                                           log_level="warning", lifespan="off", log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the bot's HTTP server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    http = httpx.Client(timeout=30)
    with engine.connect() as connection:
        tables = sorted(inspect(connection).get_table_names())
    try:
        yield Target(url=f"http://127.0.0.1:{port}", engine=engine, services=services, standin=standin, sink=sink, tracker=tracker,
                     logs=logs, http=http, listeners=registered_listeners(bolt_app), subcommands=subcommands_of(bolt_app),
                     tables=tables)
    finally:
        http.close()
        server.should_exit = True
        thread.join(timeout=10)
        logging.getLogger().removeHandler(logs)
        tracker.shutdown(wait=True)
        sink.close()
        standin.stop()
        engine.dispose()


# ---------------------------------------------------------------- sending, and what must hold for every request


def sign(body: bytes, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def signed_headers(body: bytes, content_type: str | None) -> dict[str, str]:
    timestamp = str(int(time.time()))
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": sign(body, timestamp)}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return headers


LEAKS = [
    re.compile(r"Traceback"),
    re.compile(r'File "'),
    re.compile(r"\b[A-Z][A-Za-z0-9_]*(?:Error|Exception)\b\s*[:(]"),  # ValueError: …, KeyError('x')
    re.compile(r"\b(?:KeyError|StopIteration|NoneType|sqlalchemy\.|psycopg|sqlite3\.|site-packages)"),
]


def echoed(body: bytes) -> str:
    """The request as text, in every spelling the bot might legitimately repeat back."""
    raw = body.decode("utf-8", errors="replace")
    spellings = [raw, unquote_plus(raw)]
    for candidate in spellings[:]:
        try:
            spellings.append(json.dumps(json.loads(candidate), ensure_ascii=False))
        except ValueError:
            pass
    return "\n".join(spellings)


def leaks(answer: str, request_text: str) -> list[str]:
    """Signs of Python's internals in what the bot said, except words the request itself contained."""
    return [m.group(0) for pattern in LEAKS for m in pattern.finditer(answer) if m.group(0) not in request_text]


def with_response_url(value: Any, url: str) -> Any:
    if value == RESPONSE_URL:
        return url
    if isinstance(value, dict):
        return {k: with_response_url(v, url) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(with_response_url(v, url) for v in value)
    return value


def check_database(before: dict[str, list[tuple]], after: dict[str, list[tuple]], event_id: Any) -> None:
    for name in before:
        if before[name] == after[name]:
            continue
        added = Counter(map(repr, after[name])) - Counter(map(repr, before[name]))
        removed = Counter(map(repr, before[name])) - Counter(map(repr, after[name]))
        if name == "processed_events" and not removed and len(added) == 1 and event_id is not None:
            (row,) = [r for r in after[name] if repr(r) in added]
            if row[0] == event_id:
                continue  # the request's own event_id, recorded to deduplicate Slack's retries
        if name == "processed_events" and not removed and len(added) == 1:
            (row,) = [r for r in after[name] if repr(r) in added]
            if str(row[0]).startswith("sig:"):
                continue  # the request's own signature, recorded so that a replay of it has no effect
        raise AssertionError(f"the request changed table {name}: added {sorted(added)}, removed {sorted(removed)}")


def _note(text_: str) -> None:
    if currently_in_test_context():  # the plain regression tests below send through here too
        note(text_)


def _event(text_: str) -> None:
    if currently_in_test_context():
        event(text_)


def exchange(target: Target, body: bytes, headers: dict[str, Any], *, event_id: Any = None,
             expect: frozenset[int] | None = None, response_url: str | None = None) -> httpx.Response:
    """Send one request and check everything that must hold for any request."""
    before = target.snapshot()
    log_mark = len(target.logs.records)
    call_mark = len(target.standin.calls)
    _note(f"body={body[:2000]!r}")
    _note(f"headers={headers!r}")
    listeners_before = target.tracker.started
    started = time.monotonic()
    response = target.http.post(target.endpoint, content=body, headers=headers)
    elapsed = time.monotonic() - started
    target.sent[response.status_code] += 1
    _note(f"answer={response.status_code} {response.text[:500]!r}")
    request_text = echoed(body)
    assert response.status_code < 500, (response.status_code, response.text)
    # Slack gives up after 3 seconds; Bolt waits that long for an ack() that never comes.
    assert elapsed < 3.0, f"the answer took {elapsed:.1f}s"
    if expect is not None:
        assert response.status_code in expect, (response.status_code, response.text)
    assert not leaks(response.text, request_text), response.text
    assert target.tracker.wait_idle(timeout=30), "the bot's listeners did not finish"
    _event(f"HTTP {response.status_code}, {'a listener ran' if target.tracker.started > listeners_before else 'no listener'}")

    check_database(before, target.snapshot(), event_id)

    said = [json.dumps(call.args, ensure_ascii=False, default=str) for call in target.standin.calls[call_mark:]]
    if response_url is not None:
        said += [json.dumps(m, ensure_ascii=False) for m in target.sink.messages(response_url)]
    for text_ in said:
        assert not leaks(text_, request_text), text_

    crashes = target.logs.since(log_mark)
    assert not crashes, "\n".join(
        f"{r.levelname} {r.name}: {r.getMessage()} [{r.exc_info[1]!r}]" if r.exc_info else f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in crashes)
    return response


def send_signed(target: Target, payload: Any, *, form: bool, event_id: Any = None,
                content_type: str | None = None) -> httpx.Response:
    """Sign and send a payload as Slack would: JSON for events, a form for commands and interactivity."""
    url = target.sink.new_url()
    payload = with_response_url(payload, url)
    if form:
        pairs = payload if isinstance(payload, list) else [("payload", json.dumps(payload))]
        body = urlencode(pairs).encode("utf-8")
        content_type = content_type or "application/x-www-form-urlencoded"
    else:
        body = json.dumps(payload).encode("utf-8")
        content_type = content_type or "application/json"
    return exchange(target, body, signed_headers(body, content_type), event_id=event_id, response_url=url)


# ---------------------------------------------------------------- strategies

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30))
JSON = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=12), kids, max_size=3),
                    max_leaves=8)

def mostly(usual: st.SearchStrategy, *odd: st.SearchStrategy) -> st.SearchStrategy:
    """The usual kind of value four times in five (so requests get past the edge to a handler), else an odd one."""
    return st.integers(min_value=0, max_value=4).flatmap(lambda i: usual if i < 4 else st.one_of(*odd))


# Odd but plausible values the database may choke on: too long for the column, a NUL (PostgreSQL
# refuses it in text), a lone quote.
ODD_IDS = st.sampled_from(["U" * 33, "U0" + "9" * 200, "U0\x00NUL", "\x00", "U0'; --", "U0\\", "Ü0ÜMLAUT"])
UNKNOWN_USER = mostly(
    st.from_regex(r"\A[UW][0-9A-Z]{4,11}\Z"),
    ODD_IDS,
    st.text(min_size=1, max_size=24),
).filter(lambda u: u.strip() != "" and u.strip().upper() not in KNOWN_USERS)
TEAM = mostly(st.sampled_from([TEAM_ID, "T0OTHER", "E0GRID"]) | st.from_regex(r"\AT[0-9A-Z]{4,11}\Z"),
              st.text(max_size=20), st.sampled_from(["T" * 33, "T0\x00", ""]))
ID_TEXT = st.one_of(
    st.sampled_from(["1", "2", "3", "0", "-1", "1:U0ANA", "1:", ":", "999999999999999999999", "1.5", "1e3", " 2 ", "٣",
                     "null", "{}", "[1]", "send", "join", "preview", "9" * 5000, "2147483648", "9223372036854775808",
                     "1\x00", "1:U0ANA:extra", "1:2:18:30", "1:7:18:30", "1:0:25:61", "1:U0CAL"]),
    st.integers(min_value=-(2**63), max_value=2**63).map(str),
    st.text(max_size=20),
)
CHANNEL = mostly(st.sampled_from([GROUP_CHANNEL, "D0PAIR", "C0GENERAL"]) | st.from_regex(r"\A[CDG][0-9A-Z]{6,10}\Z"),
                 st.text(max_size=12))
TRIGGER = mostly(st.from_regex(r"\A[0-9]{4,10}\.[0-9]{1,6}\.[0-9a-f]{8,32}\Z"), st.text(max_size=20))
TS = mostly(st.from_regex(r"\A[0-9]{10}\.[0-9]{6}\Z"), st.text(max_size=12))
# Mostly a working response_url (so the request reaches its handler), sometimes none or a useless one.
RESPONSE_URLS = st.sampled_from([RESPONSE_URL] * 6 + [None, "", "not a url", "ftp://127.0.0.1/"])
PRIVATE_METADATA = st.one_of(
    st.text(max_size=40),
    JSON.map(json.dumps),
    st.fixed_dictionaries({}, optional={"consent": JSON | st.booleans(), "survey_id": ID_TEXT | JSON,
                                        "round_id": ID_TEXT | JSON, "size_min": ID_TEXT | JSON, "size_max": ID_TEXT | JSON,
                                        "mode": st.sampled_from(["mixed", "same-specialty"]) | JSON,
                                        "seed": ID_TEXT | JSON, "cohort": JSON, "fingerprint": JSON}).map(json.dumps),
)


MUTATION_RATES = [0, 0, 3, 10, 30]  # percent of the fields changed; 0 (the payload as built) is where shrinking goes


def _mutate(draw, value: Any, rate: int, depth: int) -> Any:  # noqa: ANN001
    def changed(item: Any) -> Any:
        how = draw(st.integers(min_value=0, max_value=3))
        if how == 0:
            return draw(JSON)
        if how == 1:
            return draw(st.sampled_from([str(item), [item], {"value": item}, 0, "", None]))
        return draw(st.text(max_size=20))

    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if draw(st.integers(min_value=0, max_value=99)) >= rate:
                out[key] = _mutate(draw, item, rate, depth + 1) if depth < 5 else item
            elif draw(st.booleans()):
                continue  # dropped
            else:
                out[key] = changed(item)
        if draw(st.integers(min_value=0, max_value=99)) < rate:
            out[draw(st.text(max_size=12))] = draw(JSON)
        return out
    if isinstance(value, list):
        items = [_mutate(draw, item, rate, depth + 1) for item in value]
        if draw(st.integers(min_value=0, max_value=99)) < rate:
            items.append(draw(JSON))
        return items
    return value


@st.composite
def mutated(draw, value: Any) -> Any:  # noqa: ANN001
    """The value with some fields dropped, some replaced by random JSON or by the wrong type, and
    now and then an extra one; how many is drawn first, from none to nearly a third."""
    return _mutate(draw, value, draw(st.sampled_from(MUTATION_RATES)), 0)


def keep_unknown(payload: Any, user_id: str) -> Any:
    """Mutations never turn the sender into a member or an admin."""
    if isinstance(payload, dict) and isinstance(payload.get("user"), dict):
        if str(payload["user"].get("id", "")).strip().upper() in KNOWN_USERS:
            payload["user"]["id"] = user_id
    return payload


def listener_ids(ids: list) -> st.SearchStrategy[str]:
    """One of the registered IDs (a string, or a match of a registered pattern), or now and then another."""
    strings = [i for i in ids if isinstance(i, str)]
    patterns = [i for i in ids if isinstance(i, re.Pattern)]
    options = [st.sampled_from(strings)]
    if patterns:
        options.append(st.sampled_from(patterns).flatmap(lambda p: st.from_regex(p, fullmatch=True)))
    return st.one_of(*options, st.text(max_size=20))


@st.composite
def slash_commands(draw, subcommands: list[str]) -> list[tuple[str, str]]:  # noqa: ANN001
    words = st.one_of(
        st.sampled_from(subcommands + ["help", "HELP", "status", "until", "now", "skip", "reschedule", "end", "resume",
                                       "Tue", "18:30", "25:99", "2026-05-01", "2099-12-31", "0000-00-00", '"', "'", "—"]),
        st.text(max_size=15),
    )
    text_ = draw(st.one_of(
        st.tuples(st.sampled_from(subcommands), st.lists(words, max_size=3)).map(lambda t: " ".join([t[0], *t[1]])),
        st.lists(words, max_size=4).map(" ".join),
        st.text(max_size=200),
    ))
    user = draw(UNKNOWN_USER)
    team = draw(TEAM)
    form = {"token": "legacy-unused", "team_id": team, "team_domain": "compass", "channel_id": draw(CHANNEL),
            "channel_name": "general", "user_id": user, "user_name": user.lower(), "command": "/compass", "text": text_,
            "api_app_id": "A0COMPASS", "is_enterprise_install": "false", "response_url": draw(RESPONSE_URLS),
            "trigger_id": draw(TRIGGER)}
    pairs: list[tuple[str, str]] = []
    for key, value in form.items():
        if value is None:
            continue
        choice = draw(st.integers(min_value=0, max_value=11))
        if key in ("command", "user_id", "team_id") and choice > 9:
            choice = 0  # mostly keep what makes it a command, so it reaches the handler
        if choice <= 8:
            pairs.append((key, value))
        elif choice == 9:
            pairs.append((key, draw(st.text(max_size=30))))
        elif choice == 10:
            pairs.append((key, ""))
        # 11: dropped
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        # a repeated field: parsers that take the first and the last value must agree
        pairs.append((draw(st.sampled_from(["text", "user_id", "team_id", "command", "extra"])), draw(st.text(max_size=20))))
    # the sender stays unknown, whichever of two user_id fields a parser reads
    return [(k, v) for k, v in pairs if not (k == "user_id" and v.strip().upper() in KNOWN_USERS)]


@st.composite
def block_actions(draw, action_ids: list, callback_ids: list) -> dict:  # noqa: ANN001
    user, team = draw(UNKNOWN_USER), draw(TEAM)
    kind = draw(st.sampled_from(["button", "static_select", "overflow", "radio_buttons", "checkboxes", "datepicker"]))
    value = draw(ID_TEXT)
    action: dict[str, Any] = {"type": kind, "action_id": draw(listener_ids(action_ids)), "block_id": draw(st.text(max_size=12)),
                              "action_ts": f"{time.time():.6f}"}
    if kind == "button":
        action["value"] = value
        action["text"] = {"type": "plain_text", "text": "Go"}
    elif kind == "checkboxes":
        action["selected_options"] = [{"value": value, "text": {"type": "plain_text", "text": "x"}}]
    elif kind == "datepicker":
        action["selected_date"] = draw(st.one_of(st.just("2026-05-01"), st.text(max_size=12)))
    else:
        action["selected_option"] = {"value": value, "text": {"type": "plain_text", "text": "x"}}
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": team, "domain": "compass"},
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": team},
        "api_app_id": "A0COMPASS",
        "token": "legacy-unused",
        "trigger_id": draw(TRIGGER),
        "actions": [action],
    }
    response_url = draw(RESPONSE_URLS)
    if response_url is not None:
        payload["response_url"] = response_url
    where = draw(st.sampled_from(["message", "home", "modal"]))
    if where == "message":
        channel, ts = draw(CHANNEL), draw(TS)
        payload["container"] = {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False}
        payload["channel"] = {"id": channel, "name": "somewhere"}
        payload["message"] = {"type": "message", "ts": ts, "text": "a message", "blocks": []}
    else:
        payload["container"] = {"type": "view", "view_id": "V0FUZZ"}
        payload["view"] = {"id": "V0FUZZ", "type": where, "callback_id": draw(st.sampled_from([""] + callback_ids)),
                           "private_metadata": draw(PRIVATE_METADATA), "state": {"values": {}}, "hash": "h"}
    return keep_unknown(draw(mutated(payload)), user)


@functools.lru_cache(maxsize=1)
def view_shapes() -> dict[str, list[tuple[str, str, str, list[str]]]]:
    """(block_id, action_id, element type, option values) of every input in the bot's real modals."""
    from bot.flows.groups import settings_view
    from bot.flows.join_form import join_view
    from bot.flows.pairing import SWAP_ELEMENT, SWAP_FIRST, SWAP_SECOND, VIEW_SWAP
    from bot.slack.survey_forms import survey_modal

    views = [join_view(member=None, timezone="America/Chicago", min_group=5, needs_consent=True),
             settings_view(waiting=3, cohort="Spring 2026")]
    views += [survey_modal(survey, min_group=5).to_dict() for survey in ("baseline", "pulse")]
    shapes: dict[str, list] = {}
    for view in views:
        inputs = shapes.setdefault(view["callback_id"], [])
        for block in view["blocks"]:
            if block["type"] == "input":
                element = block["element"]
                entry = (block["block_id"], element["action_id"], element["type"],
                         [o["value"] for o in element.get("options", [])])
                if entry not in inputs:
                    inputs.append(entry)
    shapes[VIEW_SWAP] = [(SWAP_FIRST, SWAP_ELEMENT, "static_select", ["1:U0ANA", "U0ANA"]),
                         (SWAP_SECOND, SWAP_ELEMENT, "static_select", ["1:U0CAL", "U0CAL"])]
    return shapes


def element_state(draw, kind: str, options: list[str]) -> dict:  # noqa: ANN001
    chosen = st.one_of(st.sampled_from(options), ID_TEXT) if options else ID_TEXT

    def option(value: str) -> dict:
        return {"value": value, "text": {"type": "plain_text", "text": "x"}}

    if kind in ("static_select", "radio_buttons"):
        return {"type": kind, "selected_option": draw(st.one_of(st.none(), chosen.map(option)))}
    if kind in ("checkboxes", "multi_static_select"):
        return {"type": kind, "selected_options": draw(st.lists(chosen.map(option), max_size=4))}
    return {"type": kind, "value": draw(st.one_of(st.none(), st.text(max_size=90), ID_TEXT))}


BAD_ZONES = st.one_of(st.sampled_from(["", "Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "America/", "UTC+25",
                                       "x" * 300, "America/Chicago\x00"]),
                      st.text(max_size=20).map(lambda t: f"{t} ?"))


@st.composite
def view_submissions(draw, callback_ids: list) -> dict:  # noqa: ANN001
    from bot.flows.join_form import CALLBACK_ID as JOIN

    shapes = view_shapes()
    callback_id = draw(listener_ids(callback_ids))
    values: dict[str, Any] = {}
    for block_id, action_id, kind, options in shapes.get(callback_id, []):
        if draw(st.integers(min_value=0, max_value=9)) < 9:
            values[block_id] = {action_id: element_state(draw, kind, options)}
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        values[draw(st.text(max_size=12))] = {draw(st.text(max_size=8)): draw(JSON)}
    user, team = draw(UNKNOWN_USER), draw(TEAM)
    view = {"id": "V0FUZZ", "team_id": team, "type": "modal", "callback_id": callback_id,
            "private_metadata": draw(PRIVATE_METADATA), "state": {"values": values}, "hash": "1.abc",
            "title": {"type": "plain_text", "text": "Compass"}, "blocks": [], "root_view_id": "V0FUZZ", "app_id": "A0COMPASS"}
    payload = {"type": "view_submission", "team": {"id": team, "domain": "compass"},
               "user": {"id": user, "username": "someone", "name": "someone", "team_id": team},
               "api_app_id": "A0COMPASS", "token": "legacy-unused", "trigger_id": draw(TRIGGER), "view": view,
               "response_urls": [], "is_enterprise_install": False}
    payload = keep_unknown(draw(mutated(payload)), user)
    # Anyone in the workspace may join: a complete, valid join form is a legitimate write. Keep the
    # fuzzed ones incomplete (the time zone is never a real one), so the form must be refused.
    view_ = payload.get("view")
    if isinstance(view_, dict) and view_.get("callback_id") == JOIN:
        state = view_.get("state")
        if isinstance(state, dict) and isinstance(state.get("values"), dict):
            state["values"]["timezone"] = {"value": {"type": "static_select", "selected_option": {"value": draw(BAD_ZONES)}}}
    return payload


OTHER_EVENTS = ["member_joined_channel", "member_left_channel", "message", "app_mention", "reaction_added",
                "app_uninstalled", "tokens_revoked", "team_join", "user_change", "channel_archive", "group_left"]
EVENT_ID = mostly(st.from_regex(r"\AEv[0-9A-Z]{8,12}\Z"), st.text(max_size=80), JSON,
                  st.sampled_from(["Ev" + "0" * 63, "Ev" + "0" * 300, "Ev\x00", ""]))


@st.composite
def events(draw, event_types: list) -> dict:  # noqa: ANN001
    kind = draw(st.sampled_from(["event_callback", "event_callback", "event_callback", "url_verification", "app_rate_limited"]))
    team = draw(TEAM)
    if kind == "url_verification":
        payload: dict[str, Any] = {"type": kind, "challenge": draw(st.text(max_size=80)), "token": "legacy-unused"}
    elif kind == "app_rate_limited":
        payload = {"type": kind, "token": "legacy-unused", "team_id": team, "minute_rate_limited": draw(st.integers()),
                   "api_app_id": "A0COMPASS"}
    else:
        user = draw(UNKNOWN_USER)
        event_type = draw(st.one_of(listener_ids(event_types), st.sampled_from(OTHER_EVENTS)))
        event = {"type": event_type, "user": user, "channel": draw(CHANNEL), "tab": draw(st.sampled_from(["home", "messages", "about", ""])),
                 "event_ts": draw(TS), "ts": draw(TS), "text": draw(st.text(max_size=40)), "team": team,
                 "view": {"id": "V0HOME", "type": "home", "callback_id": "", "private_metadata": draw(st.text(max_size=10))}}
        payload = {"token": "legacy-unused", "team_id": team, "api_app_id": "A0COMPASS", "event": event,
                   "type": "event_callback", "event_id": draw(EVENT_ID), "event_time": draw(st.integers(min_value=0, max_value=2**40)),
                   "authorizations": [{"enterprise_id": None, "team_id": team, "user_id": "UBOT", "is_bot": True,
                                       "is_enterprise_install": False}],
                   "is_ext_shared_channel": False, "event_context": "4-eyJ"}
    payload = draw(mutated(payload))
    event = payload.get("event") if isinstance(payload, dict) else None
    if isinstance(event, dict) and str(event.get("user", "")).strip().upper() in KNOWN_USERS:
        event["user"] = "U0NOBODY"
    return payload


# ---------------------------------------------------------------- 0. the fuzzer knows the bot


def test_the_fuzzer_targets_every_listener_the_flows_register(target):
    """The IDs are read from the running app; check that reading them works and misses nothing."""
    import bot.flows.groups as groups
    import bot.flows.pairing as pairing
    import bot.flows.sessions as sessions
    import bot.slack.session_messages as session_messages
    from bot.flows.admin_report import SEND_ACTION
    from bot.flows.join_form import CALLBACK_ID as JOIN
    from bot.slack.survey_forms import CALLBACK_ID as PULSE, OPEN_SURVEY_ACTION_ID

    listeners = target.listeners

    def registered(action_id: str) -> bool:
        return any(i == action_id if isinstance(i, str) else i.fullmatch(action_id) for i in listeners["action"])

    constants = [value for module in (groups, pairing, sessions, session_messages) for name, value in vars(module).items()
                 if name.startswith("ACTION_") and isinstance(value, str)
                 and value not in (groups.ACTION_PICK_SLOT, pairing.ACTION_END)]  # prefixes, registered with a number
    constants += list(pairing.ACTION_CHECKIN.values())
    constants += [f"{groups.ACTION_PICK_SLOT}_0", f"{pairing.ACTION_END}_12", SEND_ACTION, OPEN_SURVEY_ACTION_ID, "join_open",
                  "resume_now", "pause_open", "forget_me_confirm", "forget_me_cancel"]
    assert [c for c in constants if not registered(c)] == []
    assert {JOIN, PULSE, groups.VIEW_FORM_SETTINGS, groups.VIEW_FORM_APPROVE, pairing.VIEW_SWAP} <= set(listeners["view"])
    assert "app_home_opened" in listeners["event"]
    assert listeners["command"] == ["/compass"]
    assert {"join", "pause", "resume", "leave", "my-data", "forget-me", "pair", "report", "schedule", "session",
            "topic"} <= set(target.subcommands)


# ---------------------------------------------------------------- 1. random bodies, signed correctly

CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "application/json; charset=utf-8",
                 "application/x-www-form-urlencoded; charset=UTF-8", None]
ALL_TYPES = ["url_verification", "event_callback", "app_rate_limited", "block_actions", "view_submission", "view_closed",
             "shortcut", "message_action", "block_suggestion"]
TYPED_JSON = st.fixed_dictionaries({"type": st.sampled_from(ALL_TYPES)},
                                   optional={"user": JSON | st.fixed_dictionaries({"id": UNKNOWN_USER}), "event": JSON,
                                             "event_id": EVENT_ID, "view": JSON, "actions": JSON, "team": JSON,
                                             "team_id": JSON, "challenge": JSON})
FORM_PAIRS = st.lists(st.tuples(st.one_of(st.sampled_from(["command", "user_id", "team_id", "text", "payload", "ssl_check",
                                                           "response_url", "trigger_id"]), st.text(max_size=10)),
                                st.text(max_size=40)), max_size=6)


@st.composite
def random_bodies(draw) -> tuple[bytes, str | None]:  # noqa: ANN001
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    shape = draw(st.sampled_from(["bytes", "text", "json", "typed json", "form", "payload", "payload typed"]))
    if shape == "bytes":
        body = draw(st.binary(max_size=300))
    elif shape == "text":
        body = draw(st.text(max_size=300)).encode("utf-8")
    elif shape == "json":
        body = json.dumps(draw(JSON)).encode("utf-8")
    elif shape == "typed json":
        body = json.dumps(draw(TYPED_JSON)).encode("utf-8")
    elif shape == "form":
        pairs = [(k, v) for k, v in draw(FORM_PAIRS) if not (k == "user_id" and v.strip().upper() in KNOWN_USERS)]
        body = urlencode(pairs).encode("utf-8")
    elif shape == "payload":
        body = ("payload=" + quote(draw(st.one_of(st.text(max_size=100), JSON.map(json.dumps))))).encode("utf-8")
    else:
        body = ("payload=" + quote(json.dumps(draw(TYPED_JSON)))).encode("utf-8")
    return body, content_type


def body_event_id(body: bytes) -> Any:
    """The event_id of a body, read as Bolt reads it (JSON, or the JSON in a form's last `payload`)."""
    from slack_bolt.request.internals import parse_body

    try:
        text_ = body.decode("utf-8")
        payload = parse_body(text_, "application/json" if text_.startswith("{") else None)
    except ValueError:
        return None
    return payload.get("event_id") if isinstance(payload, dict) else None


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_random_signed_bodies_are_refused_or_handled_never_a_crash(target, data):
    body, content_type = data.draw(random_bodies(), label="body")
    exchange(target, body, signed_headers(body, content_type), event_id=body_event_id(body))


# ---------------------------------------------------------------- 2. real payloads, mutated, signed correctly


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_mutated_slash_commands_from_strangers_change_nothing(target, data):
    pairs = data.draw(slash_commands(target.subcommands), label="form")
    send_signed(target, pairs, form=True)


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_mutated_button_clicks_from_strangers_change_nothing(target, data):
    payload = data.draw(block_actions(target.listeners["action"], [v for v in target.listeners["view"] if isinstance(v, str)]),
                        label="payload")
    send_signed(target, payload, form=True)


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_mutated_modal_submissions_from_strangers_change_nothing(target, data):
    payload = data.draw(view_submissions(target.listeners["view"]), label="payload")
    send_signed(target, payload, form=True)


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_mutated_events_change_nothing_but_their_own_event_id(target, data):
    payload = data.draw(events(target.listeners["event"]), label="payload")
    send_signed(target, payload, form=False, event_id=payload.get("event_id") if isinstance(payload, dict) else None)


# ---------------------------------------------------------------- 3. forged, stale, unsigned, oversized, mistyped

FORGERIES = ["unsigned", "no timestamp", "no headers", "wrong secret", "tampered signature", "tampered body", "stale",
             "future", "timestamp not a number", "signature garbage", "signature not ascii", "signature v1", "huge",
             "content type", "no content type"]
REFUSED = frozenset({401})


@st.composite
def forged_requests(draw) -> tuple[bytes, dict[str, Any], frozenset[int] | None]:  # noqa: ANN001
    user = draw(UNKNOWN_USER)
    if draw(st.booleans()):
        body = urlencode({"command": "/compass", "user_id": user, "team_id": TEAM_ID, "text": draw(st.sampled_from(
            ["", "join", "my-data", "forget-me", "pause until 2099-01-01"])), "trigger_id": fresh_trigger()}).encode()
        content_type = "application/x-www-form-urlencoded"
    else:
        body = json.dumps({"type": "event_callback", "team_id": TEAM_ID, "event_id": draw(EVENT_ID),
                           "event": {"type": "app_home_opened", "user": user, "tab": "home"}}).encode()
        content_type = "application/json"
    case = draw(st.sampled_from(FORGERIES))
    now = int(time.time())
    timestamp = str(now)
    headers: dict[str, Any] = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
                               "X-Slack-Signature": sign(body, timestamp)}
    expect: frozenset[int] | None = REFUSED
    if case == "unsigned":
        del headers["X-Slack-Signature"]
    elif case == "no timestamp":
        del headers["X-Slack-Request-Timestamp"]
    elif case == "no headers":
        headers = {"Content-Type": content_type}
    elif case == "wrong secret":
        headers["X-Slack-Signature"] = sign(body, timestamp, secret=SIGNING_SECRET + draw(st.text(min_size=1, max_size=30)))
    elif case == "tampered signature":
        signature = headers["X-Slack-Signature"]
        at = draw(st.integers(min_value=0, max_value=len(signature) - 1))
        replacement = draw(st.sampled_from("0123456789abcdefv=").filter(lambda c: c != signature[at]))
        headers["X-Slack-Signature"] = signature[:at] + replacement + signature[at + 1:]
    elif case == "tampered body":
        body = body + draw(st.binary(min_size=1, max_size=20))
        expect = frozenset({400, 401})  # a tampered body may also stop being UTF-8
    elif case in ("stale", "future"):
        skew = draw(st.integers(min_value=6 * 60, max_value=10**9))
        timestamp = str(now - skew if case == "stale" else now + skew)
        headers["X-Slack-Request-Timestamp"] = timestamp
        headers["X-Slack-Signature"] = sign(body, timestamp)
    elif case == "timestamp not a number":
        timestamp = draw(st.one_of(st.sampled_from(["", "abc", "1e9", "12.5", "0x10", "NaN", "-", str(now) + "x"]),
                                   st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
                                   .map(lambda t: t.strip() + "x")))  # HTTP trims a header's spaces
        headers["X-Slack-Request-Timestamp"] = timestamp
        headers["X-Slack-Signature"] = sign(body, timestamp)
    elif case == "signature garbage":
        headers["X-Slack-Signature"] = draw(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
                                            .map(str.strip))
    elif case == "signature not ascii":
        tail = draw(st.binary(min_size=1, max_size=4).map(lambda b: bytes(c | 0x80 for c in b)))  # obs-text, legal in HTTP
        headers["X-Slack-Signature"] = headers["X-Slack-Signature"][:-2].encode() + tail
    elif case == "signature v1":
        headers["X-Slack-Signature"] = "v1=" + headers["X-Slack-Signature"][3:]
    elif case == "huge":
        body = body + b"&padding=" + b"a" * draw(st.integers(min_value=1_000_001, max_value=1_100_000))
        headers["X-Slack-Signature"] = sign(body, timestamp)
        expect = frozenset({413})
    elif case == "content type":
        headers["Content-Type"] = draw(st.sampled_from(["text/plain", "multipart/form-data; boundary=x", "application/xml",
                                                        "application/jsonx", "", "application/octet-stream"]))
        expect = None  # signed and well formed: a refusal or a handled request, never a crash
    elif case == "no content type":
        del headers["Content-Type"]
        expect = None
    return body, headers, expect


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_forged_stale_oversized_and_mistyped_requests_are_refused(target, data):
    body, headers, expect = data.draw(forged_requests(), label="request")
    exchange(target, body, headers, expect=expect, event_id=body_event_id(body))


# ---------------------------------------------------------------- regressions: what the fuzzing found, one plain test each


def signed(target: Target, body: bytes, content_type: str = "application/json", **kwargs: Any) -> httpx.Response:
    return exchange(target, body, signed_headers(body, content_type), **kwargs)


_triggers = itertools.count(1)


def fresh_trigger() -> str:
    """Slack gives every command and click a trigger_id of its own (a repeated one is a replay)."""
    return f"1.{next(_triggers)}.abc"


def interaction(payload: dict) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def stranger_click(action_id: str, *, value: str = "1", user: str = "U0STRANGER", surface: str = "home") -> dict:
    payload: dict[str, Any] = {"type": "block_actions", "team": {"id": TEAM_ID}, "user": {"id": user, "team_id": TEAM_ID},
                               "trigger_id": fresh_trigger(), "actions": [{"type": "button", "action_id": action_id,
                                                                     "block_id": "b", "value": value}]}
    if surface == "home":
        payload["container"] = {"type": "view", "view_id": "V0HOME"}
        payload["view"] = {"id": "V0HOME", "type": "home", "callback_id": ""}
    else:
        payload["container"] = {"type": "message", "channel_id": GROUP_CHANNEL, "message_ts": "1.2"}
        payload["response_url"] = RESPONSE_URL
    return payload


def submission(callback_id: str, values: dict, *, private_metadata: str = "", user: str = "U0STRANGER") -> dict:
    return {"type": "view_submission", "team": {"id": TEAM_ID}, "user": {"id": user, "team_id": TEAM_ID},
            "view": {"id": "V0MODAL", "type": "modal", "callback_id": callback_id, "private_metadata": private_metadata,
                     "state": {"values": values}}}


def command(user: str, text_: str) -> list[tuple[str, str]]:
    return [("command", "/compass"), ("team_id", TEAM_ID), ("user_id", user), ("channel_id", "C0GENERAL"),
            ("text", text_), ("response_url", RESPONSE_URL), ("trigger_id", fresh_trigger())]


def test_a_body_bolt_cannot_read_is_a_400_not_a_500(target):
    # BoltRequest() raised (a `user` that is neither text nor an object) outside any handler: uvicorn's 500.
    assert signed(target, b'{"type": "url_verification", "user": false}').status_code == 400


def test_an_event_that_is_null_is_a_400_not_a_500(target):
    # Bolt's IgnoringSelfEvents middleware reads body.get("event", {}).get(...): a null event crashed it.
    assert signed(target, b'{"type": "url_verification", "challenge": "c", "event": null}').status_code == 400


@pytest.mark.parametrize("timestamp", ["abc", "1e9", ""])
def test_a_timestamp_that_is_not_a_number_is_401_not_500(target, timestamp):
    # SignatureVerifier does int(timestamp) and raised ValueError.
    body = urlencode(command("U0STRANGER", "")).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": timestamp,
               "X-Slack-Signature": sign(body, timestamp)}
    assert exchange(target, body, headers).status_code == 401


def test_a_signature_that_is_not_ascii_is_401_not_500(target):
    # hmac.compare_digest refuses non-ASCII text and raised TypeError.
    body = urlencode(command("U0STRANGER", "")).encode()
    headers = signed_headers(body, "application/x-www-form-urlencoded")
    headers["X-Slack-Signature"] = headers["X-Slack-Signature"][:-1].encode() + b"\xe9"
    assert exchange(target, body, headers).status_code == 401


def test_a_repeated_payload_field_is_judged_as_bolt_reads_it(target):
    # The endpoint checked the first `payload`, Bolt parsed the last one: JSONDecodeError, a 500.
    good = json.dumps(stranger_click("join_open"))
    body = urlencode([("payload", good), ("payload", "{broken")]).encode()
    assert signed(target, body, "application/x-www-form-urlencoded").status_code == 400


def test_ids_the_database_cannot_hold_are_refused_at_the_door(target):
    # On PostgreSQL a 33-character team_id broke the event_id bookkeeping (varchar(32)), a NUL any query.
    event = {"type": "event_callback", "team_id": "T" * 33, "event_id": "Ev0LONGTEAM",
             "event": {"type": "app_home_opened", "user": "U0STRANGER", "tab": "home"}}
    assert signed(target, json.dumps(event).encode()).status_code == 400
    event = {**event, "team_id": TEAM_ID, "event": {**event["event"], "user": "U0\x00"}}
    assert signed(target, json.dumps(event).encode()).status_code == 400


def test_a_home_button_refused_to_a_non_admin_answers_by_dm(target):
    # "Form groups…" lives in App Home, which has no response_url: the refusal went to respond(), which
    # raised, was logged as a crash, and the person heard nothing.
    before = len(target.standin.dm_messages(BEN))
    response = send_signed(target, stranger_click("groups_form_open", user=BEN), form=True)
    assert response.status_code == 200
    messages = target.standin.dm_messages(BEN)[before:]
    assert [m["text"] for m in messages] == ["Only Compass admins can do that."]


def test_a_message_button_without_a_response_url_is_refused_or_answered_by_dm(target):
    payload = stranger_click("rsvp_going", surface="message")
    del payload["response_url"]
    assert send_signed(target, payload, form=True).status_code == 400  # Slack always sends one with a message click
    # From App Home (a stale or forged click), the answer goes by DM instead of crashing.
    calls = len(target.standin.calls)
    assert send_signed(target, stranger_click("rsvp_going"), form=True).status_code == 200
    assert [c.args.get("channel") for c in target.standin.calls[calls:] if c.method == "chat.postMessage"] == ["U0STRANGER"]


@pytest.mark.parametrize("metadata", ["[]", "null", "7", '"consent"'])
def test_a_join_form_whose_metadata_is_not_an_object_gets_field_errors(target, metadata):
    # json.loads(...).get("consent") raised before ack(): Bolt answered 500.
    response = send_signed(target, submission("join_submit", {}, private_metadata=metadata), form=True)
    assert response.status_code == 200
    assert response.json()["response_action"] == "errors"


def test_a_join_form_with_answers_of_the_wrong_shape_gets_field_errors(target):
    # _value() assumed every level was a dict; ZoneInfo() raises OSError for a long name; "²".isdigit() is True.
    values = {"consent": {"value": "yes"}, "career_stage": {"value": {"selected_option": "PGY-1"}},
              "years": {"value": {"value": "²"}}, "timezone": {"value": {"selected_option": {"value": "x" * 300}}},
              "availability": {"value": {"selected_options": "Tue-evening"}}, "lead": ["yes"],
              "capacity": {"value": {"selected_option": {"value": "²"}}}}
    response = send_signed(target, submission("join_submit", values, private_metadata='{"consent": true}'), form=True)
    assert response.status_code == 200
    assert {"consent", "career_stage", "timezone"} <= set(response.json()["errors"])


@pytest.mark.parametrize("survey_id", ["999999999999999999999", "2147483648", "-2147483649"])
def test_a_check_in_for_a_survey_id_no_database_can_hold_is_not_found(target, survey_id):
    # SQLite raised OverflowError (not a SQLAlchemy error: a 500), PostgreSQL a DataError (logged as an outage).
    response = send_signed(target, submission("pulse_submit", {}, private_metadata=json.dumps({"survey_id": survey_id})),
                           form=True)
    assert response.status_code == 200
    assert response.json()["response_action"] == "update"


def test_a_swap_for_a_round_id_no_database_can_hold_is_refused(target):
    # Admins only, so outside the strangers' fuzzing, but the same fault: int() of a huge id reached SQLite.
    response = send_signed(target, submission("pair_swap_submit", {}, private_metadata='{"round_id": 99999999999999999999}',
                                              user=ADMIN_ID), form=True)
    assert response.status_code == 200
    assert response.json()["response_action"] == "update"


def test_my_data_from_a_stranger_writes_no_audit_row(target):
    # An audit row "my_data_exported" named someone who never took part (exchange() checks every table).
    assert send_signed(target, command("U0STRANGER", "my-data"), form=True).status_code == 200


def test_forget_me_from_a_stranger_erases_and_records_nothing(target):
    # It wrote "member_forgotten" (rows=0) and a report-cache state row for a person we never held.
    assert send_signed(target, stranger_click("forget_me_confirm", surface="message"), form=True).status_code == 200


def test_help_answers_in_time_when_the_database_is_down(target, tmp_path):
    """The help text asks the database who leads and who administers; when that failed outside a guard,
    the listener raised after ack(), and Bolt 1.30 then forgets the ack, waits out its 3-second
    timeout and answers 404: no answer in Slack, and a 400 here."""
    from storage.db import make_engine

    url = target.sink.new_url()
    body = urlencode(with_response_url(command("U0NEWCOMER", ""), url)).encode()
    target.services.engine = make_engine(f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}")
    try:
        started = time.monotonic()
        response = target.http.post(target.endpoint, content=body,
                                    headers=signed_headers(body, "application/x-www-form-urlencoded"))
        elapsed = time.monotonic() - started
        assert target.tracker.wait_idle(timeout=30)
    finally:
        target.services.engine = target.engine
    assert response.status_code == 200
    assert elapsed < 2
    # Help answers in the acknowledgement, and so does the failure to build it.
    assert response.json() == {"text": render_error("database"), "response_type": "ephemeral"}
    assert target.sink.messages(url) == []


def render_error(kind: str) -> str:
    from bot.slack.render import render

    return render("errors.j2", kind=kind)


# ---------------------------------------------------------------- the checks themselves can fail


def test_the_leak_check_catches_internals_but_not_friendly_text_or_an_echo():
    from bot.slack.render import render

    crash = 'Traceback (most recent call last):\n  File "/app/bot/slack/web.py", line 9, in f\nValueError: boom'
    assert {"Traceback", 'File "', "ValueError:"} <= set(leaks(crash, ""))
    assert leaks("KeyError('user')", "") and leaks("sqlalchemy.exc.DataError", "")
    for kind in ("database", "not_enrolled", "admin_only", "bad_date", "unexpected"):
        assert leaks(render("errors.j2", kind=kind, example="2026-05-01", admins=""), "") == []
    assert leaks('{"challenge": "ValueError: x"}', echoed(b'{"challenge": "ValueError: x"}')) == []


def test_the_database_check_sees_one_row_added_or_changed(target):
    from storage.db import session_scope, utcnow
    from storage.models import AuditEntry, Member
    from sqlmodel import select

    before = target.snapshot()
    with session_scope(target.engine) as session:
        session.add(AuditEntry(at=utcnow(), team_id=TEAM_ID, actor_id="U0STRANGER", action="probe"))
    with pytest.raises(AssertionError, match="audit_log"):
        check_database(before, target.snapshot(), None)
    with session_scope(target.engine) as session:
        session.delete(session.exec(select(AuditEntry).where(AuditEntry.action == "probe")).one())
        member = session.exec(select(Member).where(Member.slack_user_id == ANA)).one()
        name, member.display_name = member.display_name, "Dr Probe"
    with pytest.raises(AssertionError, match="members"):
        check_database(before, target.snapshot(), None)
    with session_scope(target.engine) as session:
        session.exec(select(Member).where(Member.slack_user_id == ANA)).one().display_name = name
    check_database(before, target.snapshot(), None)
    # Only a request's own event_id may be recorded.
    after = {**before, "processed_events": before["processed_events"] + [("Ev0OTHER", TEAM_ID, None)]}
    check_database(before, after, "Ev0OTHER")
    with pytest.raises(AssertionError, match="processed_events"):
        check_database(before, after, "Ev0MINE")
