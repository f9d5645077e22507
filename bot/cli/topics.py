"""``compass-bot topics``: list, show and check the discussion topics.

The catalogue is the built-in ``bot/prompts/topics.toml`` plus the admin's file named by
``COMPASS_TOPICS_FILE`` when that is set. A broken catalogue is reported as one line per
problem on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import textwrap
from pathlib import Path

from bot.domain.curriculum import AUDIENCES, BUILTIN_TOPICS_FILE, Catalogue, CatalogueError, Topic, check_files, domain_label, load_catalogue

TOPICS_FILE_VARIABLE = "COMPASS_TOPICS_FILE"
EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
_WIDTH = 88
_GROUP_NAMES = {"residents": "residents' groups", "attendings": "attendings' groups", "all": "mixed groups"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "topics",
        help="list, show and check the discussion topics",
        description=(
            "The topics groups discuss: the built-in catalogue plus the file named by "
            f"${TOPICS_FILE_VARIABLE}, if set."
        ),
    )
    actions = parser.add_subparsers(dest="topics_action", metavar="ACTION")

    list_parser = actions.add_parser("list", help="list the topics", description="List the topics, one a line.")
    list_parser.add_argument("--json", action="store_true", help="print a JSON array of topic objects")
    list_parser.add_argument(
        "--audience",
        choices=AUDIENCES,
        help="only the topics a group of this audience can have (all = mixed groups)",
    )
    list_parser.set_defaults(handler=list_topics)

    show_parser = actions.add_parser("show", help="show one topic in full", description="Show one topic in full.")
    show_parser.add_argument("slug", metavar="SLUG", help="the topic's tag, e.g. three-good-things")
    show_parser.set_defaults(handler=show_topic)

    check_parser = actions.add_parser(
        "check",
        help="validate a topics file",
        description=(
            "Validate FILE together with the built-in topics (without FILE: the built-in topics plus "
            f"${TOPICS_FILE_VARIABLE}, if set). Exit status 1 when there is a problem."
        ),
    )
    check_parser.add_argument("file", metavar="FILE", nargs="?", type=Path, help="an admin's topics file (TOML)")
    check_parser.set_defaults(handler=check_topics)

    parser.set_defaults(handler=lambda args: _usage(parser))


def list_topics(args: argparse.Namespace) -> int:
    catalogue = _load_or_report()
    if catalogue is None:
        return EXIT_USAGE
    topics = catalogue.eligible(args.audience) if args.audience else catalogue.topics
    if args.json:
        print(json.dumps([topic.as_dict() for topic in topics], indent=2, ensure_ascii=False))
        return EXIT_OK
    slug_width = max((len(t.slug) for t in topics), default=4)
    for topic in topics:
        kind = "" if topic.kind == "regular" else f" [{topic.kind}]"
        print(f"{topic.slug:<{slug_width}}  {topic.audience:<10}  {topic.primary_domain:<15}  {topic.title}{kind}")
    return EXIT_OK


def show_topic(args: argparse.Namespace) -> int:
    catalogue = _load_or_report()
    if catalogue is None:
        return EXIT_USAGE
    topic = catalogue.get(args.slug.strip().lower())
    if topic is None:
        close = difflib.get_close_matches(args.slug, catalogue.slugs(), n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else " See `compass-bot topics list`."
        print(f"compass-bot: there is no topic {args.slug!r}.{hint}", file=sys.stderr)
        return EXIT_USAGE
    print(describe(topic))
    return EXIT_OK


def check_topics(args: argparse.Namespace) -> int:
    extra = args.file if args.file is not None else _env_topics_file()
    files = [BUILTIN_TOPICS_FILE] + ([extra] if extra else [])
    problems = check_files(files)
    if problems:
        count = len(problems)
        print(f"compass-bot: {count} problem{'s' if count != 1 else ''} in the topics:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_PROBLEMS
    catalogue = load_catalogue(extra)
    print(_summary(catalogue, extra))
    return EXIT_OK


def describe(topic: Topic) -> str:
    """A topic as plain text for a terminal."""
    domains = ", ".join(domain_label(d) for d in topic.domains)
    lines = [
        f"{topic.title}  ({topic.slug})",
        f"Kind: {topic.kind} · Audience: {topic.audience} · Domains: {domains}",
        "",
        "Why this matters",
        _wrap(topic.why),
        "",
        "Questions",
    ]
    lines += [_wrap(question, first=f"  {n}. ") for n, question in enumerate(topic.questions, start=1)]
    if topic.exercise:
        lines += ["", f"Exercise: {topic.exercise.name}", _wrap(topic.exercise.instructions)]
    lines += ["", "Closing question", _wrap(topic.closing_question), "", "Sources"]
    for source in topic.sources:
        reference = source.url or source.citation or ""
        lines.append(_wrap(f"{source.authors} ({source.year}). {source.title}. {reference}", first="  - "))
    if topic.is_custom:
        lines += ["", f"From {topic.origin}"]
    return "\n".join(lines)


def _summary(catalogue: Catalogue, extra: Path | None) -> str:
    builtin = sum(1 for t in catalogue if not t.is_custom)
    custom = len(catalogue) - builtin
    origin = f" and {custom} from {extra}" if extra else ""
    per_group = ", ".join(f"{_GROUP_NAMES[a]} {len(catalogue.eligible(a, 'regular'))}" for a in AUDIENCES)
    return f"OK: {builtin} built-in topics{origin}. Regular topics for {per_group}."


def _load_or_report() -> Catalogue | None:
    try:
        return load_catalogue(_env_topics_file())
    except CatalogueError as exc:
        print(f"compass-bot: {exc}", file=sys.stderr)
        return None


def _env_topics_file() -> Path | None:
    value = os.environ.get(TOPICS_FILE_VARIABLE, "").strip()
    return Path(value) if value else None


def _wrap(text: str, *, first: str = "  ") -> str:
    return textwrap.fill(text, width=_WIDTH, initial_indent=first, subsequent_indent=" " * len(first))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE
