"""How the synthetic people answer what the bot sends them.

A message with buttons lands in someone's DM or channel; :class:`Habits` decides
whether and when its recipients click, and what they answer in a survey. Decisions
come from each person's habits and one seeded random generator, and are remembered so
that a person's RSVP, attendance and survey answers agree with each other.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Callable
from zoneinfo import ZoneInfo

from bot.demo.people import Physician
from bot.domain.instruments import default_catalogue

OPEN_SURVEY = "open_survey"
RSVP = ("rsvp_going", "rsvp_not_going")
ATTENDANCE = ("attendance_yes", "attendance_no")
CHECKIN = {"met": "pair_checkin_met", "not_yet": "pair_checkin_not_yet", "end": "pair_checkin_end"}
NEXT_CYCLE = ("group_next_cycle_stay", "group_next_cycle_switch")
VOLUNTEER = "group_volunteer_lead"
PICK_SLOT = "group_pick_slot_"
FALLBACK_SLOT = "Thu 18:00"  # what a lead types when the bot found no time that suits everyone
ROUND_TO = timedelta(minutes=30)
HOUR = timedelta(hours=1)
# When people look at Slack, in their own time zone: before work, at lunch, in the evening. Answers to DMs
# wait for the next look, so many land at the same moments (and the demo sends them together).
LOOKS_AT_SLACK = (time(7, 30), time(12, 30), time(20, 30))


@dataclass(frozen=True)
class Message:
    """A message with buttons, as its recipients see it."""

    channel_id: str
    ts: str
    recipients: tuple[str, ...]
    buttons: dict[str, tuple[str, str]]  # action_id -> (value, label)
    is_channel: bool
    text: str = ""

    def reading_order(self) -> tuple:
        return self.recipients, sorted(self.buttons), self.text, sorted(self.buttons.values())


@dataclass(frozen=True, order=True)
class Plan:
    """Something a person will do at ``at``: click a button, answer a survey, or type a command."""

    at: datetime
    order: int
    user_id: str = field(compare=False)
    kind: str = field(compare=False)  # click | survey | command | join | decline | form_groups | pair
    action_id: str = field(compare=False, default="")
    value: str = field(compare=False, default="")
    label: str = field(compare=False, default="")
    channel_id: str = field(compare=False, default="")
    message_ts: str = field(compare=False, default="")
    text: str = field(compare=False, default="")


class Habits:
    def __init__(self, people: dict[str, Physician], rng: random.Random, start: datetime,
                 lead_of: Callable[[str], str]):
        self.people = people
        self.rng = rng
        self.start = start
        self.lead_of = lead_of  # a group channel -> its lead's user ID ("" if none yet)
        self._order = 0
        self._surveys_seen: set[tuple[str, str]] = set()
        self._surveys_planned: set[tuple[str, str]] = set()
        self._attends: dict[tuple[str, str], bool] = {}
        self._met: dict[str, bool] = {}
        self._ending: set[str] = set()
        self._endings_left = 1  # someone ends a pairing along the way, without blame

    # -- what happens to a message ------------------------------------------------------------

    def react(self, message: Message, now: datetime) -> list[Plan]:
        buttons = message.buttons
        if message.is_channel:
            return self._group_welcome(message, now) if VOLUNTEER in buttons or _slot_buttons(buttons) else []
        plans = []
        for user_id in message.recipients:
            person = self.people.get(user_id)
            if person is None:
                continue
            plan = self._answer(person, message, now)
            if plan is not None:
                plans.append(plan)
            if RSVP[0] in message.buttons and (OPEN_SURVEY in message.buttons or ATTENDANCE[1] in message.buttons):
                # the message after a session also asks about the next one
                rsvp = self._rsvp(person, message, now)
                if rsvp is not None:
                    plans.append(rsvp)
        return plans

    def _answer(self, person: Physician, message: Message, now: datetime) -> Plan | None:
        buttons = message.buttons
        if OPEN_SURVEY in buttons and ATTENDANCE[1] in buttons and not self._will_attend(person, buttons[ATTENDANCE[1]][0]):
            return self._attendance(person, message, now)  # the check-in after a session they missed
        if OPEN_SURVEY in buttons:
            return self._survey(person, message, now)
        if ATTENDANCE[1] in buttons:
            return self._attendance(person, message, now)
        if RSVP[0] in buttons:
            return self._rsvp(person, message, now)
        if CHECKIN["met"] in buttons:
            return self._checkin(person, message, now)
        if NEXT_CYCLE[0] in buttons:
            stay = self.rng.random() < 0.85
            return self._click(person, message, NEXT_CYCLE[0] if stay else NEXT_CYCLE[1], self._when(person, now, 1, 72))
        return None

    def _survey(self, person: Physician, message: Message, now: datetime) -> Plan | None:
        key = (person.user_id, message.buttons[OPEN_SURVEY][0])
        if key in self._surveys_planned:
            return None  # a reminder for a check-in they mean to answer anyway
        reminded = key in self._surveys_seen
        self._surveys_seen.add(key)
        if self.rng.random() >= (0.6 if reminded else person.engagement):
            return None
        self._surveys_planned.add(key)
        plan = self._click(person, message, OPEN_SURVEY, self._when(person, now, 0.5, 24 if reminded else 30))
        return replace(plan, kind="survey")

    def _rsvp(self, person: Physician, message: Message, now: datetime) -> Plan | None:
        session_id = message.buttons[RSVP[0]][0]
        attends = self._will_attend(person, session_id)
        if self.rng.random() >= person.engagement:
            return None  # no answer: the lead simply doesn't know
        return self._click(person, message, RSVP[0] if attends else RSVP[1], self._when(person, now, 0.5, 10))

    def _attendance(self, person: Physician, message: Message, now: datetime) -> Plan | None:
        session_id = message.buttons[ATTENDANCE[1]][0]
        attended = self._will_attend(person, session_id) and ATTENDANCE[0] in message.buttons
        if self.rng.random() >= 0.5 + person.engagement / 2:
            return None
        return self._click(person, message, ATTENDANCE[0] if attended else ATTENDANCE[1], self._when(person, now, 0.25, 10))

    def _will_attend(self, person: Physician, session_id: str) -> bool:
        key = (person.user_id, session_id)
        if key not in self._attends:
            self._attends[key] = self.rng.random() < 0.3 + 0.65 * person.engagement
        return self._attends[key]

    def _checkin(self, person: Physician, message: Message, now: datetime) -> Plan | None:
        pair_id, _, number = message.buttons[CHECKIN["met"]][0].partition(":")
        if pair_id in self._ending:
            return None
        if self._endings_left and number == "2" and self.rng.random() < 0.3:
            self._endings_left -= 1
            self._ending.add(pair_id)
            return self._click(person, message, CHECKIN["end"], self._when(person, now, 2, 24))
        if self.rng.random() >= person.engagement:
            return None
        key = f"{pair_id}:{number}"
        if key not in self._met:
            self._met[key] = self.rng.random() < min(0.9, 0.35 + 0.2 * int(number or 1))
        return self._click(person, message, CHECKIN["met" if self._met[key] else "not_yet"], self._when(person, now, 1, 48))

    def _group_welcome(self, message: Message, now: datetime) -> list[Plan]:
        """A new group's channel: someone volunteers to lead if nobody did, then the lead picks the time."""
        plans: list[Plan] = []
        lead = self.lead_of(message.channel_id)
        if not lead and VOLUNTEER in message.buttons:
            candidates = sorted((self.people[u] for u in message.recipients if u in self.people),
                                key=lambda p: p.engagement, reverse=True)
            if not candidates:
                return []
            lead = candidates[0].user_id
            plans.append(self._click(self.people[lead], message, VOLUNTEER, now + HOUR))
        if not lead:
            return plans
        slots = _slot_buttons(message.buttons)
        when = now + 2 * HOUR
        if slots:
            plans.append(self._click(self.people[lead], message, slots[0], when))
        else:
            plans.append(self.plan(when, lead, "command", channel_id=message.channel_id, text=f"schedule {FALLBACK_SLOT}"))
        return plans

    # -- survey answers -------------------------------------------------------------------------

    def survey_answers(self, person: Physician, now: datetime) -> dict[str, str]:
        """An option value for every item of every instrument (block ``<instrument>__<n>``), from the
        person's wellbeing now; a survey modal asks some of them."""
        weeks = (now - self.start) / timedelta(weeks=1)
        wellbeing = person.wellbeing_at(weeks)
        answers = {}
        for instrument in default_catalogue().instruments.values():
            values = sorted(option.value for option in instrument.options)
            # How far up the scale: for lower-is-better measures (burnout, PHQ-2) the distress, which rises
            # steeply only at low wellbeing, so few people cross a crisis cut-off.
            position = wellbeing if instrument.higher_is_better else (1 - wellbeing) ** 2
            for index in range(len(instrument.items)):
                target = values[0] + position * (values[-1] - values[0]) + self.rng.gauss(0, 0.45)
                answers[f"{instrument.id}__{index}"] = str(min(values, key=lambda v: abs(v - target)))
        return answers

    # -- plans ----------------------------------------------------------------------------------

    def _delay(self, low_hours: float, high_hours: float) -> timedelta:
        return timedelta(hours=self.rng.uniform(low_hours, high_hours))

    def _when(self, person: Physician, now: datetime, low_hours: float, high_hours: float) -> datetime:
        """The first time this person looks at Slack once a random delay has passed."""
        zone = ZoneInfo(person.timezone)
        earliest = (now + self._delay(low_hours, high_hours)).astimezone(zone)
        day = earliest.date()
        while True:
            for moment in LOOKS_AT_SLACK:
                candidate = datetime.combine(day, moment, zone)
                if candidate >= earliest:
                    return candidate.astimezone(now.tzinfo)
            day += timedelta(days=1)

    def _click(self, person: Physician, message: Message, action_id: str, at: datetime) -> Plan:
        value, label = message.buttons[action_id]
        return self.plan(at, person.user_id, "click", action_id=action_id, value=value, label=label,
                          channel_id=message.channel_id, message_ts=message.ts)

    def plan(self, at: datetime, user_id: str, kind: str, **details: str) -> Plan:
        self._order += 1
        return Plan(at=round_up(at), order=self._order, user_id=user_id, kind=kind, **details)


def round_up(moment: datetime) -> datetime:
    step = ROUND_TO.total_seconds()
    seconds = moment.timestamp()
    return datetime.fromtimestamp(-(-seconds // step) * step, tz=moment.tzinfo)


def _slot_buttons(buttons: dict[str, tuple[str, str]]) -> list[str]:
    return sorted(b for b in buttons if b.startswith(PICK_SLOT))

