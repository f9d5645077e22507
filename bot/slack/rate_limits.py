"""Slack's Web API rate limits, and a client-side limiter that stays inside them.

Slack allows each method a number of calls per minute per workspace by tier
(docs.slack.dev/apis/web-api/rate-limits), with bursts. chat.postMessage is special:
about one message per second per channel, plus a workspace-wide budget that Slack does
not publish (a setting here, default 300 a minute). The limiter keeps a token bucket per
(workspace, method) and per (workspace, channel) for posts; ``acquire`` blocks until
every bucket the call needs has a token, so concurrent senders share one budget and
429s stay rare (the retry handlers honour ``Retry-After`` for the rest).

Where the buckets live is the limiter's ``store``: in this process's memory
(:class:`MemoryBuckets`, one process per workspace, as on SQLite), or in a table every
process shares (``storage.rate_budgets.SharedBuckets`` on PostgreSQL), because Slack counts
calls per app per workspace, whichever process sends them.

Interactive work goes first: a call made inside :func:`scheduled_work` (the clock's
deliveries) takes a token only while the bucket keeps ``SCHEDULED_RESERVE`` of its burst
for people waiting on an answer (ephemeral replies, modals, Home), so a wave never empties
the budget a person's click needs. Workspaces never share a bucket: a big workspace's wave
waits on its own budget only.
"""

from __future__ import annotations

import hashlib
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol, Sequence

TIER_CALLS_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}

# From the method reference; other "special" methods (auth.test, chat.getPermalink) are treated as Tier 4.
METHOD_TIERS = {
    "auth.test": 4,
    "team.info": 3,
    "users.info": 4,
    "users.list": 2,
    "users.lookupByEmail": 3,
    "conversations.create": 2,
    "conversations.invite": 3,
    "conversations.open": 3,
    "conversations.info": 3,
    "conversations.members": 4,
    "conversations.history": 3,
    "conversations.replies": 3,
    "conversations.archive": 2,
    "conversations.setTopic": 2,
    "chat.postEphemeral": 4,
    "chat.update": 3,
    "chat.delete": 3,
    "chat.scheduleMessage": 3,
    "chat.deleteScheduledMessage": 3,
    "chat.scheduledMessages.list": 3,
    "chat.getPermalink": 4,
    "views.open": 4,
    "views.push": 4,
    "views.update": 4,
    "views.publish": 4,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
    "files.info": 4,
}
POST_MESSAGE = "chat.postMessage"
# Concurrent calls reach Slack slightly out of the order their tokens were granted (threads,
# processes, network jitter). The limiter stays MARGIN tokens behind Slack's bucket, so a call
# that arrives up to one refill interval early still finds a token there, at a one-time cost of
# one token per bucket (a slower refill, as before, cost 3% of every wave's time). A bucket too
# small to keep a token back (a channel's one post a second) refills at HEADROOM of Slack's rate.
MARGIN = 1.0
HEADROOM = 0.97
POSTS_PER_CHANNEL_PER_SECOND = 1.0
DEFAULT_POSTS_PER_MINUTE = 300


@dataclass
class TokenBucket:
    capacity: float
    per_second: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now

    def wait_for_one(self, now: float) -> float:
        """Seconds until a token is available (0 when one is)."""
        self.refill(now)
        # The tolerance stops float rounding from asking for waits too small to advance the clock.
        return 0.0 if self.tokens >= 1 - 1e-9 else (1 - self.tokens) / self.per_second

    def take(self, now: float) -> float | None:
        """Spend one token; None if granted, else the seconds until one is available."""
        wait = self.wait_for_one(now)
        if wait:
            return wait
        self.tokens -= 1
        return None


def budgets_for(method: str, *, posts_per_minute: float, scale: float = 1.0) -> list[tuple[str, float, float]]:
    """(bucket scope, capacity, tokens per second) for one call; scope "channel" or "workspace"."""
    if method == POST_MESSAGE:
        per_second = POSTS_PER_CHANNEL_PER_SECOND * scale
        per_minute = posts_per_minute * scale
        return [("channel", max(1.0, per_second), per_second), ("workspace", max(1.0, per_minute), per_minute / 60)]
    tier = METHOD_TIERS.get(method)
    if tier is None:
        return []
    per_minute = TIER_CALLS_PER_MINUTE[tier] * scale
    return [("workspace", max(1.0, per_minute), per_minute / 60)]


# The share of a workspace bucket's burst that scheduled work leaves for interactive calls.
SCHEDULED_RESERVE = 0.1
# Seconds ahead a scheduled call may take a token (SlackRateLimiter.ahead_for): at Slack's post budget (5 a
# second) room for 25 waiting threads of one workspace, as many as a clock has for all of them.
MAX_AHEAD = 5.0

_scheduled: ContextVar[bool] = ContextVar("compass_scheduled_work", default=False)


@contextmanager
def scheduled_work() -> Iterator[None]:
    """Calls made inside are scheduled work (a wave of posts): they leave a reserve for interactive ones."""
    token = _scheduled.set(True)
    try:
        yield
    finally:
        _scheduled.reset(token)


def is_scheduled_work() -> bool:
    return _scheduled.get()


# (key, capacity, tokens per second, tokens that must be left after this call)
Bucket = tuple[str, float, float, float]


class BucketStore(Protocol):
    def try_take(self, buckets: Sequence[Bucket], ahead: float = 0.0) -> float:
        """The seconds until every bucket has room (0 when each has now). When that is at most ``ahead``, one
        token of every bucket is spent at once, for the caller to use when that time has passed; when it is
        longer, nothing is spent."""


def bucket_wait(tokens: float, updated: float, bucket: Bucket, now: float) -> tuple[float, float]:
    """(tokens after refilling to ``now``, seconds until the bucket can give one and keep its reserve)."""
    _, capacity, per_second, reserve = bucket
    tokens = min(capacity, tokens + max(0.0, now - updated) * per_second)
    need = 1.0 + reserve
    # The tolerance stops float rounding from asking for waits too small to advance the clock.
    return tokens, 0.0 if tokens >= need - 1e-9 else (need - tokens) / per_second


class MemoryBuckets:
    """Token buckets in this process's memory: the whole budget when one process calls Slack."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated)
        self._lock = threading.Lock()

    def try_take(self, buckets: Sequence[Bucket], ahead: float = 0.0) -> float:
        with self._lock:
            now = self._clock()
            refilled = []
            for bucket in buckets:
                tokens, updated = self._state.get(bucket[0], (bucket[1], now))
                refilled.append(bucket_wait(tokens, updated, bucket, now))
            wait = max((w for _, w in refilled), default=0.0)
            if wait <= ahead:
                for bucket, (tokens, _) in zip(buckets, refilled):
                    self._state[bucket[0]] = (tokens - 1, now)
            return wait


def workspace_key(token: str) -> str:
    """A bucket key for a workspace's token that does not store the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:20] if token else ""


class SlackRateLimiter:
    """Blocks each call until its method's (and, for posts, its channel's) budget has room."""

    def __init__(
        self,
        *,
        posts_per_minute: float = DEFAULT_POSTS_PER_MINUTE,
        scale: float = 1.0,
        headroom: float = HEADROOM,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        store: BucketStore | None = None,
        reserve: float = SCHEDULED_RESERVE,
        margin: float = MARGIN,
    ):
        if scale <= 0 or posts_per_minute <= 0:
            raise ValueError("rate-limit budgets must be positive")
        if not 0 < headroom <= 1:
            raise ValueError("headroom must be in (0, 1]")
        if not 0 <= reserve < 1:
            raise ValueError("reserve must be in [0, 1)")
        if margin < 0:
            raise ValueError("margin must not be negative")
        self.headroom = headroom
        self.margin = margin
        self.posts_per_minute = posts_per_minute
        self.scale = scale
        self.reserve = reserve
        self._sleep = sleep
        self.store: BucketStore = store if store is not None else MemoryBuckets(clock)

    @property
    def shared(self) -> bool:
        return not isinstance(self.store, MemoryBuckets)

    def acquire(self, method: str, *, workspace: str = "", channel: str | None = None) -> float:
        """Wait for room, spend it, and return the seconds waited."""
        scheduled = is_scheduled_work()
        buckets = self.buckets_for(method, workspace, channel, scheduled=scheduled)
        if not buckets:
            return 0.0
        ahead = self.ahead_for(buckets) if scheduled else 0.0
        waited = 0.0
        while True:
            wait = self.store.try_take(buckets, ahead)
            if wait <= ahead:  # granted: the token is this call's once ``wait`` has passed
                if wait:
                    self._sleep(wait)
                return waited + wait
            self._sleep(wait - ahead)  # then the token is within reach
            waited += wait - ahead

    def ahead_for(self, buckets: Sequence[Bucket]) -> float:
        """How far ahead scheduled work may take a token: threads waiting on one budget line up for the coming
        tokens instead of all waking for the next one (with several processes, most takes were refused). No
        further than its workspace reserve refills, less one token, so a person's click still finds one."""
        limits = [(reserve - self.margin - 1) / per_second for _, capacity, per_second, reserve in buckets
                  if capacity >= 1 + self.margin and reserve > self.margin]
        return max(0.0, min(MAX_AHEAD, *limits)) if limits else 0.0  # no reserve to spend ahead: take tokens as they come

    def buckets_for(self, method: str, workspace: str, channel: str | None, *, scheduled: bool = False) -> list[Bucket]:
        key = workspace_key(workspace)
        buckets = []
        for scope, capacity, per_second in budgets_for(method, posts_per_minute=self.posts_per_minute, scale=self.scale):
            where = f"{key}:{method}:" + ((channel or "") if scope == "channel" else "*")
            # Only a workspace-wide bucket keeps a reserve: a channel's one post a second is that channel's.
            reserve = float(int(capacity * self.reserve)) if scheduled and scope == "workspace" else 0.0
            if capacity >= 1 + self.margin:
                buckets.append((where, capacity, per_second, reserve + self.margin))
            else:
                buckets.append((where, capacity, per_second * self.headroom, reserve))
        return buckets
