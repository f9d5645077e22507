"""Everything a person reads is a Jinja2 template in bot/prompts; this turns it into Block Kit.

Blocks are built with ``slack_sdk.models`` (which validates lengths) around rendered
text, and the surface limits (50 blocks a message, 100 a modal or Home tab) are
checked here because slack_sdk does not check them.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Iterable, Sequence

from jinja2 import Environment, PackageLoader, StrictUndefined
from slack_sdk.models.blocks import Block, ContextBlock, DividerBlock, HeaderBlock, MarkdownTextObject, SectionBlock

MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
SECTION_TEXT_LIMIT = 3000
HEADER_TEXT_LIMIT = 150
MESSAGE_TEXT_LIMIT = 40000
CONTEXT_TEXT_LIMIT = 2000

_MRKDWN_SPECIALS = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_FORMATTING = re.compile(r"([*_~`])")


class BlockLimitError(ValueError):
    pass


def escape_mrkdwn(text: object) -> str:
    """Make user-supplied text inert in Slack mrkdwn.

    Escaping ``& < >`` stops ``<!channel>``, ``<@U123>`` and ``<http://x|links>``;
    formatting characters get a zero-width joiner so a name cannot bold a whole message.
    """
    value = "" if text is None else str(text)
    value = "".join(_MRKDWN_SPECIALS.get(ch, ch) for ch in value)
    return _FORMATTING.sub("\u200b\\1", value)


def escape_plain(text: object) -> str:
    """For plain_text fields: only the control sequences matter there."""
    value = "" if text is None else str(text)
    return "".join(_MRKDWN_SPECIALS.get(ch, ch) for ch in value)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("bot", "prompts"),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # the templates ship with the package: no file check on every message
    )
    env.filters["mrkdwn"] = escape_mrkdwn
    env.filters["plain"] = escape_plain
    env.globals["mention"] = lambda user_id: f"<@{user_id}>" if user_id else "nobody yet"
    return env


def render(template: str, **context: object) -> str:
    """Render ``bot/prompts/<template>``; user-supplied values must go through ``| mrkdwn``."""
    return environment().get_template(template).render(**context).strip()


def render_sections(template: str, **context: object) -> list[str]:
    """Render a template whose parts are separated by a line holding only ``---``."""
    text = render(template, **context)
    return [part.strip() for part in re.split(r"^\s*---\s*$", text, flags=re.MULTILINE) if part.strip()]


def split_text(text: str, limit: int = SECTION_TEXT_LIMIT) -> list[str]:
    """Split long text at paragraph, then line, then word boundaries to fit section blocks."""
    chunks: list[str] = []
    remaining = text.strip()
    while len(remaining) > limit:
        cut = remaining.rfind("\n\n", 0, limit)
        if cut <= 0:
            cut = remaining.rfind("\n", 0, limit)
        if cut <= 0:
            cut = remaining.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        chunks.append(remaining[:cut].rstrip())
        remaining = remaining[cut:].lstrip()
    if remaining:
        chunks.append(remaining)
    return chunks


def section_blocks(text: str) -> list[Block]:
    return [SectionBlock(text=MarkdownTextObject(text=chunk)) for chunk in split_text(text)]


def header_block(text: str) -> HeaderBlock:
    if len(text) > HEADER_TEXT_LIMIT:
        text = text[: HEADER_TEXT_LIMIT - 1] + "…"
    return HeaderBlock(text=text)


def context_block(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=chunk) for chunk in split_text(text, CONTEXT_TEXT_LIMIT)][:10])


def divider() -> DividerBlock:
    return DividerBlock()


def check_blocks(blocks: Sequence[Block | dict], *, surface: str = "message") -> list[dict]:
    """Validate and serialise blocks for a surface (``message``, ``modal`` or ``home``)."""
    limit = MESSAGE_BLOCK_LIMIT if surface == "message" else VIEW_BLOCK_LIMIT
    if len(blocks) > limit:
        raise BlockLimitError(f"{len(blocks)} blocks exceed the {surface} limit of {limit}")
    serialised = []
    for block in blocks:
        if isinstance(block, Block):
            block.validate_json()
            serialised.append(block.to_dict())
        else:
            serialised.append(block)
    return serialised


def fallback_text(text: str) -> str:
    """The notification/fallback ``text`` of a message: one short line."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    # Emphasis marks go; an underscore inside a word stays (emoji such as :palm_tree:).
    first = re.sub(r"[*~`]|(?<!\w)_|_(?!\w)", "", reader_time_fallbacks(first))
    return first[:300]


def reader_time(moment: datetime, fallback: str, *, layout: str = "{date_long_pretty} at {time}") -> str:
    """A moment in mrkdwn that every reader sees in their own Slack time zone and clock format.

    Slack replaces ``<!date^epoch^layout|fallback>`` on each reader's device; ``fallback`` (written
    in some zone the bot knows, e.g. ``Mon 2 Feb, 18:00 CST``) shows where it cannot, such as
    notifications. Only for mrkdwn: plain_text fields show the raw token.
    """
    if moment.tzinfo is None:
        raise ValueError("reader_time needs an aware datetime")
    epoch = int(moment.timestamp())
    return f"<!date^{epoch}^{layout}|{escape_mrkdwn(fallback)}>"


_READER_TIME = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")


def reader_time_fallbacks(text: str) -> str:
    """``text`` with every ``<!date…>`` replaced by its fallback: for notification text and plain_text."""
    return _READER_TIME.sub(lambda match: match.group(1), text)


def join_lines(lines: Iterable[str]) -> str:
    return "\n".join(line for line in lines if line)
