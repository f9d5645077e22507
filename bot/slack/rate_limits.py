"""Slack's Web API rate limits, and a client-side limiter that stays inside them.

Slack allows each method a number of calls per minute per workspace by tier
(docs.slack.dev/apis/web-api/rate-limits), with bursts. chat.postMessage is special:
about one message per second per channel, plus a workspace-wide budget that Slack does
not publish (a setting here, default 300 a minute). The limiter keeps a token bucket per
(workspace token, method) and per (token, channel) for posts; ``acquire`` blocks until
every bucket the call needs has a token, so concurrent senders share one budget and
429s stay rare (the retry handlers honour ``Retry-After`` for the rest).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

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
# The limiter refills a little slower than Slack does: concurrent calls reach Slack slightly
# out of the order their tokens were granted (threads, network jitter), and this slack keeps
# one that arrives early from finding Slack's bucket empty (a 429).
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
    ):
        if scale <= 0 or posts_per_minute <= 0:
            raise ValueError("rate-limit budgets must be positive")
        if not 0 < headroom <= 1:
            raise ValueError("headroom must be in (0, 1]")
        self.headroom = headroom
        self.posts_per_minute = posts_per_minute
        self.scale = scale
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def acquire(self, method: str, *, workspace: str = "", channel: str | None = None) -> float:
        """Wait for room, spend it, and return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                buckets = self._buckets_for(method, workspace, channel, now)
                wait = max((bucket.wait_for_one(now) for bucket in buckets), default=0.0)
                if wait == 0.0:
                    for bucket in buckets:
                        bucket.tokens -= 1
                    return waited
            self._sleep(wait)
            waited += wait

    def _buckets_for(self, method: str, workspace: str, channel: str | None, now: float) -> list[TokenBucket]:
        buckets = []
        for scope, capacity, per_second in budgets_for(method, posts_per_minute=self.posts_per_minute, scale=self.scale):
            key = (workspace, method, (channel or "") if scope == "channel" else "*")
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(capacity, per_second * self.headroom, capacity, now)
            buckets.append(bucket)
        return buckets
