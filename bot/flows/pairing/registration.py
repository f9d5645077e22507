"""What the pairing flow registers: its Slack listeners and ``/compass pair``, and the deliveries the clock runs."""

from __future__ import annotations

import re
from typing import Callable

from slack_bolt import App
from slack_sdk import WebClient

from bot.flows.commands import CommandRouter, answer_privately, run_guarded
from bot.flows.pairing.admin_home import (
    ACTION_DISCARD,
    ACTION_PREVIEW,
    ACTION_PUBLISH,
    ACTION_REMOVE,
    ACTION_SWAP,
    VIEW_SWAP,
    on_discard,
    on_preview,
    on_publish,
    on_remove,
    on_swap_open,
    submit_swap,
)
from bot.flows.pairing.button_clicks import Reply, notify
from bot.flows.pairing.checkins import ACTION_CHECKIN, answer_checkin, deliver_checkin, deliver_reminder
from bot.flows.pairing.introductions import deliver_intro, deliver_unmatched, on_intro_failed
from bot.flows.pairing.member_home import ACTION_RESUME, on_resume_button
from bot.flows.pairing.pausing_and_ending import ACTION_END, deliver_note, end_from_button
from bot.flows.pairing.scheduling import CHECKIN_KIND, INTRO_KIND, NOTE_KIND, REMINDER_KIND, UNMATCHED_KIND
from bot.flows.pairing.slash_command import pair_command
from bot.flows.pairing.suggest_times import ACTION_POST, ACTION_SUGGEST, on_post, on_suggest
from bot.runtime.services import Services

DELIVERIES = {
    INTRO_KIND: deliver_intro,
    CHECKIN_KIND: deliver_checkin,
    REMINDER_KIND: deliver_reminder,
    NOTE_KIND: deliver_note,
    UNMATCHED_KIND: deliver_unmatched,
}
ON_FAILURE = {INTRO_KIND: on_intro_failed}


def register(app: App, services: Services, router: CommandRouter) -> None:
    router.add("pair", pair_command, usage="pair [status|end|resume]",
               help="your near-peer mentoring: where it stands, end it without blame, or resume check-ins")

    def from_home(handler: Callable[[Services, WebClient, dict, Reply], None], what: str):  # noqa: ANN202
        def listener(ack, body, client):  # noqa: ANN001
            ack()
            reply = notify(client, body)
            run_guarded(lambda: handler(services, client, body, reply), reply=reply, what=what)

        return listener

    def from_message(handler: Callable[..., None], what: str):  # noqa: ANN202
        def listener(ack, body, client, respond):  # noqa: ANN001
            ack()
            respond = answer_privately(respond, client, body)

            def reply(text: str) -> None:
                respond(text=text, response_type="ephemeral", replace_original=False)

            run_guarded(lambda: handler(services, client, body, respond), reply=reply, what=what)

        return listener

    app.action(ACTION_PREVIEW)(from_home(on_preview, "pairing preview"))
    app.action(ACTION_PUBLISH)(from_home(on_publish, "pairing publish"))
    app.action(ACTION_DISCARD)(from_home(on_discard, "pairing discard"))
    app.action(ACTION_REMOVE)(from_home(on_remove, "pairing remove"))
    app.action(ACTION_SWAP)(from_home(on_swap_open, "pairing swap"))
    app.action(ACTION_RESUME)(from_home(on_resume_button, "pairing resume"))
    for answer, action_id in ACTION_CHECKIN.items():
        app.action(action_id)(from_message(
            lambda s, c, b, r, answer=answer: answer_checkin(s, c, b, answer, r), f"check-in {answer}"))
    app.action(re.compile(rf"^{ACTION_END}_\d+$"))(from_message(end_from_button, "end pairing"))
    app.action(ACTION_SUGGEST)(from_message(on_suggest, "suggest times"))
    app.action(ACTION_POST)(from_message(on_post, "post a suggested time"))

    @app.view(VIEW_SWAP)
    def on_swap_submit(ack, body, view, client):  # noqa: ANN001
        submit_swap(services, ack, body, view, client)
