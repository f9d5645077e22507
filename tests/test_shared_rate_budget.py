"""One Slack budget per workspace, shared by every process on PostgreSQL (storage/rate_budgets.py).

The multi-process test starts real OS processes that each post through bot.slack.client.call to
the stand-in, which enforces a channel's chat.postMessage budget and answers 429 beyond it:
with the shared budget no call is refused; with a budget per process (as before) the processes
together overrun it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import create_engine

from bot.runtime.services import Services, limiter_for
from bot.slack.client import rate_limiter
from bot.runtime.clock import Clock, TickReport
from bot.slack.rate_limits import MemoryBuckets, SlackRateLimiter, is_scheduled_work, scheduled_work
from bot.standin import RateLimits
from storage.rate_budgets import SharedBuckets
from tests.support.processes import ROOT, bot_env

POSTS_PER_MINUTE = 300
SCALE = 2  # one channel takes a burst of 2 posts, then 2 a second
# The bot refills 20% below the stand-in's rate: on a loaded machine a call can reach the stand-in
# tens of milliseconds earlier or later than its token was granted (the default 3% is 15 ms here).
HEADROOM = 0.8
PROCESSES = 3
POSTS_EACH = 6  # 18 in all to one channel: 10 s at the channel's rate
CHANNELS = 1

POSTER = """
import json, os, sys, time
from concurrent.futures import ThreadPoolExecutor
from bot.runtime.settings import load_settings
from bot.runtime.services import Services
from bot.slack.client import call, configure_rate_limits
from bot.slack.rate_limits import SlackRateLimiter
from storage.rate_budgets import SharedBuckets

config = json.loads(sys.argv[1])
services = Services.from_settings(load_settings())
store = SharedBuckets(services.engine) if config["shared"] else None
configure_rate_limits(SlackRateLimiter(posts_per_minute=config["per_minute"], scale=config["scale"], store=store,
                                       headroom=config["headroom"]))
client = services.clients.default
open(config["ready"], "w").close()
while not os.path.exists(config["go"]):
    time.sleep(0.005)
def post(n):
    channel = config["channels"][(n + config["offset"]) % len(config["channels"])]
    return call(client, "chat.postMessage", channel=channel, text=f"post {n}").ok

with ThreadPoolExecutor(max_workers=4) as pool:  # as the clock's workers send
    ok = sum(pool.map(post, range(config["posts"])))
print(json.dumps({"ok": ok}), flush=True)
"""


def _postgres_only(engine) -> None:  # noqa: ANN001
    if engine.dialect.name != "postgresql":
        pytest.skip("the shared budget lives in PostgreSQL; one process on SQLite keeps it in memory")


def bucket(key: str, capacity: float, per_second: float, reserve: float = 0.0) -> tuple[str, float, float, float]:
    return (key, capacity, per_second, reserve)


def test_two_processes_draw_from_one_bucket(engine):
    _postgres_only(engine)
    first, second = SharedBuckets(engine), SharedBuckets(engine)  # as two processes would hold them
    slow = [bucket("ws:conversations.create:*", 4, 0.001)]
    assert [first.try_take(slow) for _ in range(2)] == [0.0, 0.0]
    assert [second.try_take(slow) for _ in range(2)] == [0.0, 0.0]
    assert second.try_take(slow) > 100  # the four tokens are spent, whoever spent them
    assert first.try_take(slow) > 100
    # Another workspace, or another method, has a budget of its own.
    assert first.try_take([bucket("other:conversations.create:*", 4, 0.001)]) == 0.0


def test_a_call_spends_nothing_unless_every_bucket_has_room(engine):
    _postgres_only(engine)
    store = SharedBuckets(engine)
    channel, workspace = bucket("ws:chat.postMessage:C1", 1, 0.001), bucket("ws:chat.postMessage:*", 3, 0.001)
    assert store.try_take([channel, workspace]) == 0.0
    assert store.try_take([channel, workspace]) > 0  # the channel is empty ...
    other = bucket("ws:chat.postMessage:C2", 1, 0.001)
    assert store.try_take([other, workspace]) == 0.0  # ... so the workspace still had two
    assert store.try_take([bucket("ws:chat.postMessage:C3", 1, 0.001), workspace]) == 0.0
    assert store.try_take([bucket("ws:chat.postMessage:C4", 1, 0.001), workspace]) > 0


def test_a_take_is_one_statement_and_no_transaction_even_for_a_new_channel(engine):
    """Each DM of a wave goes to a channel no process has posted to yet. Its bucket was made in a transaction
    of its own before the take's, then in the take's (BEGIN, insert, lock, spend, COMMIT): at a health
    system's size a third of a clock's CPU. Now one call of the database function, in autocommit."""
    from sqlalchemy import event

    _postgres_only(engine)
    store, seen = SharedBuckets(engine), []
    workspace = bucket("ws:chat.postMessage:*", 10, 0.001)

    def statement(_connection, _cursor, sql, *_) -> None:  # noqa: ANN001
        seen.append(sql.split(None, 1)[0])

    def commit(*_) -> None:  # noqa: ANN002
        seen.append("COMMIT")

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        assert store.try_take([bucket("ws:chat.postMessage:D1", 1, 0.001), workspace]) == 0.0
        assert seen == ["SELECT"]
        assert store.try_take([bucket("ws:chat.postMessage:D2", 1, 0.001), workspace]) == 0.0
        assert store.try_take([bucket("ws:chat.postMessage:D2", 1, 0.001), workspace]) > 0  # made once, then spent
        assert seen == ["SELECT"] * 3
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


def test_the_database_refills_and_keeps_reserves_as_the_in_memory_buckets_do(engine):
    """rate_budget_take (SQL) and _refill (Python, the fallback in an outage) must agree."""
    from sqlalchemy import text

    from storage.rate_budgets import _refill

    _postgres_only(engine)
    store = SharedBuckets(engine)
    cases = [(0.25, 10, 0.001, 2.0, 0.0), (0.0, 1, 0.5, 0.0, 0.0), (2.5, 5, 0.01, 2.0, 0.0), (9.0, 4, 0.2, 1.0, 0.0),
             (0.0, 1, 0.5, 0.0, 3.0), (0.25, 10, 0.5, 2.0, 5.0), (0.25, 10, 0.5, 2.0, 3.0), (2.5, 5, 0.01, 2.0, 60.0)]
    for tokens, capacity, rate, reserve, ahead in cases:  # the last four: a token taken ahead, or too far ahead
        key = f"ws:refill:{tokens}:{capacity}:{ahead}"
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO rate_budget_buckets (key, tokens, updated) "
                                    "VALUES (:k, :t, extract(epoch FROM clock_timestamp()))"), {"k": key, "t": tokens})
        wait = store.try_take([bucket(key, capacity, rate, reserve)], ahead)
        _, expected = _refill(tokens, 0.0, bucket(key, capacity, rate, reserve), 0.0)
        assert wait == pytest.approx(expected, abs=0.05 + 0.05 * expected), (tokens, capacity, rate, reserve)
        with engine.connect() as connection:
            left = connection.execute(text("SELECT tokens FROM rate_budget_buckets WHERE key = :k"), {"k": key}).scalar_one()
        spent = expected <= ahead
        assert left == pytest.approx(min(capacity, tokens) - (1 if spent else 0), abs=0.05), (tokens, ahead, left)


def test_scheduled_work_leaves_the_reserve_to_interactive_calls(engine):
    _postgres_only(engine)
    # Tier 2 refills one token in 3 s, far longer than these takes last: the counts below are exact.
    limiter = SlackRateLimiter(posts_per_minute=60, store=SharedBuckets(engine), reserve=0.2, sleep=_no_sleep)
    wave = limiter.buckets_for("conversations.create", "xoxb-1", None, scheduled=True)
    interactive = limiter.buckets_for("conversations.create", "xoxb-1", None)
    assert wave[0][3] == 5 and interactive[0][3] == 1  # a burst of 20, 4 kept back from the wave, and the margin
    taken = 0
    while limiter.store.try_take(wave) == 0.0:
        taken += 1
    assert taken == 15
    assert [limiter.store.try_take(interactive) for _ in range(4)] == [0.0] * 4  # a person's click never waits
    assert limiter.store.try_take(interactive) > 0


def test_a_process_of_the_previous_release_still_takes_tokens_while_a_deploy_upgrades_the_schema(engine):
    from sqlalchemy import text

    _postgres_only(engine)
    previous = text("SELECT rate_budget_take(CAST(:keys AS text[]), CAST(:capacities AS float8[]), "
                    "CAST(:rates AS float8[]), CAST(:reserves AS float8[]))")  # the call of migration 0012
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        waits = [connection.execute(previous, {"keys": ["ws:old:*"], "capacities": [2.0], "rates": [0.001],
                                               "reserves": [0.0]}).scalar_one() for _ in range(3)]
    assert waits[:2] == [0.0, 0.0] and waits[2] > 100  # the same bucket, nothing taken ahead


@pytest.mark.parametrize("shared", [False, True], ids=["memory", "postgresql"])
def test_a_wave_takes_tokens_ahead_yet_a_persons_click_still_finds_one(shared, engine):
    if shared:
        _postgres_only(engine)
    store = SharedBuckets(engine) if shared else MemoryBuckets()
    # 60 posts a minute: a burst of 60, one token a second, 6 kept from the wave (and the margin, 1, from every
    # call); a wave may take 5 s ahead, which leaves a person's click the 2 tokens it needs.
    limiter = SlackRateLimiter(posts_per_minute=60, store=store, sleep=_no_sleep)
    wave = limiter.buckets_for("chat.postMessage", "xoxb-1", None, scheduled=True)[1:]
    interactive = limiter.buckets_for("chat.postMessage", "xoxb-1", None)[1:]
    ahead = limiter.ahead_for(wave)
    assert ahead == pytest.approx(5.0)
    taken_now = taken_ahead = 0
    while (wait := store.try_take(wave, ahead)) <= ahead:
        taken_now += wait == 0.0
        taken_ahead += wait > 0.0
    assert (taken_now, taken_ahead) == (53, 5)  # down to 6 + 1 + the one a call needs; then the coming 5 s's
    assert wait == pytest.approx(6.0, abs=0.5)  # the next is too far ahead (less what refilled meanwhile): nothing spent
    assert store.try_take(interactive) == 0.0  # a person's click still finds a token at once
    assert store.try_take(interactive) > 0


def test_threads_waiting_on_one_budget_line_up_instead_of_colliding():
    """Eight delivery threads of a wave on a workspace budget of 20 posts a second: each waiting take used to
    wake with the others for the same token, one got it and the rest were refused and asked again."""
    counts, counting = {"takes": 0, "refused": 0}, threading.Lock()
    store = MemoryBuckets()
    take = store.try_take

    def counted(buckets, ahead=0.0):  # noqa: ANN001
        wait = take(buckets, ahead)
        with counting:
            counts["takes"] += 1
            counts["refused"] += wait > ahead
        return wait

    store.try_take = counted  # type: ignore[method-assign]
    limiter = SlackRateLimiter(posts_per_minute=1200, store=store)
    workspace = limiter.buckets_for("chat.postMessage", "xoxb-1", None, scheduled=True)[1:]
    while take(workspace) == 0.0:  # the burst spent: the wave goes at the refill rate
        pass

    def deliver(thread: int) -> None:
        with scheduled_work():
            for post in range(8):
                limiter.acquire("chat.postMessage", workspace="xoxb-1", channel=f"D{thread}-{post}")

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counts["takes"] - counts["refused"] == 64
    assert counts["refused"] <= 4, counts  # it was 423 refusals in 487 takes: more than six a post


def test_calls_inside_scheduled_work_keep_a_reserve_of_the_workspace_budget():
    seen = []
    store = MemoryBuckets()
    store.try_take = lambda buckets, ahead=0.0: seen.append([b[3] for b in buckets]) or 0.0  # type: ignore[method-assign]
    limiter = SlackRateLimiter(store=store)
    limiter.acquire("chat.postMessage", workspace="xoxb-1", channel="C1")
    with scheduled_work():
        limiter.acquire("chat.postMessage", workspace="xoxb-1", channel="C1")
    limiter.acquire("chat.postMessage", workspace="xoxb-1", channel="C1")
    # The channel's one post a second keeps no reserve; the workspace's 300 a minute keeps 30 from a wave,
    # and one token behind Slack's (the margin) for every call.
    assert seen == [[0.0, 1.0], [0.0, 31.0], [0.0, 1.0]]


def test_the_clock_delivers_as_scheduled_work(monkeypatch, services):  # noqa: ANN001
    seen = []
    monkeypatch.setattr(Clock, "_deliver", lambda self, row, report: seen.append(is_scheduled_work()))
    Clock(services, workers=1)._deliver_lane([object(), object()], TickReport())  # type: ignore[list-item]
    assert seen == [True, True]
    assert not is_scheduled_work()


def test_services_share_the_budget_on_postgresql_and_keep_it_in_memory_on_sqlite(engine, settings):
    services = Services(settings=settings, engine=engine)
    assert rate_limiter().shared == (engine.dialect.name == "postgresql")
    assert rate_limiter().scale == 10_000  # the scale a test or benchmark set carries over
    assert limiter_for(engine, rate_limiter(), settings.compass_posts_per_minute) is rate_limiter()
    assert services.engine is engine


def test_an_unreachable_database_falls_back_to_a_share_of_the_budget_in_memory(engine):
    _postgres_only(engine)
    closed = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    store = SharedBuckets(closed, fallback_share=0.5)
    taken = 0
    while store.try_take([bucket("ws:users.list:*", 20, 0.001)]) == 0.0:
        taken += 1
    assert taken == 10 and store.fallbacks == 11


def test_tokens_spent_in_memory_during_an_outage_are_taken_from_the_shared_budget_after(engine):
    _postgres_only(engine)
    back, other = SharedBuckets(engine, fallback_share=0.5), SharedBuckets(engine)  # two processes
    slow = [bucket("ws:users.list:*", 20, 0.001)]
    assert back.try_take(slow) == 0.0  # 19 left in the shared row
    back.engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    spent = 0
    while back.try_take(slow) == 0.0:  # the database is gone: half the budget, in memory
        spent += 1
    assert spent == 10
    back.engine = engine  # the database answers again: the 10 sent meanwhile come off the shared row
    assert back.try_take(slow) == 0.0
    taken = 0
    while other.try_take(slow) == 0.0:
        taken += 1
    assert taken == 19 - 10 - 1


def _no_sleep(_seconds: float) -> None:
    raise AssertionError("this test never waits")


def _post_from_processes(standin, database_url, tmp_path, *, shared: bool) -> tuple[int, int, float]:  # noqa: ANN001
    standin.rate_limits = RateLimits(scale=SCALE, post_message_per_minute=POSTS_PER_MINUTE)
    channels = [standin.add_channel(f"wave-{shared}-{n:02d}".lower(), members=["UBOT"]) for n in range(CHANNELS)]
    env = bot_env(slack_api_url=standin.url, database_url=database_url)
    go = tmp_path / f"go-{shared}"
    workers = []
    for n in range(PROCESSES):
        config = {"shared": shared, "per_minute": POSTS_PER_MINUTE, "scale": SCALE, "headroom": HEADROOM, "posts": POSTS_EACH, "go": str(go),
                  "channels": channels, "offset": n,
                  "ready": str(tmp_path / f"ready-{shared}-{n}")}
        workers.append(subprocess.Popen([sys.executable, "-c", POSTER, json.dumps(config)], env=env, cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{shared}-{n}").exists() for n in range(PROCESSES)):  # all started ...
        assert time.monotonic() < deadline and all(worker.poll() is None for worker in workers)
        time.sleep(0.05)
    go.touch()  # ... then they post together
    delivered = 0
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-3000:]
        delivered += json.loads(out.strip().splitlines()[-1])["ok"]
    posts = [call.at for call in standin.calls_to("chat.postMessage") if call.args.get("channel") in channels]
    elapsed = max(posts) - min(posts)  # from the first post the stand-in saw to the last
    print(f"\nshared={shared}: {delivered} posts in {elapsed:.1f}s, {standin.rate_limits.rejected_total} refused")
    return delivered, standin.rate_limits.rejected_total, elapsed


def test_several_processes_together_stay_inside_one_workspace_budget(engine, standin, database_url, tmp_path):
    _postgres_only(engine)
    delivered, refused, elapsed = _post_from_processes(standin, database_url, tmp_path, shared=True)
    assert delivered == PROCESSES * POSTS_EACH
    assert refused == 0  # the stand-in enforces the same budget: no call went over it
    assert elapsed >= (PROCESSES * POSTS_EACH - SCALE) / SCALE - 0.1  # and they did need the whole budget

    # As before the shared budget: each process keeps its own, and together they overrun Slack's.
    SharedBuckets(engine).forget()
    _, refused_alone, _ = _post_from_processes(standin, database_url, tmp_path, shared=False)
    assert refused_alone >= 5


def test_the_standin_keeps_a_budget_per_workspace_token(standin):
    from bot.slack.client import call, make_client

    standin.rate_limits = RateLimits()
    standin.add_workspace_token("xoxb-second", "T0SECOND")
    first, second = (make_client(token, standin.url, max_retries=0) for token in (standin.bot_token, "xoxb-second"))
    assert all(call(first, "users.list").ok for _ in range(20))  # Tier 2: 20 a minute
    assert call(first, "users.list").error == "ratelimited"
    assert all(call(second, "users.list").ok for _ in range(20))  # the other workspace's budget is untouched
    assert call(second, "users.list").error == "ratelimited"
    assert call(make_client("xoxb-unknown", standin.url, max_retries=0), "users.list").error == "invalid_auth"
