"""The one place that builds Slack Web API clients and turns their failures into outcomes.

Every client retries 429s (honouring ``Retry-After``), 5xx answers and connection
errors with slack-sdk's retry handlers, and talks to ``SLACK_API_URL`` (GovSlack and
the tests need another base URL).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.slack.rate_limits import SlackRateLimiter

log = logging.getLogger(__name__)

# One budget per process, shared by every thread that calls Slack (see bot.slack.rate_limits).
_rate_limiter = SlackRateLimiter()


def configure_rate_limits(limiter: SlackRateLimiter) -> None:
    global _rate_limiter
    _rate_limiter = limiter


def rate_limiter() -> SlackRateLimiter:
    return _rate_limiter

RETRYABLE_ERRORS = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})

# What a person reads when Slack refuses something on their behalf.
FRIENDLY_ERRORS = {
    "missing_scope": "I'm missing a Slack permission for that. I've told the admins in my logs; please ask your Slack admin to reinstall the app.",
    "not_in_channel": "I'm not a member of that channel. Please invite me (/invite @Compass) and try again.",
    "channel_not_found": "I couldn't find that channel. It may have been archived or made private.",
    "ratelimited": "Slack asked me to slow down. Please try again in a minute.",
    "user_not_found": "Slack doesn't know that person any more.",
    "expired_trigger_id": "That took a little too long for Slack. Please try the command again.",
}
DEFAULT_FRIENDLY = "Slack had a problem with that just now. Nothing you entered was lost; please try again in a minute."


# A lost connection after Slack got one of these may still have had its effect; sending it
# again on the spot could post twice. The clock retries them instead, and looks for the
# earlier post's metadata first (bot.runtime.delivery.post_once).
NOT_SAFE_TO_RESEND = ("chat.postMessage", "chat.postEphemeral", "chat.scheduleMessage", "conversations.create",
                      "files.completeUploadExternal")


class ResendSafelyRetryHandler(ConnectionErrorRetryHandler):
    """Retries connection errors, except where the request may have reached Slack and must not repeat."""

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:  # noqa: ANN001
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        if not request.url.rstrip("/").endswith(NOT_SAFE_TO_RESEND):
            return True
        # Refused before anything was sent: nothing happened at Slack, so sending again is safe.
        return isinstance(error, URLError) and isinstance(error.reason, ConnectionRefusedError)


def retry_handlers(max_retries: int = 3) -> list:
    return [
        ResendSafelyRetryHandler(max_retry_count=max_retries),
        RateLimitErrorRetryHandler(max_retry_count=max_retries),
        ServerErrorRetryHandler(max_retry_count=max_retries),
    ]


def make_client(token: str | None, base_url: str, *, timeout: int = 15, max_retries: int = 3) -> WebClient:
    return WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=retry_handlers(max_retries))


@dataclass
class SlackOutcome:
    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def retryable(self) -> bool:
        return not self.ok and (self.error in RETRYABLE_ERRORS or self.error.startswith(("http_5", "connection")))

    @property
    def friendly(self) -> str:
        return FRIENDLY_ERRORS.get(self.error, DEFAULT_FRIENDLY)


def call(client: WebClient, method: str, **kwargs: Any) -> SlackOutcome:
    """Call a Web API method by name (``chat.postMessage``, or ``files.upload_v2`` for the
    slack-sdk helper); never raises for Slack or network failures, always logs them."""
    _rate_limiter.acquire(_limited_method(method), workspace=client.token or "", channel=kwargs.get("channel"))
    try:
        response = getattr(client, method.replace(".", "_"))(**kwargs)
        return SlackOutcome(ok=True, data=dict(response.data) if isinstance(response.data, dict) else {})
    except SlackApiError as exc:
        error = _error_name(exc)
        log.warning("slack %s failed: %s", method, error)
        return SlackOutcome(ok=False, data=dict(exc.response.data) if isinstance(exc.response.data, dict) else {}, error=error)
    except (SlackClientError, OSError) as exc:
        log.warning("slack %s failed: connection error: %s", method, exc)
        return SlackOutcome(ok=False, error=f"connection_error: {exc}")


def _limited_method(method: str) -> str:
    """The Web API method behind a slack-sdk helper (files_upload_v2 spends the files.* budgets)."""
    return "files.getUploadURLExternal" if method == "files.upload_v2" else method


def _error_name(exc: SlackApiError) -> str:
    response = exc.response
    status = getattr(response, "status_code", 200)
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    if status == 429:
        return "ratelimited"
    if status >= 500:
        return f"http_{status}"
    return str(data.get("error") or f"http_{status}")
