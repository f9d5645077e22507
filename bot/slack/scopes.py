"""Which bot scope each Web API method needs, from Slack's method reference (docs.slack.dev/reference/methods).

Conversation methods take the scope of the conversation they act on (``groups:history`` for a
private channel, ``im:history`` for a DM); the others need one fixed scope or none. The app's
scopes (and so ``slack-manifest.yml``) are derived from the methods it calls, and the stand-in
refuses a call whose scope the installation lacks with ``missing_scope``, as Slack does.
"""

from __future__ import annotations

from types import MappingProxyType

PUBLIC, PRIVATE, IM, MPIM = "public", "private", "im", "mpim"
CONVERSATION_KINDS = (PUBLIC, PRIVATE, IM, MPIM)


def _per_kind(action: str, *, public: str = "channels") -> dict[str, str]:
    return {PUBLIC: f"{public}:{action}", PRIVATE: f"groups:{action}", IM: f"im:{action}", MPIM: f"mpim:{action}"}


_MANAGE = {PUBLIC: "channels:manage", PRIVATE: "groups:write", IM: "im:write", MPIM: "mpim:write"}

# method -> scope: None (no scope needed), a scope, or {conversation kind: scope}.
METHOD_SCOPES = MappingProxyType({
    "auth.test": None,
    "chat.delete": "chat:write",
    "chat.deleteScheduledMessage": "chat:write",
    "chat.getPermalink": None,
    "chat.postEphemeral": "chat:write",
    "chat.postMessage": "chat:write",
    "chat.scheduleMessage": "chat:write",
    "chat.scheduledMessages.list": None,
    "chat.update": "chat:write",
    "conversations.archive": _MANAGE,
    "conversations.create": _MANAGE,
    "conversations.history": _per_kind("history"),
    "conversations.info": _per_kind("read"),
    "conversations.invite": _MANAGE,
    "conversations.members": _per_kind("read"),
    "conversations.open": _MANAGE,
    "conversations.replies": _per_kind("history"),
    "conversations.setTopic": _MANAGE,
    "files.completeUploadExternal": "files:write",
    "files.getUploadURLExternal": "files:write",
    "files.info": "files:read",
    "team.info": "team:read",
    "users.info": "users:read",
    "users.list": "users:read",
    "users.lookupByEmail": "users:read.email",
    "views.open": None,
    "views.publish": None,
    "views.push": None,
    "views.update": None,
})

# The methods the bot calls and the conversation kinds it calls them on (it never touches public channels).
BOT_CALLS = MappingProxyType({
    "auth.test": (),
    "chat.postEphemeral": (),
    "chat.postMessage": (),
    "chat.update": (),
    "conversations.create": (PRIVATE,),
    "conversations.history": (PRIVATE, IM, MPIM),
    "conversations.invite": (PRIVATE,),
    "conversations.open": (IM, MPIM),
    "files.completeUploadExternal": (),
    "files.getUploadURLExternal": (),
    "files.info": (),
    "users.info": (),
    "views.open": (),
    "views.publish": (),
    "views.push": (),
    "views.update": (),
})

# slack-sdk helpers the bot calls by name, and the Web API methods each one makes.
SDK_HELPERS = MappingProxyType({"files.upload_v2": ("files.getUploadURLExternal", "files.completeUploadExternal")})


def scope_needed(method: str, kind: str | None = None) -> str | None:
    """The scope ``method`` needs on a conversation of ``kind`` (None: no scope). KeyError for a method not listed."""
    rule = METHOD_SCOPES[method]
    if isinstance(rule, dict):
        return rule[kind or PUBLIC]
    return rule


def scopes_for(calls: MappingProxyType | dict) -> tuple[str, ...]:
    """Every scope the given calls need, in a stable order."""
    needed = {scope_needed(method, kind) for method, kinds in calls.items() for kind in (kinds or (None,))}
    return tuple(sorted(scope for scope in needed if scope))
