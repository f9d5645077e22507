"""Frozen time for tests that run the bot's HTTP server in a thread.

``real_asyncio=True`` keeps the server's event loop on real monotonic time (its timers
would otherwise stall), while every timestamp the bot reads, including the one it
checks request signatures against, comes from the frozen clock.
"""

from __future__ import annotations

from freezegun import freeze_time


def frozen(when: str, *, tick: bool = True):  # noqa: ANN201
    return freeze_time(when, tick=tick, real_asyncio=True)
