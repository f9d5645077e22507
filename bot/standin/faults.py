"""Injected failures: rate limiting, server errors, Slack errors, slow answers and dropped connections."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

ANY_METHOD = "*"
_STATUS_ERRORS = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}


@dataclass
class Fault:
    method: str
    status: int | None = None
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    reset: bool = False
    reset_after: bool = False  # do the work, then drop the connection: Slack acted, the answer was lost
    remaining: int = 1

    def __post_init__(self) -> None:
        if self.remaining < 1:
            raise ValueError("times must be at least 1")
        if self.retry_after is not None:
            if self.retry_after < 0 or int(self.retry_after) != self.retry_after:
                raise ValueError("retry_after must be a whole number of seconds (slack_sdk parses it as an int)")
            self.status = self.status or 429
        if self.status == 429 and self.retry_after is None:
            self.retry_after = 1
        if self.status is not None and not (self.status == 200 or 400 <= self.status <= 599):
            raise ValueError("status must be 200 (with error) or an HTTP error status")
        if self.status == 200 and self.error is None:
            raise ValueError("status 200 needs an error to inject")
        if self.delay < 0:
            raise ValueError("delay must not be negative")
        if self.status is None and self.error is None and not self.delay and not self.reset and not self.reset_after:
            raise ValueError("inject needs status, error, retry_after, delay, reset or reset_after")
        if self.reset_after and (self.reset or self.status is not None or self.error is not None):
            raise ValueError("reset_after lets the method run; it cannot be combined with an error or reset")

    @property
    def replaces_answer(self) -> bool:
        """Whether the method is skipped (an error or dropped connection) rather than only slowed down."""
        return self.reset or self.status is not None or self.error is not None

    def answer(self) -> tuple[int, dict[str, Any], dict[str, str]]:
        status = self.status or 200
        error = self.error or _STATUS_ERRORS.get(status, "fatal_error")
        headers = {"Retry-After": str(int(self.retry_after))} if self.retry_after is not None else {}
        return status, {"ok": False, "error": error}, headers


class FaultPlan:
    """Pending faults, consumed in order: method-specific ones first, then ``"*"`` ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str) -> Fault | None:
        with self._lock:
            fault = next((f for f in self._faults if f.method == method), None)
            if fault is None:
                fault = next((f for f in self._faults if f.method == ANY_METHOD), None)
            if fault is None:
                return None
            fault.remaining -= 1
            if fault.remaining == 0:
                self._faults.remove(fault)
            return fault
