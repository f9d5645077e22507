"""`compass-bot serve` (the bot) and `compass-bot clock` (the heartbeat alone)."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys

from typing import TYPE_CHECKING

from bot.runtime.settings import ConfigError

if TYPE_CHECKING:
    from bot.runtime.services import Services

log = logging.getLogger(__name__)
_HELD_LOCKS: list = []


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the bot",
        description=(
            "Run the bot. With SLACK_APP_TOKEN set it connects over Socket Mode (no public URL needed); "
            "otherwise it serves HTTP on $PORT (default 3000): POST /slack/events and GET /healthz. "
            "The scheduler heartbeat runs in the same process unless --no-clock."
        ),
    )
    serve.add_argument("--no-clock", action="store_true", help="do not run the heartbeat here (run `compass-bot clock` separately)")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on in HTTP mode (default 0.0.0.0)")
    serve.set_defaults(handler=run_serve)

    clock = subparsers.add_parser(
        "clock",
        help="run the scheduler heartbeat alone",
        description="Run the scheduler heartbeat alone: every minute, deliver due session posts, reminders, surveys and follow-ups.",
    )
    clock.set_defaults(handler=run_clock)


def _start_clock(services: "Services", *, blocking: bool):  # noqa: ANN202
    from bot.runtime.clock import Clock, ClockAlreadyRunning, SingleClockLock, sqlite_lock_path, start_heartbeat

    lock_path = sqlite_lock_path(services.settings.database_url)
    if lock_path is not None:
        lock = SingleClockLock(lock_path)
        try:
            lock.acquire()
        except ClockAlreadyRunning as exc:
            raise ConfigError(str(exc)) from None
        _HELD_LOCKS.append(lock)  # held for the life of the process
    return start_heartbeat(Clock(services), blocking=blocking)


def _build_bolt_app(services: "Services", warm_ups: list | None = None):  # noqa: ANN202
    from bot.runtime.app import build_app

    try:
        return build_app(services, warm_ups)
    except Exception as exc:  # noqa: BLE001 - e.g. Slack unreachable or the token refused at start
        raise ConfigError(
            f"SLACK_BOT_TOKEN: could not start the Slack app against {services.settings.slack_api_url}: {exc}"
        ) from None


def _open_long_running_services() -> "Services":
    """Services for a process that runs for days: the database prepared in a child process first,
    and few malloc arenas (see bot.runtime.process)."""
    from bot.runtime.settings import load_settings
    from bot.runtime.process import limit_malloc_arenas, open_services, prepare_database_in_child

    limit_malloc_arenas()
    settings = load_settings()
    settings.require_slack()
    prepare_database_in_child(settings)
    return open_services(require_slack=True, settings=settings, database_ready=True)


def run_serve(args: argparse.Namespace) -> int:
    services = _open_long_running_services()  # first: the child that prepares the database starts small
    from bot.runtime.app import warm_up_in_background
    from bot.runtime.report_warmup import warm_reports_in_background

    warm_ups: list = []  # each installation authorized and its Grid org read before the first click needs them
    bolt_app = _build_bolt_app(services, warm_ups)
    settings = services.settings
    if not settings.socket_mode:
        import uvicorn

        from bot.slack.web import create_web_app

        web_app = create_web_app(bolt_app, services)
    _freeze_startup_objects()  # before any thread starts building things that will not last
    warm_up_in_background(warm_ups)
    warm_reports_in_background(services)
    if not args.no_clock:
        _start_clock(services, blocking=False)
    if settings.socket_mode:
        from bot.slack.socket_mode import serve_socket_mode

        serve_socket_mode(bolt_app, settings.slack_app_token)
        return 0

    log.info("serving HTTP on %s:%d (POST /slack/events, GET /healthz)", args.host, settings.port)
    # uvloop and httptools (installed with the bot) take half the CPU of asyncio and h11 per request.
    uvicorn.run(web_app, host=args.host, port=settings.port, log_level="info", access_log=False)
    return 0


def _freeze_startup_objects() -> None:
    """Move everything built at start (modules, the app, caches) out of the garbage collector's
    reach: a full collection would otherwise walk them all again and again, a pause of tens of
    milliseconds that every request in flight waits out."""
    gc.collect()
    gc.freeze()


def run_clock(args: argparse.Namespace) -> int:
    services = _open_long_running_services()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from bot.runtime.clock import give_way_to_interactive_work

    niceness = give_way_to_interactive_work(services.settings.compass_clock_nice)
    log.info("clock running: a heartbeat every minute, at CPU priority nice %d (COMPASS_CLOCK_NICE)", niceness)
    _start_clock(services, blocking=True)
    return 0
