"""The weeks of the demo: people's actions and the bot's clock, in simulated time.

Simulated time is frozen (freezegun) and moved straight to the next moment anything
happens: a row of the bot's schedule falling due, or a person's planned action. At each
moment the real :class:`bot.runtime.clock.Clock` delivers what is due, then people act through
signed requests to the bot, several at once as they would in a real workspace, and the
simulation waits until the bot has finished before it looks at what Slack (the stand-in)
received: new lines for the transcript, and new messages with buttons that people will
react to. Every random choice is made here, in one thread, in a fixed order, so a seed
always gives the same run whatever order the bot's threads finish in.
"""

from __future__ import annotations

import heapq
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import func
from sqlmodel import Session, select

from bot.runtime.clock import Clock
from bot.demo.behaviour import Habits, Message, Plan
from bot.demo.driver import Sent, SlackDriver
from bot.demo.forms import fill, input_blocks, join_form_answers
from bot.demo.harness import ReplySink, RunningBot
from bot.demo.inbox import Inbox
from bot.demo.people import Physician
from bot.demo.transcript import Transcript
from bot.standin import SlackStandIn
from storage import schedule
from storage.models import Group, ScheduledAction

FORMATION_AFTER = timedelta(days=3, hours=2)  # the admin forms groups once most people have joined
PAIRING_AFTER = timedelta(days=3, hours=3)
JOIN_WINDOW_HOURS = 60
PEOPLE_AT_ONCE = 8  # requests in flight together when several people act at the same moment
ONE_AT_A_TIME = {"command", "form_groups", "pair"}  # an admin's or a lead's steps depend on what came before


def next_due(engine) -> datetime | None:  # noqa: ANN001
    """When the bot's schedule next has something to deliver."""
    due = func.coalesce(ScheduledAction.retry_at, ScheduledAction.due_at)
    with Session(engine) as session:
        return session.exec(select(func.min(due)).where(ScheduledAction.status == schedule.PENDING)).one()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Done:
    """What came of a plan, for the transcript: what the person did, and where the bot may answer them."""

    plan: Plan
    did: str
    reply_url: str = ""


@dataclass
class Simulation:
    standin: SlackStandIn
    bot: RunningBot
    driver: SlackDriver
    replies: ReplySink
    transcript: Transcript
    habits: Habits
    people: dict[str, Physician]
    admin_id: str
    move_to: Callable[[datetime], None]
    on_progress: Callable[[datetime], None] = lambda now: None

    def __post_init__(self) -> None:
        self._agenda: list[Plan] = []
        self._inbox = Inbox(self.standin, self.replies)
        self._reply_owner: dict[str, str] = {}
        self._clock = Clock(self.bot.services)
        self._pool = ThreadPoolExecutor(max_workers=PEOPLE_AT_ONCE, thread_name_prefix="demo-person")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # -- the program ------------------------------------------------------------------------

    def open_program(self, start: datetime) -> None:
        """People hear about Compass and join over the first days; then the admin forms groups and pairs."""
        for person in self.people.values():
            at = start + timedelta(hours=self.habits.rng.uniform(0, JOIN_WINDOW_HOURS))
            self._plan(at, person.user_id, "join" if person.joins else "decline")
        self._plan(start + FORMATION_AFTER, self.admin_id, "form_groups")
        self._plan(start + PAIRING_AFTER, self.admin_id, "pair")

    def run_until(self, end: datetime) -> None:
        engine = self.bot.services.engine
        while True:
            due = next_due(engine)
            moment = min((m for m in (due, self._agenda[0].at if self._agenda else None) if m is not None), default=None)
            if moment is None or moment > end:
                break
            self.move_to(max(moment, utcnow()))
            self.transcript.moment(utcnow())
            if due is not None and due <= utcnow():
                self._deliver_due()
            plans = []
            while self._agenda and self._agenda[0].at <= utcnow():
                plans.append(heapq.heappop(self._agenda))
            if plans:
                self._perform(plans)
            self.on_progress(utcnow())
        self.move_to(max(end, utcnow()))

    def close_program(self) -> None:
        """The admin asks for the program report in Slack, as they would at the end of a cycle."""
        self.transcript.moment(utcnow())
        self._perform([self.habits.plan(utcnow(), self.admin_id, "command", text="report")])
        self.transcript.finish()

    # -- time ------------------------------------------------------------------------------

    def _deliver_due(self) -> None:
        report = self._clock.tick()
        self._settle()
        if report.total() == 0:
            still_due = next_due(self.bot.services.engine)
            if still_due is not None and still_due <= utcnow():
                raise RuntimeError(f"the clock delivered nothing although something was due at {still_due.isoformat()}")

    def _plan(self, at: datetime, user_id: str, kind: str, **details: str) -> None:
        heapq.heappush(self._agenda, self.habits.plan(at, user_id, kind, **details))

    # -- what people do --------------------------------------------------------------------

    def _perform(self, plans: list[Plan]) -> None:
        """People who act at the same moment act together; admins and leads one step at a time, after."""
        together = [p for p in plans if p.kind not in ONE_AT_A_TIME]
        answers = {p.order: self.habits.survey_answers(self.people[p.user_id], utcnow()) for p in together if p.kind == "survey"}
        for done in self._pool.map(lambda plan: self._act(plan, answers.get(plan.order, {})), together):
            self._record(done)
        self._settle()
        for plan in plans:
            if plan.kind in ONE_AT_A_TIME:
                self._record(self._act(plan, {}))
                self._settle()

    def _act(self, plan: Plan, survey_answers: dict[str, str]) -> Done:
        if plan.kind == "click":
            sent = self.driver.click(plan.user_id, plan.action_id, plan.value, channel_id=plan.channel_id,
                                     message_ts=plan.message_ts)
            # Answers to buttons in a DM (RSVPs, check-ins) only confirm the click; a group channel's are news.
            reply_url = sent.response_url if self._inbox.is_group_channel(plan.channel_id) else ""
            return Done(plan, describe_click(plan), reply_url)
        if plan.kind == "survey":
            return self._answer_survey(plan, survey_answers)
        if plan.kind == "command":
            sent = self.driver.command(plan.user_id, plan.text, channel_id=plan.channel_id)
            return Done(plan, f"/compass {plan.text}", sent.response_url)
        if plan.kind == "join":
            return self._join(plan)
        if plan.kind == "decline":
            _, view_id = self._open_join_form(plan.user_id)
            self.standin.close_view(view_id)
            return Done(plan, "/compass join → closes the form without joining")
        if plan.kind == "form_groups":
            return self._form_groups(plan)
        if plan.kind == "pair":
            return self._pair(plan)
        raise ValueError(f"unknown plan {plan.kind!r}")

    def _record(self, done: Done) -> None:
        self.transcript.did(done.plan.user_id, done.did)
        if done.reply_url:
            self._reply_owner[done.reply_url] = done.plan.user_id

    def _answer_survey(self, plan: Plan, answers: dict[str, str]) -> Done:
        opened = self._opened_view(self.driver.click(plan.user_id, plan.action_id, plan.value, channel_id=plan.channel_id,
                                                     message_ts=plan.message_ts))
        if opened is None:  # it closed meanwhile; the bot says so
            return Done(plan, "check-in: opened too late, it has closed")
        view, view_id = opened
        asked = {block_id: answers[block_id] for block_id in input_blocks(view)}
        self.driver.submit(plan.user_id, view, fill(view, asked), view_id=view_id)
        return Done(plan, "check-in: answered (only they see their answers)")

    def _join(self, plan: Plan) -> Done:
        person = self.people[plan.user_id]
        view, view_id = self._open_join_form(person.user_id)
        answer = self.driver.submit(person.user_id, view, fill(view, join_form_answers(person)), view_id=view_id).answer
        if answer.get("response_action") == "errors":
            raise RuntimeError(f"the join form refused {person.name}'s answers: {answer.get('errors')}")
        return Done(plan, f"/compass join → joins: {person.profile_text()}")

    def _open_join_form(self, user_id: str) -> tuple[dict, str]:
        opened = self._opened_view(self.driver.command(user_id, "join"))
        if opened is None:
            raise RuntimeError(f"/compass join opened no form for {user_id}")
        return opened

    def _form_groups(self, plan: Plan) -> Done:
        """The admin's path in Slack: App Home, Form groups, the settings modal, the preview, Create groups."""
        admin = plan.user_id
        self.driver.open_home(admin)
        self.bot.tracker.wait_idle()
        opened = self._opened_view(self.driver.click(admin, "groups_form_open", "form"))
        if opened is None:
            raise RuntimeError("the admin's Form groups button opened no modal")
        settings, view_id = opened
        # The bot acknowledges with a "working" view and shows the preview (then the outcome) with views.update.
        self.driver.submit(admin, settings, fill(settings, {}), view_id=view_id)
        self.bot.tracker.wait_idle()
        preview = self._inbox.current_view(view_id)
        if not preview.get("submit"):
            return Done(plan, "App Home → Form groups → Preview: nobody to place in a group yet")
        self.driver.submit(admin, preview, {}, view_id=view_id)
        self.bot.tracker.wait_idle()
        done = self._inbox.current_view(view_id)
        outcome = " ".join(b.get("text", {}).get("text", "") for b in done.get("blocks") or [] if b.get("type") == "section")
        return Done(plan, "App Home → Form groups (mixed specialties, 6–8 a group) → Preview → Create groups: "
                    + self.transcript.plain(outcome))

    def _pair(self, plan: Plan) -> Done:
        """The admin matches a near-peer round and publishes it, by command."""
        for step in ("pair preview", "pair publish"):
            sent = self.driver.command(plan.user_id, step)
            self._reply_owner[sent.response_url] = plan.user_id
            self.bot.tracker.wait_idle()
        return Done(plan, "/compass pair preview, then /compass pair publish")

    # -- looking at Slack ------------------------------------------------------------------

    def _opened_view(self, sent: Sent) -> tuple[dict, str] | None:
        """The modal the bot opened in answer to this request, and its view ID."""
        self.bot.tracker.wait_idle()
        return self._inbox.opened_view(sent.trigger_id)

    def _settle(self) -> None:
        """Wait for the bot to finish, then read what Slack received since the last look."""
        self.bot.tracker.wait_idle()
        new = self._inbox.new_calls()
        self.transcript.bot_calls(new, self._inbox.conversation)
        replies = self._inbox.new_replies()
        self.transcript.replies((self._reply_owner[r.url], r.body) for r in replies if r.url in self._reply_owner)
        messages = [m for m in (self._inbox.message(call) for call in new) if m is not None]
        # The bot delivers in parallel; people read their messages in a fixed order so choices stay reproducible.
        for message in sorted(messages, key=Message.reading_order):
            for plan in self.habits.react(message, utcnow()):
                heapq.heappush(self._agenda, plan)


def group_lead(engine) -> Callable[[str], str]:  # noqa: ANN001
    """Who leads the group that owns a channel, as its members read it in the welcome post."""

    def lead_of(channel_id: str) -> str:
        with Session(engine) as session:
            group = session.exec(select(Group).where(Group.channel_id == channel_id)).first()
        return group.lead_user_id if group is not None else ""

    return lead_of


# -- wording and answers ----------------------------------------------------------------------

CLICKS = {
    "rsvp_going": "RSVP: going",
    "rsvp_not_going": "RSVP: can't make it",
    "attendance_yes": "attendance: I was there",
    "attendance_no": "attendance: I couldn't make it",
    "pair_checkin_met": "pairing check-in: yes, we met",
    "pair_checkin_not_yet": "pairing check-in: not yet",
    "pair_checkin_end": "pairing: end it (no blame, no reason asked)",
    "group_volunteer_lead": "group lead: I'll do it",
    "group_next_cycle_stay": "next cycle: stay with this group",
    "group_next_cycle_switch": "next cycle: switch to a new group",
}


def describe_click(plan: Plan) -> str:
    if plan.action_id.startswith("group_pick_slot"):
        return f"meeting time: {plan.label}"
    return CLICKS.get(plan.action_id, f"clicks “{plan.label}”")
