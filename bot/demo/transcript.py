"""A readable, condensed account of the demo: what people did and what each channel and DM received.

The account is kept moment by moment (one simulated minute at a time). A moment's lines
are: what people did, in the order they did it, then what Slack showed, in a fixed order
(new channels, channel posts, group DMs, DMs, private replies) so that the same seed gives
the same transcript even though the bot delivers in parallel. Each line is the first line
of a text with Slack markup turned into names. The same text to several people becomes
one line naming them; DMs that differ only by the names in them (a check-in to each person
of each pair) become one line with the names left out. App Home refreshes, message edits
and look-ups are left out: they would drown the story.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable, Iterable, Mapping
from zoneinfo import ZoneInfo

from bot.standin import UPLOAD_CALL, Call

TEXT_WIDTH = 110
NAMES_SHOWN = 3
ELIDED = "…"
MENTION = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]*))?>")
LINK = re.compile(r"<(https?://[^>|]+)(?:\|([^>]*))?>")
EMOJI = re.compile(r":[a-z0-9_+-]+:\s*")
# Slack's *bold*, _italic_, ~strike~ and `code`: the marks go, the words stay (a time zone's _ stays too).
MARKUP = re.compile(r"(?<![\w*_~`])([*_~`])(\S(?:.*?\S)?)\1(?![\w*_~`])")
# Slack methods whose calls are not something a person reads
SILENT = {"views.open", "views.update", "views.push", "views.publish", "chat.update", "users.info", "auth.test",
          "conversations.open", "conversations.info", "conversations.history", "conversations.members",
          "conversations.invite", "files.getUploadURLExternal", "files.info", UPLOAD_CALL}

# Order of a moment's lines after what people did
DID, CREATED, CHANNEL, GROUP_DM, DM, REPLY = range(6)

Echo = Callable[[str], None]


@dataclass
class Entry:
    rank: int
    where: str  # "#channel", "group DM …", "DM", "only visible to", "updated for"; "" for what a person did
    who: list[str]
    text: str

    def sort_key(self) -> tuple:
        # A person's private replies keep the order they came in (an admin's preview, then the publication).
        return (self.rank, self.where, self.who) if self.rank == REPLY else (self.rank, self.where, self.text, self.who)


@dataclass
class Transcript:
    timezone: str
    names: Mapping[str, str]  # Slack user ID -> name
    start: datetime  # week 1 begins on this day
    echo: Echo | None = None
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._zone = ZoneInfo(self.timezone)
        self._moment: datetime | None = None
        self._entries: list[Entry] = []
        self._first_day = self.start.astimezone(self._zone).date()
        self._day: date | None = None
        self._channel_names: dict[str, str] = {}
        by_length = sorted(self.names.values(), key=len, reverse=True)
        self._any_name = re.compile("|".join(re.escape(n) for n in by_length)) if by_length else None

    # -- recording -----------------------------------------------------------------------

    def heading(self, text: str) -> None:
        self._flush()
        self._write(text)

    def moment(self, at: datetime) -> None:
        """What follows happened at ``at`` (rounded to the minute in the transcript)."""
        if self._moment is None or at.replace(second=0, microsecond=0) != self._moment.replace(second=0, microsecond=0):
            self._flush()
            self._moment = at

    def did(self, user_id: str, text: str) -> None:
        """Something a person did in Slack."""
        self._entries.append(Entry(DID, "", [self.name(user_id)], text))

    def bot_calls(self, calls: Iterable[Call], conversation: Callable[[str], dict]) -> None:
        """What the bot's Web API calls put in front of people."""
        for call in calls:
            if call.method in SILENT or not call.ok:
                continue
            if call.method == "chat.postMessage":
                channel = (call.response or {}).get("channel") or call.args.get("channel", "")
                self._entries.append(self._received(conversation(channel), str(call.args.get("text") or "")))
            elif call.method == "chat.postEphemeral":
                self._entries.append(Entry(REPLY, "only visible to", [self.name(str(call.args.get("user", "")))],
                                           self.plain(str(call.args.get("text") or ""))))
            elif call.method == "files.completeUploadExternal":
                self._entries.append(self._upload(call, conversation))
            elif call.method == "conversations.create":
                channel = (call.response or {}).get("channel") or {}
                self._channel_names[channel.get("id", "")] = channel.get("name", "")
                self._entries.append(Entry(CREATED, f"#{channel.get('name', '?')}", [], "channel created (private)"))
            elif call.method == "conversations.archive":
                where = self._received(conversation(str(call.args.get("channel", ""))), "").where
                self._entries.append(Entry(CREATED, where, [], "channel archived"))

    def replies(self, replies: Iterable[tuple[str, dict]]) -> None:
        """``response_url`` answers: (the person who acted, the body the bot sent)."""
        for user_id, body in replies:
            text = str(body.get("text") or "")
            if body.get("delete_original") or not text:
                continue
            where = "updated for" if body.get("replace_original") else "only visible to"
            self._entries.append(Entry(REPLY, where, [self.name(user_id)], self.plain(text)))

    def finish(self) -> None:
        self._flush()

    def text(self) -> str:
        return "\n".join(self.lines).lstrip("\n") + "\n"

    # -- wording ---------------------------------------------------------------------------

    def name(self, user_id: str) -> str:
        return self.names.get(user_id, user_id)

    def plain(self, text: str) -> str:
        """The first line of a Slack text, without markup, names for mentions, short."""
        first = next((line for line in text.strip().splitlines() if line.strip()), "")

        def mention(match: re.Match) -> str:
            kind, target, label = match.groups()
            if kind == "@":
                return "@" + self.name(target)
            if kind == "#":
                return "#" + (label or self._channel_names.get(target, target))
            return label or target

        first = LINK.sub(lambda m: m.group(2) or m.group(1), first)
        first = MENTION.sub(mention, first)
        first = MARKUP.sub(r"\2", EMOJI.sub("", first)).strip()
        return first if len(first) <= TEXT_WIDTH else first[: TEXT_WIDTH - 1].rstrip() + ELIDED

    def _received(self, conversation: dict, text: str) -> Entry:
        if conversation.get("is_im"):
            return Entry(DM, "DM", [self.name(conversation.get("user", ""))], self.plain(text))
        if conversation.get("is_mpim"):
            people = sorted(self.name(u) for u in conversation.get("members", []) if u in self.names)
            return Entry(GROUP_DM, "group DM " + " + ".join(people), [], self.plain(text))
        return Entry(CHANNEL, "#" + str(conversation.get("name") or conversation.get("id") or "?"), [], self.plain(text))

    def _upload(self, call: Call, conversation: Callable[[str], dict]) -> Entry:
        files = call.args.get("files") or []
        titles = ", ".join(str(f.get("title") or "a file") for f in files if isinstance(f, dict)) or "a file"
        comment = self.plain(str(call.args.get("initial_comment") or ""))
        channel = str(call.args.get("channel_id") or call.args.get("channels") or "")
        target = self._received(conversation(channel), "")
        return Entry(target.rank, target.where, target.who, f"[file: {titles}] {comment}".strip())

    # -- condensing and writing ------------------------------------------------------------

    def _flush(self) -> None:
        entries, self._entries = self._entries, []
        if not entries or self._moment is None:
            return
        merged: dict[tuple, Entry] = {}
        for entry in entries:
            key = (entry.rank, entry.where, self._without_names(entry.text) if entry.rank == DM else entry.text)
            same = merged.get(key)
            if same is None:
                merged[key] = Entry(entry.rank, entry.where, list(entry.who), entry.text)
                continue
            same.who.extend(w for w in entry.who if w not in same.who)
            if same.text != entry.text:
                same.text = key[2]
        done = [e for e in merged.values() if e.rank == DID]  # in the order people acted
        shown = [e for e in merged.values() if e.rank != DID]
        for entry in shown:
            entry.who.sort()
        local = self._moment.astimezone(self._zone)
        self._new_day(local.date())
        for entry in done + sorted(shown, key=Entry.sort_key):
            self._write(f"{local:%H:%M}  {self._line(entry)}")

    def _without_names(self, text: str) -> str:
        return self._any_name.sub(ELIDED, text) if self._any_name is not None else text

    def _new_day(self, day: date) -> None:
        if day == self._day:
            return
        self._day = day
        week = (day - self._first_day).days // 7 + 1
        self._write(f"\n── Week {week} · {day:%a %d %b %Y} " + "─" * 40)

    def _line(self, entry: Entry) -> str:
        who = people_list(entry.who)
        if entry.rank == DID:
            return f"{who} → {entry.text}"
        if entry.who:
            return f"{entry.where} {who} ← {entry.text}"
        return f"{entry.where} ← {entry.text}"

    def _write(self, line: str) -> None:
        self.lines.append(line)
        if self.echo is not None:
            self.echo(line)


def people_list(names: list[str]) -> str:
    if len(names) <= NAMES_SHOWN:
        return " and ".join(filter(None, [", ".join(names[:-1]), names[-1] if names else ""]))
    return f"{', '.join(names[:NAMES_SHOWN - 1])} and {len(names) - NAMES_SHOWN + 1} others"
