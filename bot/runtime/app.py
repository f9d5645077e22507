"""Builds the Bolt app from services; every flow registers its own listeners."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from slack_sdk.proxy_env_variable_loader import load_http_proxy_from_env
from slack_sdk.errors import SlackClientError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from bot.flows import FLOWS
from bot.flows.commands import CommandRouter
from bot.slack.manifest import BOT_SCOPES
from bot.slack.response_urls import PooledRespond, ResponseUrlPoster
from bot.runtime.services import Services
from bot.slack.client import make_client
from bot.slack import tenancy
from bot.slack.web import EVENT_RETRY_STATUS
from storage.events import first_delivery
from storage.models import Workspace
from storage.workspaces import remember_installation

BOLT_LISTENER_THREADS = 16
WARM_UP_THREADS = 8

log = logging.getLogger(__name__)


WarmUp = Callable[[], int]  # work a process does once at start so that no request pays for it; returns items done


def _remember_grid_installations(app: App, services: Services) -> WarmUp:
    """Record the Grid org of each program a request comes from, once per process, so that the
    clock (which has no request) finds the installation's token under the right enterprise ID.
    Returns the warm-up that reads what is already recorded, which requests then need not write."""
    known: set[tuple[str, str, bool]] = set()

    def read_recorded_grid_installations() -> int:
        workspaces = Workspace.__table__  # type: ignore[attr-defined]
        query = select(workspaces.c.team_id, workspaces.c.enterprise_id, workspaces.c.is_org_install).where(
            workspaces.c.enterprise_id != "")
        with services.engine.connect() as connection:
            recorded = {(key, enterprise_id, bool(is_org)) for key, enterprise_id, is_org in connection.execute(query)}
        known.update(recorded)
        return len(recorded)

    @app.middleware
    def remember_installation_of_request(body, next):  # noqa: ANN001, A002
        installation = tenancy.installation_of(body) if isinstance(body, dict) else ("", "", False)
        key, enterprise_id, is_org = installation
        if key and enterprise_id and installation not in known:
            try:
                remember_installation(services.engine, team_id=key, enterprise_id=enterprise_id, is_org_install=is_org)
                known.add(installation)
            except SQLAlchemyError as exc:
                log.warning("could not record the Grid org of %s (will try again): %s", key, type(exc).__name__)
        return next()

    return read_recorded_grid_installations


class CachedInstallationAuthorize(InstallationStoreAuthorize):
    """Bolt's authorization of an OAuth app's requests, keeping each bot token's ``auth.test`` answer.

    Without a cache Bolt calls ``auth.test`` on every request (with Bolt's client, outside the bot's
    rate limiter): at 4 clicks a second that alone met 429s. The installation store is still read on
    every request and the cache is keyed by the token it returns, so a rotated token or a reinstall is
    a new key (one new ``auth.test``), an uninstalled app's deleted installation authorizes nothing
    before the cache is consulted, and the superseded token's answer is dropped.

    Only the bot token is looked up (one read of the store a request): the app asks for no user
    scopes, and Bolt's default would also look for the clicking person's own installation every time."""

    def __init__(self, **kwargs) -> None:  # noqa: ANN003 - InstallationStoreAuthorize's own arguments
        super().__init__(cache_enabled=True, bot_only=True, **kwargs)
        self._token_of: dict[tuple, str] = {}  # the request's (enterprise, team, org-wide) -> the token last authorized

    def authorize_every_installation(self, client) -> int:  # noqa: ANN001 - Bolt's WebClient
        """Authorize each stored installation once (one ``auth.test`` each), so that no one's first click
        after a start waits for it; returns how many were authorized."""
        bots = self.installation_store.bots  # type: ignore[attr-defined] - slack-sdk's SQLAlchemy store
        query = select(bots.c.enterprise_id, bots.c.team_id, bots.c.is_enterprise_install).where(
            bots.c.client_id == self.installation_store.client_id).distinct()  # type: ignore[attr-defined]
        with self.installation_store.engine.connect() as connection:  # type: ignore[attr-defined]
            installations = connection.execute(query).all()

        def authorize(enterprise_id: str | None, team_id: str | None, is_org: bool) -> bool:
            context = BoltContext(client=client, is_enterprise_install=bool(is_org))
            try:
                return self(context=context, enterprise_id=enterprise_id or None, team_id=None if is_org else team_id,
                            user_id=None) is not None
            except SlackClientError as exc:
                log.warning("could not authorize the installation of %s at start: %s", team_id or enterprise_id,
                            type(exc).__name__)
                return False

        # Each workspace's auth.test counts against its own budget: several at once, as Slack answers in 0.1-0.3 s.
        with ThreadPoolExecutor(max_workers=WARM_UP_THREADS, thread_name_prefix="authorize") as pool:
            return sum(pool.map(lambda row: authorize(*row), installations))

    def __call__(self, **kwargs) -> AuthorizeResult | None:  # noqa: ANN003
        result = super().__call__(**kwargs)
        if result is not None:
            # Keyed by what the request says, not by auth.test's answer: that is the installation the store was asked for.
            context = kwargs["context"]
            installation = (kwargs.get("enterprise_id"), kwargs.get("team_id"), bool(context.is_enterprise_install))
            current = result.bot_token or result.user_token
            previous = self._token_of.get(installation)
            if previous is not None and previous != current:
                self.authorize_result_cache.pop(previous, None)
            self._token_of[installation] = current
        return result


def build_app(services: Services, warm_ups: list[WarmUp] | None = None) -> App:
    """The Bolt app. With ``warm_ups``, adds to it what a long-running process should do once at start
    (``warm_up_in_background``)."""
    settings = services.settings
    warm_ups = warm_ups if warm_ups is not None else []
    common = dict(
        signing_secret=settings.slack_signing_secret or "",
        process_before_response=False,
        logger=logging.getLogger("bolt"),
        # Bolt acknowledges a command or click only once one of these threads starts its listener;
        # its default of 5 let listeners waiting on Slack (150 ms a call) delay acks past 3 seconds.
        listener_executor=ThreadPoolExecutor(max_workers=BOLT_LISTENER_THREADS, thread_name_prefix="bolt"),
        # In Socket Mode there is no signature to check; over HTTP it is always checked.
        request_verification_enabled=not settings.socket_mode,
    )
    if settings.oauth_enabled:
        state_store = SQLAlchemyOAuthStateStore(expiration_seconds=600, engine=services.engine)
        state_store.metadata.create_all(services.engine)
        client = make_client(None, settings.slack_api_url)
        authorizer = CachedInstallationAuthorize(
            logger=logging.getLogger("bolt"), installation_store=services.clients.installation_store,
            client_id=settings.slack_client_id, client_secret=settings.slack_client_secret, client=client,
        )

        def authorize_installations() -> int:
            return authorizer.authorize_every_installation(client)

        warm_ups.append(authorize_installations)
        app = App(
            client=client,
            authorize=authorizer,
            oauth_settings=OAuthSettings(
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret,
                scopes=list(BOT_SCOPES),
                installation_store=services.clients.installation_store,
                state_store=state_store,
                install_path="/slack/install",
                redirect_uri_path="/slack/oauth_redirect",
            ),
            **common,
        )
    else:
        app = App(client=services.clients.default, **common)  # the client carries the bot token

    @app.middleware
    def skip_event_retries(body, next):  # noqa: ANN001, A002
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if not event_id:
            return next()
        try:
            first = first_delivery(services.engine, event_id=event_id, team_id=body.get("team_id", ""))
        except SQLAlchemyError:
            # Unrecorded, so not handled: Slack sends an event again after a 5xx, and the retry
            # (once the database is back) is handled exactly once.
            log.warning("event %s arrived while the database is unreachable; asking Slack to retry it", event_id)
            return BoltResponse(status=EVENT_RETRY_STATUS, body="database unavailable; please retry")
        if not first:
            log.info("event %s already handled; ignoring Slack's retry", event_id)
            return BoltResponse(status=200, body="")
        return next()

    if settings.oauth_enabled:
        warm_ups.insert(0, _remember_grid_installations(app, services))

    @app.middleware
    def refuse_replays(request, body, next):  # noqa: ANN001, A002
        # Slack signs each command and click once, with a timestamp valid for 5 minutes; a request
        # whose signature was already seen is a replay (Slack does not retry these), with no effect.
        # Keyed by the trigger_id where there is one: a replay re-signed with a fresh timestamp (by
        # someone holding the signing secret) still carries the trigger of the click it copies.
        signature = (request.headers.get("x-slack-signature") or [""])[0]
        if not signature or (isinstance(body, dict) and body.get("type") == "event_callback"):
            return next()  # Socket Mode (no signatures) or an event (deduplicated by event_id)
        trigger = body.get("trigger_id") if isinstance(body, dict) else None
        key = f"sig:trigger:{trigger[-48:]}" if isinstance(trigger, str) and trigger else f"sig:{signature[-56:]}"
        try:
            first = first_delivery(services.engine, event_id=key, team_id=tenancy.program_key(body))
        except SQLAlchemyError:
            return next()  # the listener itself will say the database is unreachable
        if not first:
            log.warning("ignored a replayed Slack request (its signature was already used)")
            return BoltResponse(status=200, body="")
        return next()

    poster = ResponseUrlPoster()
    # Behind an outbound proxy (HTTPS_PROXY), Bolt's own respond, which goes through it.
    keep_connections = load_http_proxy_from_env() is None

    @app.middleware
    def respond_over_kept_connections(context, next):  # noqa: ANN001, A002
        if context.response_url and keep_connections:
            context["respond"] = PooledRespond(response_url=context.response_url, poster=poster)
        return next()

    @app.error
    def log_errors(error, body):  # noqa: ANN001
        kind = body.get("type") if isinstance(body, dict) else None
        log.error("unhandled error in a %s listener: %r", kind or "request", error, exc_info=error)

    router = CommandRouter(services)
    # First, so Bolt matches /compass before trying every button and view listener (it reads the
    # flows' subcommands when a command arrives, so they may register after it).
    router.register(app)
    for flow in FLOWS:
        flow.register(app, services, router)
    return app


def warm_up_in_background(warm_ups: list[WarmUp]) -> threading.Thread:
    """Run the app's warm-ups once, in a thread of their own; a failure leaves the work to the first request."""

    def run() -> None:
        for warm_up in warm_ups:
            started = time.perf_counter()
            try:
                done = warm_up()
                log.info("warm-up at start: %s, %d in %.2f s", warm_up.__name__, done, time.perf_counter() - started)
            except (SQLAlchemyError, SlackClientError):
                log.warning("a warm-up at start failed; the first request will do its work", exc_info=True)

    thread = threading.Thread(target=run, name="app-warmup", daemon=True)
    thread.start()
    return thread
