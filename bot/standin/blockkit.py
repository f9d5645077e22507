"""Block Kit validation as Slack applies it on the server.

Each check returns a list of problems in Slack's wording, ``"<what> [json-pointer:/blocks/0/text/text]"``;
an empty list means Slack would accept the payload. The limits are the documented ones
(docs.slack.dev/reference/block-kit); nested structures that Slack does not size-limit,
such as rich text, are only checked for shape.
"""

from __future__ import annotations

import re
from typing import Any

MESSAGE = "message"
MODAL = "modal"
HOME = "home"

BLOCK_LIMITS = {MESSAGE: 50, MODAL: 100, HOME: 100}

SELECT_MENUS = frozenset(
    {
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
    }
)
ACTIONS_ELEMENTS = SELECT_MENUS | {
    "button",
    "checkboxes",
    "datepicker",
    "datetimepicker",
    "overflow",
    "radio_buttons",
    "timepicker",
    "workflow_button",
}
ACCESSORY_ELEMENTS = SELECT_MENUS | {
    "button",
    "checkboxes",
    "datepicker",
    "image",
    "overflow",
    "radio_buttons",
    "timepicker",
    "workflow_button",
}
INPUT_ELEMENTS = SELECT_MENUS | {
    "plain_text_input",
    "checkboxes",
    "radio_buttons",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "email_text_input",
    "url_text_input",
    "number_input",
    "rich_text_input",
    "file_input",
}
# Block types and the surfaces that accept them.
BLOCK_SURFACES = {
    "actions": {MESSAGE, MODAL, HOME},
    "context": {MESSAGE, MODAL, HOME},
    "divider": {MESSAGE, MODAL, HOME},
    "header": {MESSAGE, MODAL, HOME},
    "image": {MESSAGE, MODAL, HOME},
    "input": {MESSAGE, MODAL, HOME},
    "rich_text": {MESSAGE, MODAL, HOME},
    "section": {MESSAGE, MODAL, HOME},
    "video": {MESSAGE, MODAL, HOME},
    "file": {MESSAGE},
    "markdown": {MESSAGE},
}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}$")


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, pointer: str, message: str) -> None:
        self.problems.append(f"{message} [json-pointer:{pointer}]")

    # -- primitives -------------------------------------------------------------

    def string(self, value: Any, pointer: str, *, max_len: int, required: bool = False, min_len: int = 0) -> None:
        if value is None:
            if required:
                self.fail(pointer, "must provide a string")
            return
        if not isinstance(value, str):
            self.fail(pointer, "must be a string")
            return
        if len(value) < min_len:
            self.fail(pointer, f"must be more than {min_len - 1} characters")
        if len(value) > max_len:
            self.fail(pointer, f"must be less than {max_len + 1} characters")

    def text_object(
        self, value: Any, pointer: str, *, max_len: int, plain_only: bool = False, required: bool = True
    ) -> None:
        if value is None:
            if required:
                self.fail(pointer, "must provide an object")
            return
        if not isinstance(value, dict):
            self.fail(pointer, "must be a text object")
            return
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if value.get("type") not in allowed:
            self.fail(f"{pointer}/type", "must be a valid enum value" if not plain_only else "must be plain_text")
        self.string(value.get("text"), f"{pointer}/text", max_len=max_len, required=True, min_len=1)

    def array(self, value: Any, pointer: str, *, max_items: int, min_items: int = 1, required: bool = True) -> list:
        if value is None:
            if required:
                self.fail(pointer, "must provide an array")
            return []
        if not isinstance(value, list):
            self.fail(pointer, "must be an array")
            return []
        if len(value) < min_items:
            self.fail(pointer, f"must provide at least {min_items} items")
        if len(value) > max_items:
            self.fail(pointer, f"no more than {max_items} items allowed")
        return value

    def identifier(self, value: Any, pointer: str) -> None:
        self.string(value, pointer, max_len=255, min_len=1)

    # -- composition objects ----------------------------------------------------

    def option(self, option: Any, pointer: str, *, text_max: int = 75, mrkdwn_ok: bool = False) -> None:
        if not isinstance(option, dict):
            self.fail(pointer, "must be an option object")
            return
        self.text_object(option.get("text"), f"{pointer}/text", max_len=text_max, plain_only=not mrkdwn_ok)
        self.string(option.get("value"), f"{pointer}/value", max_len=150, required=True, min_len=1)
        self.text_object(option.get("description"), f"{pointer}/description", max_len=75, required=False)
        self.string(option.get("url"), f"{pointer}/url", max_len=3000)

    def options(self, options: Any, pointer: str, *, max_items: int, min_items: int = 1, mrkdwn_ok: bool = False):
        for index, option in enumerate(self.array(options, pointer, max_items=max_items, min_items=min_items)):
            self.option(option, f"{pointer}/{index}", mrkdwn_ok=mrkdwn_ok)

    def confirm(self, confirm: Any, pointer: str) -> None:
        if confirm is None:
            return
        if not isinstance(confirm, dict):
            self.fail(pointer, "must be a confirmation object")
            return
        self.text_object(confirm.get("title"), f"{pointer}/title", max_len=100, plain_only=True)
        self.text_object(confirm.get("text"), f"{pointer}/text", max_len=300)
        self.text_object(confirm.get("confirm"), f"{pointer}/confirm", max_len=30, plain_only=True)
        self.text_object(confirm.get("deny"), f"{pointer}/deny", max_len=30, plain_only=True)

    # -- elements ---------------------------------------------------------------

    def element(self, element: Any, pointer: str, allowed: frozenset[str] | set[str]) -> None:
        if not isinstance(element, dict):
            self.fail(pointer, "must be an element object")
            return
        kind = element.get("type")
        if kind not in allowed:
            self.fail(f"{pointer}/type", f"unsupported element type `{kind}` here")
            return
        if kind != "image":
            self.identifier(element.get("action_id"), f"{pointer}/action_id")
        self.confirm(element.get("confirm"), f"{pointer}/confirm")
        placeholder = element.get("placeholder")
        if placeholder is not None:
            self.text_object(placeholder, f"{pointer}/placeholder", max_len=150, plain_only=True)
        checker = getattr(self, f"_element_{kind}", None)
        if checker is not None:
            checker(element, pointer)

    def _element_button(self, element: dict, pointer: str) -> None:
        self.text_object(element.get("text"), f"{pointer}/text", max_len=75, plain_only=True)
        self.string(element.get("value"), f"{pointer}/value", max_len=2000)
        self.string(element.get("url"), f"{pointer}/url", max_len=3000)
        self.string(element.get("accessibility_label"), f"{pointer}/accessibility_label", max_len=75)
        style = element.get("style")
        if style is not None and style not in ("primary", "danger"):
            self.fail(f"{pointer}/style", "must be a valid enum value")

    def _element_static_select(self, element: dict, pointer: str) -> None:
        if element.get("options") is not None:
            self.options(element["options"], f"{pointer}/options", max_items=100)
        elif element.get("option_groups") is not None:
            groups = self.array(element["option_groups"], f"{pointer}/option_groups", max_items=100)
            for index, group in enumerate(groups):
                group_pointer = f"{pointer}/option_groups/{index}"
                if not isinstance(group, dict):
                    self.fail(group_pointer, "must be an option group object")
                    continue
                self.text_object(group.get("label"), f"{group_pointer}/label", max_len=75, plain_only=True)
                self.options(group.get("options"), f"{group_pointer}/options", max_items=100)
        else:
            self.fail(pointer, "must provide either options or option_groups")

    _element_multi_static_select = _element_static_select

    def _element_overflow(self, element: dict, pointer: str) -> None:
        self.options(element.get("options"), f"{pointer}/options", max_items=5, min_items=1)

    def _element_checkboxes(self, element: dict, pointer: str) -> None:
        self.options(element.get("options"), f"{pointer}/options", max_items=10, mrkdwn_ok=True)

    _element_radio_buttons = _element_checkboxes

    def _element_plain_text_input(self, element: dict, pointer: str) -> None:
        for bound in ("min_length", "max_length"):
            value = element.get(bound)
            if value is not None and (not isinstance(value, int) or not 0 <= value <= 3000):
                self.fail(f"{pointer}/{bound}", "must be an integer between 0 and 3000")
        self.string(element.get("initial_value"), f"{pointer}/initial_value", max_len=3000)

    def _element_datepicker(self, element: dict, pointer: str) -> None:
        initial = element.get("initial_date")
        if initial is not None and not (isinstance(initial, str) and _DATE.match(initial)):
            self.fail(f"{pointer}/initial_date", "must be a date in the format YYYY-MM-DD")

    def _element_timepicker(self, element: dict, pointer: str) -> None:
        initial = element.get("initial_time")
        if initial is not None and not (isinstance(initial, str) and _TIME.match(initial)):
            self.fail(f"{pointer}/initial_time", "must be a time in the format HH:mm")

    def _element_number_input(self, element: dict, pointer: str) -> None:
        if not isinstance(element.get("is_decimal_allowed"), bool):
            self.fail(f"{pointer}/is_decimal_allowed", "must provide a boolean")

    def _element_image(self, element: dict, pointer: str) -> None:
        self.image_source(element, pointer)
        self.string(element.get("alt_text"), f"{pointer}/alt_text", max_len=2000, required=True, min_len=1)

    def image_source(self, value: dict, pointer: str) -> None:
        if value.get("image_url") is None and value.get("slack_file") is None:
            self.fail(pointer, "must provide either image_url or slack_file")
        self.string(value.get("image_url"), f"{pointer}/image_url", max_len=3000)

    # -- blocks -----------------------------------------------------------------

    def blocks(self, blocks: Any, pointer: str, surface: str) -> None:
        if not isinstance(blocks, list):
            self.fail(pointer, "must be an array")
            return
        limit = BLOCK_LIMITS[surface]
        if len(blocks) > limit:
            self.fail(pointer, f"no more than {limit} items allowed")
        seen_block_ids: set[str] = set()
        for index, block in enumerate(blocks):
            block_pointer = f"{pointer}/{index}"
            if not isinstance(block, dict):
                self.fail(block_pointer, "must be a block object")
                continue
            block_id = block.get("block_id")
            if block_id is not None:
                self.identifier(block_id, f"{block_pointer}/block_id")
                if block_id in seen_block_ids:
                    self.fail(f"{block_pointer}/block_id", f"duplicate block_id `{block_id}`")
                seen_block_ids.add(block_id)
            kind = block.get("type")
            if kind not in BLOCK_SURFACES:
                self.fail(f"{block_pointer}/type", f"unsupported block type `{kind}`")
                continue
            if surface not in BLOCK_SURFACES[kind]:
                self.fail(f"{block_pointer}/type", f"`{kind}` blocks are not allowed in a {surface}")
                continue
            getattr(self, f"_block_{kind}")(block, block_pointer)

    def _unique_action_ids(self, elements: list, pointer: str) -> None:
        seen: set[str] = set()
        for index, element in enumerate(elements):
            action_id = element.get("action_id") if isinstance(element, dict) else None
            if action_id is None:
                continue
            if action_id in seen:
                self.fail(f"{pointer}/{index}/action_id", f"duplicate action_id `{action_id}`")
            seen.add(action_id)

    def _block_section(self, block: dict, pointer: str) -> None:
        text, fields = block.get("text"), block.get("fields")
        if text is None and fields is None:
            self.fail(pointer, "must provide either text or fields")
        self.text_object(text, f"{pointer}/text", max_len=3000, required=False)
        if fields is not None:
            for index, field in enumerate(self.array(fields, f"{pointer}/fields", max_items=10)):
                self.text_object(field, f"{pointer}/fields/{index}", max_len=2000)
        if block.get("accessory") is not None:
            self.element(block["accessory"], f"{pointer}/accessory", ACCESSORY_ELEMENTS)

    def _block_header(self, block: dict, pointer: str) -> None:
        self.text_object(block.get("text"), f"{pointer}/text", max_len=150, plain_only=True)

    def _block_divider(self, block: dict, pointer: str) -> None:
        pass

    def _block_context(self, block: dict, pointer: str) -> None:
        elements = self.array(block.get("elements"), f"{pointer}/elements", max_items=10)
        for index, element in enumerate(elements):
            element_pointer = f"{pointer}/elements/{index}"
            if isinstance(element, dict) and element.get("type") == "image":
                self._element_image(element, element_pointer)
            else:
                self.text_object(element, element_pointer, max_len=3000)

    def _block_actions(self, block: dict, pointer: str) -> None:
        elements = self.array(block.get("elements"), f"{pointer}/elements", max_items=25)
        for index, element in enumerate(elements):
            self.element(element, f"{pointer}/elements/{index}", ACTIONS_ELEMENTS)
        self._unique_action_ids(elements, f"{pointer}/elements")

    def _block_image(self, block: dict, pointer: str) -> None:
        self.image_source(block, pointer)
        self.string(block.get("alt_text"), f"{pointer}/alt_text", max_len=2000, required=True, min_len=1)
        self.text_object(block.get("title"), f"{pointer}/title", max_len=2000, plain_only=True, required=False)

    def _block_input(self, block: dict, pointer: str) -> None:
        self.text_object(block.get("label"), f"{pointer}/label", max_len=2000, plain_only=True)
        self.text_object(block.get("hint"), f"{pointer}/hint", max_len=2000, plain_only=True, required=False)
        if block.get("element") is None:
            self.fail(f"{pointer}/element", "must provide an object")
        else:
            self.element(block["element"], f"{pointer}/element", INPUT_ELEMENTS)

    def _block_rich_text(self, block: dict, pointer: str) -> None:
        self.array(block.get("elements"), f"{pointer}/elements", max_items=10_000, min_items=0)

    def _block_markdown(self, block: dict, pointer: str) -> None:
        self.string(block.get("text"), f"{pointer}/text", max_len=12_000, required=True, min_len=1)

    def _block_file(self, block: dict, pointer: str) -> None:
        self.string(block.get("external_id"), f"{pointer}/external_id", max_len=255, required=True, min_len=1)
        if block.get("source") != "remote":
            self.fail(f"{pointer}/source", "must be a valid enum value")

    def _block_video(self, block: dict, pointer: str) -> None:
        self.string(block.get("alt_text"), f"{pointer}/alt_text", max_len=2000, required=True, min_len=1)
        self.text_object(block.get("title"), f"{pointer}/title", max_len=200, plain_only=True)
        self.string(block.get("thumbnail_url"), f"{pointer}/thumbnail_url", max_len=3000, required=True)
        self.string(block.get("video_url"), f"{pointer}/video_url", max_len=3000, required=True)


def message_block_problems(blocks: Any) -> list[str]:
    """Problems with a message's ``blocks`` (50-block limit)."""
    checker = _Checker()
    checker.blocks(blocks, "/blocks", MESSAGE)
    return checker.problems


def view_problems(view: Any, *, allowed_types: tuple[str, ...]) -> list[str]:
    """Problems with a modal or Home ``view``; pointers start at ``/view`` like Slack's."""
    checker = _Checker()
    if not isinstance(view, dict):
        checker.fail("/view", "must be a view object")
        return checker.problems
    kind = view.get("type")
    if kind not in allowed_types:
        checker.fail("/view/type", f"must be one of: {', '.join(allowed_types)}")
        return checker.problems
    if kind == MODAL:
        checker.text_object(view.get("title"), "/view/title", max_len=24, plain_only=True)
        checker.text_object(view.get("close"), "/view/close", max_len=24, plain_only=True, required=False)
        checker.text_object(view.get("submit"), "/view/submit", max_len=24, plain_only=True, required=False)
        blocks = view.get("blocks")
        has_input = isinstance(blocks, list) and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        if has_input and view.get("submit") is None:
            checker.fail("/view/submit", "must provide submit when the view has input blocks")
    if "blocks" not in view:
        checker.fail("/view/blocks", "must provide an array")
    else:
        checker.blocks(view["blocks"], "/view/blocks", kind)
    checker.string(view.get("private_metadata"), "/view/private_metadata", max_len=3000)
    checker.string(view.get("callback_id"), "/view/callback_id", max_len=255)
    checker.string(view.get("external_id"), "/view/external_id", max_len=255)
    return checker.problems
