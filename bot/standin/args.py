"""Slack-level errors and the reading of method arguments, as the Web API does it.

Arguments arrive as form fields (strings), JSON values, or JSON encoded in a
form field; these helpers turn any of those into the Python value a method
expects, and raise :class:`SlackError` with the error name Slack would use.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Mapping

# Arguments whose value is JSON; slack_sdk sends them as JSON strings in form bodies.
JSON_ARGUMENTS = frozenset({"blocks", "attachments", "view", "metadata", "files"})


class SlackError(Exception):
    """A Slack-level failure: HTTP 200 with ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, *, messages: list[str] | None = None, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            body["response_metadata"] = {"messages": [f"[ERROR] {message}" for message in self.messages]}
        return body


def decode_json_arguments(args: dict[str, Any]) -> dict[str, Any]:
    """Decode JSON-valued arguments that arrived as strings; leave undecodable ones as they are."""
    decoded = dict(args)
    for name in JSON_ARGUMENTS & decoded.keys():
        value = decoded[name]
        if isinstance(value, str) and value.strip():
            try:
                decoded[name] = json.loads(value)
            except json.JSONDecodeError:
                pass
    return decoded


def invalid_arguments(*messages: str) -> SlackError:
    return SlackError("invalid_arguments", messages=list(messages))


class Args:
    """Read access to one call's arguments with Slack's coercions."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def present(self, name: str) -> bool:
        value = self._values.get(name)
        return value is not None and value != ""

    def exact(self, name: str) -> Any:
        """The value as sent, including an empty string (which ``raw`` treats as absent)."""
        return self._values.get(name)

    def raw(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default) if self.present(name) else default

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.raw(name)
        return default if value is None else str(value)

    def required(self, name: str, *, error: str | None = None) -> str:
        """A required string; a missing one raises ``error`` (``invalid_arguments`` by default)."""
        value = self.text(name)
        if value is None:
            if error is None:
                raise invalid_arguments(f"missing required field: {name}")
            raise SlackError(error)
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in {"1", "true", "yes"}

    def integer(self, name: str, default: int | None = None, *, error: str = "invalid_arguments") -> int | None:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return int(str(value).strip())
        except ValueError:
            try:
                return int(float(str(value)))
            except ValueError:
                raise SlackError(error) from None

    def id_list(self, name: str) -> list[str]:
        """A comma-separated list of IDs (``users=U1,U2``), also accepted as a JSON list."""
        value = self.raw(name)
        if value is None:
            return []
        items = value if isinstance(value, list) else str(value).split(",")
        return [str(item).strip() for item in items if str(item).strip()]

    def json_value(self, name: str) -> Any:
        """A JSON-valued argument; still a string here means it was not valid JSON."""
        return self.raw(name)


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "offset":
            raise ValueError(cursor)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None


def page(items: list[Any], args: Args, *, default_limit: int = 100, max_limit: int = 1000) -> tuple[list[Any], str]:
    """One page of ``items`` for ``cursor``/``limit``; returns the page and the next cursor ("" at the end)."""
    start = decode_cursor(args.text("cursor"))
    limit = args.integer("limit", default_limit) or default_limit
    limit = max(1, min(limit, max_limit))
    chunk = items[start : start + limit]
    next_cursor = encode_cursor(start + limit) if start + limit < len(items) else ""
    return chunk, next_cursor
