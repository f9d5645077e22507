"""``compass-bot manifest``: print the Slack app manifest (scopes derived from the methods the bot calls)."""

from __future__ import annotations

import argparse
import sys

from bot.slack.manifest import render_manifest


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("manifest", help="print the Slack app manifest (slack-manifest.yml)")
    parser.set_defaults(handler=print_manifest)


def print_manifest(args: argparse.Namespace) -> int:
    sys.stdout.write(render_manifest())
    return 0
