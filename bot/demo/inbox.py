"""Reading what Slack (the stand-in) received: new Web API calls, ``response_url`` replies, the
conversations they went to, the messages with buttons people may click, and the modals the bot opened.
"""

from __future__ import annotations

from bot.demo.behaviour import Message
from bot.demo.harness import Reply, ReplySink
from bot.standin import Call, SlackStandIn


class Inbox:
    def __init__(self, standin: SlackStandIn, replies: ReplySink):
        self.standin = standin
        self.replies = replies
        self._calls_seen = 0
        self._replies_seen = 0
        self._conversations: dict[str, dict] = {}

    def new_calls(self) -> list[Call]:
        calls = self.standin.calls
        new, self._calls_seen = calls[self._calls_seen:], len(calls)
        return new

    def new_replies(self) -> list[Reply]:
        replies = self.replies.since(self._replies_seen)
        self._replies_seen += len(replies)
        return replies

    def conversation(self, channel_id: str) -> dict:
        """conversations.info's view of a conversation (with its members), remembered."""
        if channel_id not in self._conversations:
            try:
                self._conversations[channel_id] = self.standin.conversation(channel_id)
            except KeyError:
                return {"id": channel_id}
        return self._conversations[channel_id]

    def is_group_channel(self, channel_id: str) -> bool:
        conversation = self.conversation(channel_id) if channel_id else {}
        return bool(conversation.get("name")) and not conversation.get("is_im") and not conversation.get("is_mpim")

    def message(self, call: Call) -> Message | None:
        """The message a chat.postMessage put in front of people, if it has buttons to click."""
        if call.method != "chat.postMessage" or not call.ok:
            return None
        buttons = {
            element["action_id"]: (str(element.get("value", "")), str((element.get("text") or {}).get("text", "")))
            for block in call.args.get("blocks") or [] if isinstance(block, dict) and block.get("type") == "actions"
            for element in block.get("elements") or [] if element.get("type") == "button"
        }
        if not buttons:
            return None
        channel_id, ts = call.response["channel"], call.response["ts"]
        conversation = self.conversation(channel_id)
        if conversation.get("is_im"):
            recipients: tuple[str, ...] = (conversation["user"],)
        else:
            recipients = tuple(sorted(u for u in self.standin.members(channel_id) if u != self.standin.bot_user_id))
        is_channel = not conversation.get("is_im") and not conversation.get("is_mpim")
        return Message(channel_id=channel_id, ts=ts, recipients=recipients, buttons=buttons, is_channel=is_channel,
                       text=str(call.args.get("text") or ""))

    def opened_view(self, trigger_id: str) -> tuple[dict, str] | None:
        """The modal the bot opened with this trigger, and its view ID (None if it opened none)."""
        for call in reversed(self.standin.calls_to("views.open")):
            if call.args.get("trigger_id") == trigger_id:
                return (call.args["view"], call.response["view"]["id"]) if call.ok else None
        return None

    def current_view(self, view_id: str) -> dict:
        """A modal as it is now (the bot may have replaced it with ``views.update`` after acknowledging)."""
        return self.standin.views.get(view_id) or {}
