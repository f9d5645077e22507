"""Socket Mode: Slack opens a WebSocket to the app instead of posting to a public URL."""

from __future__ import annotations

import logging

from slack_bolt import App

log = logging.getLogger(__name__)


def serve_socket_mode(bolt_app: App, app_token: str) -> None:
    """Connect with the app-level token (``xapp-…``) and serve until the process ends."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    log.info("connecting to Slack over Socket Mode")
    SocketModeHandler(bolt_app, app_token).start()
