"""Slack's budget of each workspace, kept in PostgreSQL so that every process draws from one.

Slack counts an app's calls per workspace, whichever process sends them: with several web and
clock processes each keeping its own buckets, N processes could send N times the budget and
meet 429s. Here each token bucket is a row of ``rate_budget_buckets``. Taking a token is one
statement in autocommit, the function ``rate_budget_take`` (migrations 0012 and 0014): make a new
channel's row, lock the call's rows (``FOR UPDATE``, in key order so two calls never wait on each
other crosswise), refill them to the database server's clock (one clock for every process, so no skew
between machines), and spend one token of each only if every one has room, now or within the call's
``ahead`` seconds (then the caller sends when that time has passed). A call that must wait holds no
lock while it sleeps.

If the database cannot be reached the process keeps going on buckets in its own memory at
``fallback_share`` of the budget (a process-count change should set it to 1 / processes), and
returns to the shared rows as soon as the database answers again. The tokens it spent meanwhile
are then taken from the shared rows (which refilled through the outage as if nobody had sent), so
the processes together stay inside Slack's budget across an outage too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Callable, Sequence

from sqlalchemy import bindparam, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from storage.models import RateBudgetBucket

log = logging.getLogger(__name__)

# (key, capacity, tokens per second, tokens that must be left after this call): as bot.slack.rate_limits.Bucket
Bucket = tuple[str, float, float, float]

_TABLE = RateBudgetBucket.__table__
_TAKE = text("SELECT rate_budget_take(CAST(:keys AS text[]), CAST(:capacities AS float8[]), CAST(:rates AS float8[]), "
             "CAST(:reserves AS float8[]), CAST(:ahead AS float8))")
_SETTLE = update(_TABLE).where(_TABLE.c.key == bindparam("k")).values(tokens=_TABLE.c.tokens - bindparam("owed"))


def _refill(tokens: float, updated: float, bucket: Bucket, now: float) -> tuple[float, float]:
    """(tokens at ``now``, seconds until the bucket gives one and keeps its reserve); as bot.slack.rate_limits.bucket_wait
    and the database function ``rate_budget_take``."""
    _, capacity, per_second, reserve = bucket
    tokens = min(capacity, tokens + max(0.0, now - updated) * per_second)
    need = 1.0 + reserve
    return tokens, 0.0 if tokens >= need - 1e-9 else (need - tokens) / per_second


class SharedBuckets:
    """Token buckets in a PostgreSQL table, shared by every process that uses the same database."""

    def __init__(self, engine: Engine, *, fallback_share: float = 1.0, clock: Callable[[], float] = time.monotonic):
        if engine.dialect.name != "postgresql":
            raise ValueError("shared rate budgets need PostgreSQL; one process on SQLite keeps them in memory")
        if not 0 < fallback_share <= 1:
            raise ValueError("fallback_share must be in (0, 1]")
        self.engine = engine
        self.fallback_share = fallback_share
        self._clock = clock
        self._local: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._owed: Counter[str] = Counter()  # tokens spent in memory, by key, not yet taken from the shared rows
        self.fallbacks = 0  # calls decided in memory because the database did not answer

    def try_take(self, buckets: Sequence[Bucket], ahead: float = 0.0) -> float:
        """As bot.slack.rate_limits.BucketStore.try_take."""
        ordered = sorted(buckets, key=lambda bucket: bucket[0])
        try:
            return self._take_shared(ordered, ahead)
        except SQLAlchemyError as exc:
            self.fallbacks += 1
            if self.fallbacks == 1 or self.fallbacks % 1000 == 0:
                log.warning("rate budget: the database did not answer (%s); using %.0f%% of the budget in this process",
                            type(exc).__name__, self.fallback_share * 100)
            return self._take_local(ordered, ahead)

    def _take_shared(self, buckets: Sequence[Bucket], ahead: float = 0.0) -> float:
        if self._owed:
            self._settle()
        with self.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")  # the take is one statement: no BEGIN, no COMMIT
            return float(connection.execute(_TAKE, {
                "keys": [key for key, _, _, _ in buckets], "capacities": [float(c) for _, c, _, _ in buckets],
                "rates": [float(r) for _, _, r, _ in buckets], "reserves": [float(r) for _, _, _, r in buckets],
                "ahead": float(ahead),
            }).scalar_one())

    def _settle(self) -> None:
        """Take the tokens spent in memory during an outage from the shared rows (in key order, as every take locks)."""
        with self._lock:
            owed, self._owed = self._owed, Counter()
        try:
            with self.engine.begin() as connection:
                connection.execute(_SETTLE, [{"k": key, "owed": count} for key, count in sorted(owed.items())])
        except SQLAlchemyError:
            with self._lock:
                self._owed.update(owed)
            raise

    def _take_local(self, buckets: Sequence[Bucket], ahead: float = 0.0) -> float:
        share = [(key, max(1.0, capacity * self.fallback_share), rate * self.fallback_share, reserve)
                 for key, capacity, rate, reserve in buckets]
        with self._lock:
            now = self._clock()
            refilled = [_refill(*self._local.get(bucket[0], (bucket[1], now)), bucket, now) for bucket in share]
            wait = max(w for _, w in refilled)
            if wait <= ahead:
                for bucket, (tokens, _) in zip(share, refilled):
                    self._local[bucket[0]] = (tokens - 1, now)
                    self._owed[bucket[0]] += 1
            return wait

    def forget(self) -> None:
        """Empty the table (every workspace starts with a full burst); for tests and benchmarks."""
        with self.engine.begin() as connection:
            connection.execute(_TABLE.delete())
