"""The Web API methods the stand-in implements, by name."""

from __future__ import annotations

from bot.standin.api import chat, conversations, directory, files, views
from bot.standin.api.common import Handler

METHODS: dict[str, Handler] = {
    **directory.METHODS,
    **conversations.METHODS,
    **chat.METHODS,
    **views.METHODS,
    **files.METHODS,
}

__all__ = ["METHODS", "Handler"]
