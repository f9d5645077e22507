"""The stand-in's workspace: users, conversations, messages, views and files.

Everything here is guarded by one re-entrant lock (``Workspace.lock``); the HTTP
threads and the test thread both go through it. Times come from ``time.time()``
so that tests frozen with freezegun see deterministic timestamps.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.slack.manifest import BOT_SCOPES
from bot.standin.args import SlackError

TRIGGER_TTL_SECONDS = 3.0  # Slack's documented lifetime of a trigger_id
SCHEDULE_HORIZON_SECONDS = 120 * 24 * 3600
TOPIC_MAX_CHARS = 250
CHANNEL_NAME_MAX_CHARS = 80
_CHANNEL_NAME = re.compile(r"^[a-z0-9_-]+$")
_PUNCTUATION_ONLY = re.compile(r"^[-_]+$")


@dataclass
class Call:
    """One request as the stand-in saw it, answered or not."""

    method: str
    args: dict[str, Any]
    token: str | None
    at: float
    status: int | None = None  # HTTP status sent; None while in flight or when the connection was dropped
    response: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return None if self.response is None else self.response.get("error")


@dataclass
class Conversation:
    id: str
    name: str
    created: int
    creator: str
    is_private: bool = False
    is_im: bool = False
    is_mpim: bool = False
    is_archived: bool = False
    members: list[str] = field(default_factory=list)
    topic: dict[str, Any] = field(default_factory=lambda: {"value": "", "creator": "", "last_set": 0})
    purpose: dict[str, Any] = field(default_factory=lambda: {"value": "", "creator": "", "last_set": 0})
    im_user: str | None = None

    def describe(self, *, viewer: str, include_num_members: bool = False) -> dict[str, Any]:
        """The conversation object Slack returns from conversations.* methods."""
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.im_user,
                "is_user_deleted": False,
                "priority": 0,
            }
        described: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_mpim,
            "is_group": False,
            "is_im": False,
            "is_mpim": self.is_mpim,
            "is_private": self.is_private or self.is_mpim,
            "created": self.created,
            "is_archived": self.is_archived,
            "is_general": False,
            "unlinked": 0,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "creator": self.creator,
            "is_member": viewer in self.members,
            "topic": dict(self.topic),
            "purpose": dict(self.purpose),
        }
        if include_num_members:
            described["num_members"] = len(self.members)
        return described


def channel_name_problem(name: str) -> str | None:
    """The error conversations.create gives for ``name``, or None when it is acceptable."""
    if not name:
        return "invalid_name_required"
    if len(name) > CHANNEL_NAME_MAX_CHARS:
        return "invalid_name_maxlength"
    if not _CHANNEL_NAME.match(name):
        return "invalid_name_specials"
    if _PUNCTUATION_ONLY.match(name):
        return "invalid_name_punctuation"
    return None


def _tz_details(tz_name: str) -> tuple[str, int]:
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        return tz_name, 0
    now = datetime.fromtimestamp(time.time(), timezone.utc).astimezone(zone)
    offset = now.utcoffset()
    return now.tzname() or tz_name, int(offset.total_seconds()) if offset else 0


class Workspace:
    """All state of one Slack workspace as seen through one bot token."""

    def __init__(self, *, team_id: str, team_name: str, bot_token: str, bot_user_id: str) -> None:
        self.lock = threading.RLock()
        self.team_id = team_id
        self.team_name = team_name
        self.domain = re.sub(r"[^a-z0-9]+", "-", team_name.lower()).strip("-") or "workspace"
        self.bot_token = bot_token
        self.bot_user_id = bot_user_id
        self.bot_id = "B" + bot_user_id.lstrip("UW")
        self.app_id = "A" + bot_user_id.lstrip("UW")
        self.upload_base_url = ""  # set by the server once it knows its port
        self.trigger_ttl = TRIGGER_TTL_SECONDS
        self._ids = itertools.count(1)
        self.oauth_clients: dict[str, str] = {}  # client_id -> client_secret
        self.oauth_codes: dict[str, str] = {}  # one-time code -> installing user
        self.granted_scopes: set[str] = set(BOT_SCOPES)  # what installing the app's manifest grants
        # Enterprise Grid: the org of this workspace ("" outside Grid), and whether the app is installed
        # org-wide (one installation for every workspace of the org, team: null in oauth.v2.access).
        self.enterprise_id = ""
        self.org_install = False
        # Token rotation: each issued token's expiry (epoch seconds); tokens absent here never expire.
        self.token_rotation = False
        self.token_expiry: dict[str, float] = {}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> the access token it replaces
        self.app_token = ""  # Socket Mode: the app-level token apps.connections.open accepts, and the URL it answers
        self.socket_mode_url = ""
        self.workspace_tokens: dict[str, str] = {}  # bot token of another workspace -> its team ID (rate budgets)
        self.users: dict[str, dict[str, Any]] = {}
        self._user_seeds: dict[str, dict[str, Any]] = {}
        self._channel_seeds: list[Conversation] = []
        self.add_user(bot_user_id, name="compass", real_name="Compass", tz="UTC", email=None, is_bot=True)
        self.forget_activity()

    # -- identifiers and time ---------------------------------------------------

    @staticmethod
    def now() -> float:
        """The clock every stand-in time comes from (``time.time``, so freezegun can freeze it)."""
        return time.time()

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):010d}"

    def next_ts(self) -> str:
        """A unique, increasing message timestamp based on the (possibly frozen) clock."""
        micros = max(int(self.now() * 1_000_000), self._last_ts_micros + 1)
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    # -- seeding ------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        tz: str = "America/Los_Angeles",
        email: str | None = None,
        is_admin: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
        is_restricted: bool = False,
        is_ultra_restricted: bool = False,
        is_app_user: bool = False,
    ) -> dict[str, Any]:
        """``is_restricted``: a multi-channel guest; ``is_ultra_restricted``: a single-channel guest (Slack sets both)."""
        with self.lock:
            name = name or user_id.lower()
            real_name = real_name or name
            tz_label, tz_offset = _tz_details(tz)
            profile: dict[str, Any] = {
                "real_name": real_name,
                "real_name_normalized": real_name,
                "display_name": name,
                "display_name_normalized": name,
                "team": self.team_id,
            }
            if email:
                profile["email"] = email
            user = {
                "id": user_id,
                "team_id": self.team_id,
                "name": name,
                "deleted": deleted,
                "real_name": real_name,
                "tz": tz,
                "tz_label": tz_label,
                "tz_offset": tz_offset,
                "is_admin": is_admin,
                "is_owner": False,
                "is_restricted": is_restricted or is_ultra_restricted,
                "is_ultra_restricted": is_ultra_restricted,
                "is_bot": is_bot,
                "is_app_user": is_app_user,
                "updated": int(self.now()),
                "profile": profile,
            }
            self._user_seeds[user_id] = user
            self.users[user_id] = copy.deepcopy(user)
            return copy.deepcopy(user)

    def change_user(self, user_id: str, **fields: Any) -> dict[str, Any]:
        with self.lock:
            unknown = set(fields) - {"deleted", "is_bot", "is_app_user", "is_restricted", "is_ultra_restricted", "is_admin"}
            if unknown:
                raise ValueError(f"fields the stand-in cannot change: {', '.join(sorted(unknown))}")
            if fields.get("is_ultra_restricted"):
                fields["is_restricted"] = True
            for users in (self._user_seeds, self.users):
                users[user_id].update(fields, updated=int(self.now()))
            return copy.deepcopy(self.users[user_id])

    def add_channel(self, name: str, *, is_private: bool = False, members: tuple[str, ...] | list[str] = ()) -> str:
        with self.lock:
            problem = channel_name_problem(name)
            if problem:
                raise ValueError(f"{name!r} is not a valid Slack channel name ({problem})")
            if self.channel_named(name):
                raise ValueError(f"a channel named {name!r} already exists")
            unknown = [member for member in members if member not in self.users]
            if unknown:
                raise ValueError(f"unknown users: {', '.join(unknown)}")
            conversation = Conversation(
                id=self.new_id("C"),
                name=name,
                created=int(self.now()),
                creator=members[0] if members else self.bot_user_id,
                is_private=is_private,
                members=list(dict.fromkeys(members)),
            )
            self._channel_seeds.append(copy.deepcopy(conversation))
            self.add_conversation(conversation)
            return conversation.id

    def forget_activity(self) -> None:
        """Back to the seeded directory: drop everything created through the API."""
        with self.lock:
            self._last_ts_micros = 0
            self.users = copy.deepcopy(self._user_seeds)
            self.conversations: dict[str, Conversation] = {}
            self.messages: dict[str, list[dict[str, Any]]] = {}
            self.dm_by_user: dict[str, str] = {}
            self.mpim_by_members: dict[frozenset[str], str] = {}
            self.ephemerals: list[dict[str, Any]] = []
            self.scheduled: dict[str, dict[str, Any]] = {}
            self.open_views: dict[str, dict[str, Any]] = {}
            self.view_stacks: dict[str, list[str]] = {}
            self.home_views: dict[str, dict[str, Any]] = {}
            self.triggers: dict[str, dict[str, Any]] = {}
            self.pending_uploads: dict[str, dict[str, Any]] = {}
            self.upload_keys: dict[str, str] = {}
            self.files: dict[str, dict[str, Any]] = {}
            for seed in self._channel_seeds:
                self.add_conversation(copy.deepcopy(seed))

    def add_conversation(self, conversation: Conversation) -> None:
        self.conversations[conversation.id] = conversation
        self.messages[conversation.id] = []

    # -- lookups ------------------------------------------------------------------

    def channel_named(self, name: str) -> Conversation | None:
        for conversation in self.conversations.values():
            if not conversation.is_im and not conversation.is_mpim and conversation.name == name:
                return conversation
        return None

    def user(self, user_id: str | None, *, error: str = "user_not_found") -> dict[str, Any]:
        if not user_id or user_id not in self.users:
            raise SlackError(error)
        return self.users[user_id]

    def conversation(self, channel: str | None, *, error: str = "channel_not_found") -> Conversation:
        """The conversation with this ID."""
        if not channel or channel not in self.conversations:
            raise SlackError(error)
        return self.conversations[channel]

    def message_target(self, channel: str | None) -> Conversation:
        """Where chat.postMessage-like methods post: a conversation ID, a ``#name``, or a user ID
        (which means the bot's DM with that user)."""
        if channel and channel not in self.conversations:
            if channel in self.users:
                return self.conversations[self.open_dm(channel)]
            named = self.channel_named(channel.lstrip("#"))
            if named is not None:
                return named
        return self.conversation(channel)

    def resolve_channel_id(self, channel: str | None) -> str | None:
        """The conversation ID a channel argument means, for per-channel rate limits.

        A user ID opens the bot's DM with that user, as posting to it would; anything
        unknown is returned unchanged for the method itself to reject.
        """
        if not channel or channel in self.conversations:
            return channel
        if channel in self.users:
            return self.open_dm(channel)
        named = self.channel_named(channel.lstrip("#"))
        return named.id if named is not None else channel

    def open_dm(self, user_id: str) -> str:
        if user_id not in self.dm_by_user:
            conversation = Conversation(
                id=self.new_id("D"),
                name=user_id,
                created=int(self.now()),
                creator=self.bot_user_id,
                is_im=True,
                members=[user_id] if user_id == self.bot_user_id else [user_id, self.bot_user_id],
                im_user=user_id,
            )
            self.add_conversation(conversation)
            self.dm_by_user[user_id] = conversation.id
        return self.dm_by_user[user_id]

    def open_mpim(self, user_ids: list[str]) -> tuple[str, bool]:
        """The group DM of the bot and ``user_ids``; returns its ID and whether it already existed."""
        members = frozenset(user_ids) | {self.bot_user_id}
        existing = self.mpim_by_members.get(members)
        if existing is not None:
            return existing, True
        ordered = list(dict.fromkeys([*user_ids, self.bot_user_id]))
        names = "--".join(self.users[user_id]["name"] for user_id in ordered)
        conversation = Conversation(
            id=self.new_id("G"),
            name=f"mpdm-{names}-1",
            created=int(self.now()),
            creator=self.bot_user_id,
            is_mpim=True,
            is_private=True,
            members=ordered,
        )
        self.add_conversation(conversation)
        self.mpim_by_members[members] = conversation.id
        return conversation.id, False

    def find_message(self, channel_id: str, ts: str | None, *, error: str = "message_not_found") -> dict[str, Any]:
        for message in self.messages.get(channel_id, []):
            if message["ts"] == ts:
                return message
        raise SlackError(error)

    # -- writes ---------------------------------------------------------------------

    def post(self, conversation: Conversation, content: dict[str, Any], *, user: str | None = None) -> dict[str, Any]:
        """Append a message to ``conversation`` and keep its thread parent's counters."""
        ts = self.next_ts()
        message: dict[str, Any] = {"type": "message", "ts": ts, "user": user or self.bot_user_id, "team": self.team_id}
        if message["user"] == self.bot_user_id:
            message.update(bot_id=self.bot_id, app_id=self.app_id)
        message.update({key: value for key, value in content.items() if value is not None})
        message.setdefault("text", "")
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != ts:
            self._count_reply(conversation.id, thread_ts, message)
        self.messages[conversation.id].append(message)
        return message

    def _count_reply(self, channel_id: str, thread_ts: str, reply: dict[str, Any]) -> None:
        for parent in self.messages[channel_id]:
            if parent["ts"] == thread_ts:
                parent["thread_ts"] = thread_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                users = parent.setdefault("reply_users", [])
                if reply["user"] not in users:
                    users.append(reply["user"])
                parent["reply_users_count"] = len(users)
                parent["latest_reply"] = reply["ts"]
                return

    def deliver_due_scheduled(self) -> None:
        """Post scheduled messages whose time has come, as Slack would have by now."""
        now = self.now()
        due = sorted(
            (item for item in self.scheduled.values() if item["post_at"] <= now),
            key=lambda item: (item["post_at"], item["id"]),
        )
        for item in due:
            del self.scheduled[item["id"]]
            conversation = self.conversations.get(item["channel_id"])
            if conversation is not None and not conversation.is_archived:
                self.post(conversation, item["content"])

    # -- trigger ids ----------------------------------------------------------------

    def new_trigger_id(self, *, view_id: str | None = None) -> str:
        with self.lock:
            serial = next(self._ids)
            digest = hashlib.sha256(f"{self.team_id}:{serial}".encode()).hexdigest()[:32]
            trigger_id = f"{int(self.now())}.{serial}.{digest}"
            self.triggers[trigger_id] = {"issued_at": self.now(), "used": False, "view_id": view_id}
            return trigger_id

    def redeem_trigger(self, trigger_id: str | None) -> dict[str, Any]:
        if not trigger_id or trigger_id not in self.triggers:
            raise SlackError("invalid_trigger_id")
        trigger = self.triggers[trigger_id]
        if trigger["used"]:
            raise SlackError("exchanged_trigger_id")
        if self.now() - trigger["issued_at"] > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        trigger["used"] = True
        return trigger

    def new_view_hash(self) -> str:
        return f"{int(self.now())}.{next(self._ids):08x}"
