"""`compass-bot demo`: a whole program offline, with no Slack account."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bot.runtime.settings import ConfigError

EXIT_PROBLEM = 1
MAX_PEOPLE = 200
MAX_WEEKS = 52


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="run a whole program offline, with no Slack account",
        description=(
            "Start a Slack stand-in in this process, enrol synthetic physicians (residents and attendings) through the "
            "join form, form groups, pair near-peers and run the weeks in simulated time through the real flows and "
            "scheduler, with simulated RSVPs, attendance and survey answers. Prints a condensed transcript and writes "
            "transcript.txt, report.csv (the admin report) and trend.png (the wellbeing chart) to the output folder. "
            "Needs no environment variable and never reads .env."
        ),
    )
    demo.add_argument("--people", type=int, default=40, metavar="N", help="how many physicians (default 40)")
    demo.add_argument("--weeks", type=int, default=26, metavar="N", help="how many weeks to simulate (default 26)")
    demo.add_argument("--seed", type=int, default=1, metavar="N",
                      help="random seed; the same seed gives the same run (default 1)")
    demo.add_argument("--output", default="demo-output", metavar="DIR", help="where to write the files (default ./demo-output)")
    demo.add_argument("--record", metavar="FILE.jsonl", help="also write every Web API call the bot made, one JSON object a line")
    demo.add_argument("--database-url", metavar="URL",
                      help="an empty database to use instead of a temporary SQLite file (it is migrated first)")
    demo.add_argument("--quiet", action="store_true", help="print only the summary, not the transcript")
    demo.set_defaults(handler=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    if not 2 <= args.people <= MAX_PEOPLE:
        raise ConfigError(f"--people must be between 2 and {MAX_PEOPLE}")
    if not 1 <= args.weeks <= MAX_WEEKS:
        raise ConfigError(f"--weeks must be between 1 and {MAX_WEEKS}")

    from bot.demo.run import DemoOptions, run_demo

    options = DemoOptions(people=args.people, weeks=args.weeks, seed=args.seed, output=Path(args.output),
                          record=Path(args.record) if args.record else None, database_url=args.database_url,
                          quiet=args.quiet)
    root = logging.getLogger()
    level = root.level
    if not args.verbose:
        # The transcript tells the story; per-request and per-tick log lines would bury it. Warnings still show.
        root.setLevel(logging.WARNING)
    try:
        result = run_demo(options)
    except OSError as exc:
        print(f"compass-bot: could not write {exc.filename or 'the demo output'}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_PROBLEM
    finally:
        root.setLevel(level)
    print()
    for line in result.summary.lines():
        print(line)
    print()
    for kind, path in result.files.items():
        print(f"wrote {kind}: {path}")
    if options.record is not None:
        print(f"recorded {result.calls} Web API calls to {options.record}")
    return 0
