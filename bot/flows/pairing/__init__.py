"""Near-peer mentoring in Slack: admins match a round and review it in App Home, publishing introduces
each pair, and check-ins follow until a pairing is paused or ended without blame."""

from bot.flows.pairing.admin_home import (
    ACTION_DISCARD,
    ACTION_PREVIEW,
    ACTION_PUBLISH,
    ACTION_REMOVE,
    ACTION_SWAP,
    SWAP_ELEMENT,
    SWAP_FIRST,
    SWAP_SECOND,
    VIEW_SWAP,
    admin_home_section,
)
from bot.flows.pairing.checkins import ACTION_CHECKIN
from bot.flows.pairing.member_home import ACTION_RESUME, home_section
from bot.flows.pairing.pausing_and_ending import ACTION_END
from bot.flows.pairing.preview import make_preview, save_match
from bot.flows.pairing.publication import publish_round
from bot.flows.pairing.registration import DELIVERIES, ON_FAILURE, register

# Every ACTION_* is here because tests/test_endpoint_fuzz.py reads them off this package to check each is registered.
__all__ = [
    "ACTION_CHECKIN",
    "ACTION_DISCARD",
    "ACTION_END",
    "ACTION_PREVIEW",
    "ACTION_PUBLISH",
    "ACTION_REMOVE",
    "ACTION_RESUME",
    "ACTION_SWAP",
    "DELIVERIES",
    "ON_FAILURE",
    "SWAP_ELEMENT",
    "SWAP_FIRST",
    "SWAP_SECOND",
    "VIEW_SWAP",
    "admin_home_section",
    "home_section",
    "make_preview",
    "publish_round",
    "register",
    "save_match",
]
