"""COMPASS groups in Slack: formation, the group's channel and lead, its meeting time and series,
and the end of a cycle (``bot.flows.sessions`` delivers the sessions themselves).
This package registers the parts as one flow; the names other modules use are importable from here.
"""

from __future__ import annotations

import re
from typing import Callable

from slack_bolt import App

from bot.domain import group_series as gs
from bot.flows.commands import CommandRouter
from bot.flows.groups.app_home import ADMIN_GROUPS_LISTED, admin_home_section, group_state, home_section, next_session_of
from bot.flows.groups.calendar_upload import (
    CALENDAR_KIND,
    CALENDAR_RETRY_AFTER,
    calendar_bytes,
    deliver_calendar,
    publish_calendar,
    queue_calendar,
    upload_calendar,
)
from bot.flows.groups.channel import (
    ACTION_PICK_SLOT,
    ACTION_VOLUNTEER,
    CHANNEL_NAME_ATTEMPTS,
    CHANNEL_NAME_MAX,
    READY_KIND,
    SETUP_KIND,
    channel_base_name,
    channel_names,
    create_channel,
    deliver_ready,
    deliver_setup,
    group_candidates,
    intro_message,
    invite_members,
    refresh_intro,
    volunteer,
)
from bot.flows.groups.cycle import (
    ACTION_STAY,
    ACTION_SWITCH,
    CYCLE_DECIDE_KIND,
    CYCLE_QUESTION_KIND,
    DECISION_WINDOW,
    CycleDecision,
    choose_next_cycle,
    decide_next_cycle,
    decision_deadline,
    deliver_cycle_decide,
    deliver_cycle_end,
    deliver_cycle_question,
    members_in_compass,
    next_cycle_buttons,
)
from bot.flows.groups.failure_notices import FAILURE_NOTICE_KIND, deliver_failure_notice, on_failure
from bot.flows.groups.formation import (
    FormationPlan,
    audience_of,
    default_cohort,
    form_and_apply,
    people_waiting,
    plan_formation,
)
from bot.flows.groups.formation_modal import (
    ACTION_FORM_OPEN,
    FORM_ACTION,
    PREVIEW_GROUPS_DETAILED,
    VIEW_BLOCKS,
    VIEW_FORM_APPROVE,
    VIEW_FORM_SETTINGS,
    message_view,
    open_form,
    preview_view,
    read_settings,
    settings_view,
    submit_approval,
    submit_settings,
)
from bot.flows.groups.meeting_time import apply_slot, pick_slot, schedule_command
from bot.flows.groups.messaging import (
    ephemeral,
    fan_out,
    guarded_click,
    message_blocks,
    message_location,
    parse_int,
    post_with_key,
    session_time,
)
from bot.flows.groups.permissions import controlled_group, is_lead_anywhere, may_control, refusal
from bot.flows.groups.series import (
    MIN_NOTICE,
    SeriesChange,
    announcement,
    change_series,
    holiday_calendar,
    holiday_moves,
    series_for,
    set_slot,
    slot_text,
    slots_of,
    sync_schedule,
)
from bot.runtime.services import Services


def register(app: App, services: Services, router: CommandRouter) -> None:
    router.set_lead_check(is_lead_anywhere(services))
    router.add("schedule", schedule_command, usage="schedule DAY HH:MM",
               help="set or change when your group meets (e.g. `Tue 18:30`)", audience="leads")

    def guarded(handler: Callable[..., None], what: str):  # noqa: ANN202
        return guarded_click(services, handler, what)

    app.action(ACTION_VOLUNTEER)(guarded(volunteer, "lead volunteer"))
    app.action(re.compile(rf"^{ACTION_PICK_SLOT}_\d+$"))(guarded(pick_slot, "slot choice"))
    app.action(ACTION_STAY)(guarded(lambda s, c, b, r: choose_next_cycle(s, c, b, "stay", r), "next cycle"))
    app.action(ACTION_SWITCH)(guarded(lambda s, c, b, r: choose_next_cycle(s, c, b, "switch", r), "next cycle"))
    app.action(ACTION_FORM_OPEN)(guarded(open_form, "form groups"))

    @app.view(VIEW_FORM_SETTINGS)
    def on_settings(ack, body, view, client):  # noqa: ANN001
        submit_settings(services, client, ack, body, view)

    @app.view(VIEW_FORM_APPROVE)
    def on_approve(ack, body, view, client):  # noqa: ANN001
        submit_approval(services, client, ack, body, view)


DELIVERIES = {
    SETUP_KIND: deliver_setup,
    READY_KIND: deliver_ready,
    CYCLE_QUESTION_KIND: deliver_cycle_question,
    gs.CYCLE_END_KIND: deliver_cycle_end,
    CYCLE_DECIDE_KIND: deliver_cycle_decide,
    CALENDAR_KIND: deliver_calendar,
    FAILURE_NOTICE_KIND: deliver_failure_notice,
}
ON_FAILURE = {kind: on_failure for kind in (SETUP_KIND, gs.CYCLE_END_KIND, CYCLE_DECIDE_KIND, CALENDAR_KIND)}
