"""The ``/compass`` command: one entry point, subcommands contributed by each flow."""

from __future__ import annotations

import logging
import re
import shlex
from dataclasses import dataclass, field
from typing import Callable

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError

from bot.slack.render import render
from bot.runtime.services import Services
from bot.slack.client import call
from bot.slack.tenancy import program_key

log = logging.getLogger(__name__)

AUDIENCES = ("everyone", "leads", "admins")
SECTION_TITLES = {"everyone": "For you", "leads": "For group leads", "admins": "For admins"}


@dataclass
class CommandContext:
    services: Services
    client: WebClient
    respond: Callable[..., object]
    team_id: str
    user_id: str
    channel_id: str
    trigger_id: str
    args: list[str] = field(default_factory=list)

    def reply(self, text: str, **kwargs: object) -> None:
        """An ephemeral answer to the person who typed the command."""
        self.respond(text=text, response_type="ephemeral", replace_original=False, **kwargs)

    @property
    def is_admin(self) -> bool:
        return self.services.is_admin(self.team_id, self.user_id)


Handler = Callable[[CommandContext], None]


@dataclass(frozen=True)
class Subcommand:
    name: str
    handler: Handler
    usage: str
    help: str
    audience: str = "everyone"


class CommandRouter:
    def __init__(self, services: Services):
        self.services = services
        self._subcommands: dict[str, Subcommand] = {}
        self._lead_check: Callable[[str, str], bool] = lambda team_id, user_id: False

    def add(self, name: str, handler: Handler, *, usage: str | None = None, help: str, audience: str = "everyone") -> None:
        if audience not in AUDIENCES:
            raise ValueError(f"unknown audience {audience}")
        self._subcommands[name] = Subcommand(name, handler, usage or name, help, audience)

    def set_lead_check(self, check: Callable[[str, str], bool]) -> None:
        self._lead_check = check

    def help_text(self, team_id: str, user_id: str) -> str:
        visible = {"everyone"}
        if self._lead_check(team_id, user_id):
            visible.add("leads")
        if self.services.is_admin(team_id, user_id):
            visible.update({"leads", "admins"})
        sections = []
        for audience in AUDIENCES:
            items = [
                {"usage": sub.usage, "help": sub.help}
                for sub in self._subcommands.values()
                if sub.audience == audience and audience in visible
            ]
            if items:
                sections.append({"title": SECTION_TITLES[audience], "items": items})
        return render("help.j2", sections=sections)

    def register(self, app: App) -> None:
        app.command("/compass")(self._handle)
        # Slack sends view_closed for modals opened with notify_on_close; closing needs no work.
        app.view_closed(re.compile(".*"))(lambda ack: ack())

    def _handle(self, ack, command, client, respond) -> None:  # noqa: ANN001
        team_id = program_key(command)
        user_id = command.get("user_id", "")
        try:
            words = shlex.split(command.get("text") or "")
        except ValueError:
            words = (command.get("text") or "").split()
        name = words[0].lower() if words else "help"
        subcommand = self._subcommands.get(name)
        if subcommand is None:
            if name != "help":
                # Never the word itself: people type sentences after /compass ("my PHQ is 6, please help").
                log.info("unknown /compass subcommand from %s", user_id)
            self._answer_help_in_ack(ack, team_id, user_id)
            return
        ack()
        context = CommandContext(
            services=self.services,
            client=client,
            respond=respond,
            team_id=team_id,
            user_id=user_id,
            channel_id=command.get("channel_id", ""),
            trigger_id=command.get("trigger_id", ""),
            args=words[1:],
        )
        # Guarded: a listener that raises after ack() makes Bolt (1.30) wait out its 3-second ack
        # timeout and answer 404.
        run_guarded(lambda: subcommand.handler(context), reply=context.reply, what=f"/compass {name}")

    def _answer_help_in_ack(self, ack, team_id: str, user_id: str) -> None:  # noqa: ANN001
        """Help is two indexed lookups and a template: it goes in the acknowledgement itself, as
        Slack suggests for quick answers (one round trip, no response_url call), and so does a
        failure to build it."""

        def help_in_ack() -> None:
            ack(text=self.help_text(team_id, user_id), response_type="ephemeral")

        run_guarded(help_in_ack, reply=lambda message: ack(text=message, response_type="ephemeral"), what="/compass help")


def who(body: dict) -> tuple[str, str]:
    """(program key, user id) of an interaction: the team ID, or the org's ID for an org-wide install."""
    user = body.get("user") or {}
    return program_key(body), user.get("id", "")


def action_value(body: dict) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value") or "")


ID_MAX = 2**31 - 1  # the largest INTEGER on PostgreSQL (SQLite's limit is 2**63 - 1)


def bounded_int(value: object) -> int | None:
    """An integer from a Slack payload, or None when it is none or could not be a database id
    (a larger one makes the database driver raise instead of finding nothing)."""
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if -ID_MAX - 1 <= number <= ID_MAX else None


def answer_privately(respond, client: WebClient, body: dict) -> Callable[..., None]:  # noqa: ANN001
    """``respond`` for a click on a message (it has a response_url); a DM for a click without one
    (App Home, a modal, or a stale button), where ``respond`` could only raise."""
    if body.get("response_url"):
        return respond
    user_id = (body.get("user") or {}).get("id", "")

    def dm(text: str = "", blocks: list | None = None, **_: object) -> None:
        call(client, "chat.postMessage", channel=user_id, text=text, blocks=blocks)

    return dm


def run_guarded(action: Callable[[], None], *, reply: Callable[[str], None], what: str) -> None:
    """Run a handler; a failure becomes a kind message to the person and a log line."""
    try:
        action()
    except SQLAlchemyError:
        log.exception("%s: database error", what)
        _safe_reply(reply, render("errors.j2", kind="database"))
    except Exception:  # noqa: BLE001 - a person must always get an answer
        log.exception("%s failed", what)
        _safe_reply(reply, render("errors.j2", kind="unexpected"))


def _safe_reply(reply: Callable[[str], None], text: str) -> None:
    try:
        reply(text)
    except Exception:  # noqa: BLE001
        log.exception("could not tell the person about the failure")
