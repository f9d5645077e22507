"""Optional enforcement of Slack's per-method rate-limit tiers.

Each tier allows a number of calls per minute per workspace (docs.slack.dev/apis/web-api/rate-limits),
with bursts up to that number: a token bucket per method refilled at the tier's
rate. chat.postMessage is special: about one message per second per channel, plus
a workspace-wide budget that Slack does not publish, so it is a setting here.
``scale`` multiplies every budget so benchmarks can run many calls quickly. Budgets are kept per
``workspace`` (the server passes the calling token: one token per workspace, as a benchmark
of many workspaces sets them up with ``SlackStandIn.add_workspace_token``).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Mapping

# Slack's published tiers; the bot's own limiter reads the same table.
from bot.slack.rate_limits import METHOD_TIERS, POST_MESSAGE, TIER_CALLS_PER_MINUTE, TokenBucket

@dataclass
class RateLimits:
    """Rate-limit settings and the running counts of one stand-in."""

    scale: float = 1.0
    tier_calls_per_minute: Mapping[int, int] = field(default_factory=lambda: dict(TIER_CALLS_PER_MINUTE))
    method_tiers: Mapping[str, int] = field(default_factory=dict)  # overrides of METHOD_TIERS
    post_message_per_channel_per_second: float = 1.0
    post_message_per_minute: int | None = None  # workspace-wide budget; None = not enforced
    clock: Callable[[], float] | None = None  # defaults to time.monotonic
    rejected: Counter = field(default_factory=Counter, init=False)

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError("scale must be positive")
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    @property
    def rejected_total(self) -> int:
        """How many calls got HTTP 429 from enforcement."""
        return sum(self.rejected.values())

    def tier_of(self, method: str) -> int | None:
        return self.method_tiers.get(method, METHOD_TIERS.get(method))

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()
            self.rejected.clear()

    def admit(self, method: str, *, channel: str | None = None, workspace: str = "") -> int | None:
        """Account for one call; None if allowed, else the whole seconds for ``Retry-After``."""
        now = (self.clock or time.monotonic)()
        with self._lock:
            waits = [wait for wait in self._spend(method, channel, now, workspace) if wait is not None]
            if not waits:
                return None
            self.rejected[method] += 1
            return max(1, math.ceil(max(waits)))

    def _spend(self, method: str, channel: str | None, now: float, workspace: str) -> list[float | None]:
        budgets: list[tuple[tuple[str, str], float, float]] = []  # (key, capacity, refill per second)
        if method == POST_MESSAGE:
            per_second = self.post_message_per_channel_per_second * self.scale
            budgets.append(((method, channel or ""), max(1.0, per_second), per_second))
            if self.post_message_per_minute is not None:
                per_minute = self.post_message_per_minute * self.scale
                budgets.append(((method, "*"), max(1.0, per_minute), per_minute / 60))
        else:
            tier = self.tier_of(method)
            if tier is None:
                return []
            per_minute = self.tier_calls_per_minute[tier] * self.scale
            budgets.append(((method, "*"), max(1.0, per_minute), per_minute / 60))
        buckets = [self._bucket((workspace, *key), capacity, rate, now) for key, capacity, rate in budgets]
        # Only spend when every budget has room, so a rejected call costs nothing.
        waits = [bucket.take(now) for bucket in buckets]
        if any(wait is not None for wait in waits):
            for bucket, wait in zip(buckets, waits):
                if wait is None:
                    bucket.tokens += 1
        return waits

    def _bucket(self, key: tuple[str, str, str], capacity: float, per_second: float, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(capacity, per_second, capacity, now)
        return bucket
