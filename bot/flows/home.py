"""The App Home tab: the person's status and what comes next, plus an admin section."""

from __future__ import annotations

import logging
import queue
import threading

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.models.blocks import ActionsBlock, ButtonElement
from sqlmodel import Session

from bot.slack.render import check_blocks, context_block, divider, render, section_blocks
from bot.runtime.services import Services
from bot.slack.tenancy import program_key
from bot.slack.client import call
from storage import groups as groups_store
from storage.members import get_member, joined_count, participation, status_counts, uninvited_pending
from storage.models import Member

log = logging.getLogger(__name__)


# Home tabs published at once: views.publish allows 100 a minute, so a burst of opens waits on
# the rate limiter here, on these threads, instead of on Bolt's listener threads (which must stay
# free to acknowledge commands and clicks within Slack's 3 seconds).
HOME_PUBLISHERS = 2


class HomePublisher:
    """Publishes Home tabs in the background, once per person however often they open it meanwhile."""

    def __init__(self, services: Services, *, threads: int = HOME_PUBLISHERS):
        self.services = services
        self._queue: queue.Queue[tuple[str, str]] = queue.Queue()
        self._waiting: dict[tuple[str, str], WebClient] = {}
        self._lock = threading.Lock()
        self._threads = threads
        self._started = False

    def request(self, client: WebClient, *, team_id: str, user_id: str) -> None:
        with self._lock:
            if not self._started:
                for n in range(self._threads):
                    threading.Thread(target=self._run, name=f"home-publisher-{n}", daemon=True).start()
                self._started = True
            already = (team_id, user_id) in self._waiting
            self._waiting[(team_id, user_id)] = client
        if not already:
            self._queue.put((team_id, user_id))

    def _run(self) -> None:
        while True:
            team_id, user_id = self._queue.get()
            with self._lock:
                client = self._waiting.pop((team_id, user_id))
            try:
                publish_home(self.services, client, team_id=team_id, user_id=user_id)
            except Exception:  # noqa: BLE001 - the next person's Home tab must still go out
                log.exception("could not publish the Home tab for %s", user_id)


def register(app: App, services: Services, router) -> None:  # noqa: ANN001
    publisher = HomePublisher(services)

    @app.event("app_home_opened")
    def on_home_opened(body, event, client):  # noqa: ANN001
        if event.get("tab", "home") != "home":
            return
        publisher.request(client, team_id=program_key(body), user_id=event.get("user", ""))


def publish_home(services: Services, client: WebClient, *, team_id: str, user_id: str) -> bool:
    try:
        with Session(services.engine) as session:
            member = get_member(session, team_id=team_id, user_id=user_id)
            blocks = home_blocks(services, session, member=member, team_id=team_id, user_id=user_id)
    except Exception:  # noqa: BLE001 - a missing Home tab must not break the action that triggered it
        log.exception("could not build the Home tab for %s", user_id)
        return False
    return call(client, "views.publish", user_id=user_id, view={"type": "home", "blocks": blocks}).ok


def _button(text: str, action_id: str, *, style: str | None = None, value: str = "") -> ButtonElement:
    return ButtonElement(text=text, action_id=action_id, style=style, value=value or action_id)


def home_blocks(services: Services, session: Session, *, member: Member | None, team_id: str, user_id: str) -> list[dict]:
    status = member.status if member else "none"
    until = member.paused_until.isoformat() if member and member.paused_until else None
    # What comes next for this person as things stand: not "when your group forms" once it has.
    in_group = member is not None and groups_store.group_of_member(session, team_id=team_id, user_id=user_id) is not None
    blocks: list = section_blocks(render("home.j2", status=status, until=until, in_group=in_group))
    if status in ("none", "invited", "left"):
        blocks.append(ActionsBlock(block_id="home_join", elements=[_button("Join Compass", "join_open", style="primary")]))
    elif status == "active":
        blocks.append(
            ActionsBlock(block_id="home_member", elements=[_button("Edit my profile", "join_open"), _button("Pause", "pause_open")])
        )
    elif status == "paused":
        blocks.append(ActionsBlock(block_id="home_paused", elements=[_button("Resume", "resume_now", style="primary")]))
    from bot.flows import FLOWS  # the flows import this module

    if member is not None and status != "left":
        for flow in FLOWS:
            section = getattr(flow, "home_section", None)
            if section is not None:
                blocks.extend(section(services, session, member=member))
    if member is not None and status in ("active", "paused"):
        resources = services.settings.crisis_for(member.country)
        blocks.append(divider())
        blocks.extend(section_blocks(render("crisis_home.j2", crisis_resources=resources.lines(),
                                            emergency_number=resources.emergency_number,
                                            country_name=resources.name if resources.code else "")))
    blocks.append(context_block("Confidential, not anonymous: only you see your answers. `/compass my-data` shows everything we hold."))
    if services.is_admin(team_id, user_id):
        blocks.append(divider())
        blocks.extend(admin_blocks(session, team_id=team_id))
        for flow in FLOWS:
            section = getattr(flow, "admin_home_section", None)
            if section is not None:
                blocks.extend(section(services, session, team_id=team_id, user_id=user_id))
    return check_blocks(blocks, surface="home")


def admin_blocks(session: Session, *, team_id: str) -> list:
    counts = status_counts(session, team_id=team_id)
    consented, invited = participation(session, team_id=team_id)
    # Joined counts everyone who joined, with /compass join or from a roster invitation, so it agrees with
    # Active + Paused + Left; the share is of those the roster invited.
    share = f"{consented} of {invited} invited, {consented / invited:.0%}" if invited else "no roster imported"
    summary = {
        "invited_total": invited,
        "consented": joined_count(session, team_id=team_id),
        "active": counts["active"],
        "paused": counts["paused"],
        "left": counts["left"],
    }
    text = render(
        "home_admin.j2",
        counts=summary,
        participation=share,
        pending_invitations=len(uninvited_pending(session, team_id=team_id)),
    )
    return section_blocks(text)
