"""``compass-bot demo``: a whole program, offline, in simulated time.

It starts the Slack stand-in and the bot (its real Bolt app behind its real HTTP endpoint)
in this process, on a fresh database, with made-up credentials; nothing is read from the
environment or a ``.env`` file. Then a synthetic cohort joins, groups and pairs form and
the weeks run (:mod:`bot.demo.simulation`), and the output files are written.
"""

from __future__ import annotations

import random
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator, TextIO
from zoneinfo import ZoneInfo

import freezegun

from bot.runtime.settings import ConfigError, Settings, load_settings
from bot.demo.behaviour import Habits
from bot.demo.driver import SlackDriver
from bot.demo.harness import ReplySink, RunningBot, start_bot
from bot.demo.burden import Burden, measure, read_record
from bot.demo.output import TRANSCRIPT, Summary, member_ids, record_lines, summarise, write_record, write_report
from bot.demo.people import Physician, cohort
from bot.demo.progress import Progress
from bot.demo.simulation import Simulation, group_lead
from bot.demo.transcript import Transcript
from bot.standin import SlackStandIn

TEAM_ID = "T0DEMO"
BOT_TOKEN = "xoxb-compass-demo"
SIGNING_SECRET = "compass-demo-signing-secret"
ADMIN_ID = "U0ADMIN"
ADMIN_NAME = "Avery Admin"
PROGRAM_TIMEZONE = "America/New_York"
START = datetime(2026, 1, 5, 13, 0, tzinfo=timezone.utc)  # a Monday, 08:00 in New York
LAST_WEEKEND = timedelta(hours=16)  # from Monday 08:00 back to Sunday 16:00
RATE_LIMIT_SCALE = 10_000  # budgets per simulated minute would otherwise be waited out in real time


@dataclass(frozen=True)
class DemoOptions:
    people: int = 40
    weeks: int = 26
    seed: int = 1
    output: Path = Path("demo-output")
    record: Path | None = None
    database_url: str | None = None
    quiet: bool = False


@dataclass
class DemoResult:
    files: dict[str, Path]
    summary: Summary
    calls: int
    burden: Burden


def demo_settings(*, api_url: str, database_url: str) -> Settings:
    """Every setting given here, so no environment variable or ``.env`` changes the demo."""
    values = {name: spec.get_default(call_default_factory=True) for name, spec in Settings.model_fields.items()}
    values.update(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=api_url,
        database_url=database_url,
        compass_admins=ADMIN_ID,
        compass_timezone=PROGRAM_TIMEZONE,
    )
    return load_settings(_env_file=None, **values)


@contextmanager
def quick_rate_limits(posts_per_minute: float) -> Iterator[None]:
    from bot.slack.rate_limits import SlackRateLimiter
    from bot.slack.client import configure_rate_limits, rate_limiter

    previous = rate_limiter()
    configure_rate_limits(SlackRateLimiter(posts_per_minute=posts_per_minute, scale=RATE_LIMIT_SCALE))
    try:
        yield
    finally:
        configure_rate_limits(previous)


def refuse_used_database(engine) -> None:  # noqa: ANN001
    from sqlmodel import Session, select

    from storage.models import Member

    with Session(engine) as session:
        if session.exec(select(Member.id).where(Member.team_id == TEAM_ID)).first() is not None:
            raise ConfigError("--database-url: that database already holds a demo run; give the demo an empty one")


def workspace(people: list[Physician]) -> SlackStandIn:
    standin = SlackStandIn(team_id=TEAM_ID, team_name="Compass Demo Health", bot_token=BOT_TOKEN, bot_user_id="UCOMPASS")
    standin.start()
    standin.add_user(ADMIN_ID, name="avery", real_name=ADMIN_NAME, tz=PROGRAM_TIMEZONE, is_admin=True)
    for person in people:
        standin.add_user(person.user_id, name=person.name.lower().replace(" ", "."), real_name=person.name, tz=person.timezone)
    return standin


@dataclass
class World:
    """Slack (the stand-in), where Slack posts replies, and the bot, all running."""

    standin: SlackStandIn
    replies: ReplySink
    bot: RunningBot
    driver: SlackDriver


@contextmanager
def running_world(people: list[Physician], *, database_url: str) -> Iterator[World]:
    from bot.runtime.process import open_services

    standin = workspace(people)
    replies = ReplySink()
    bot = driver = None
    try:
        settings = demo_settings(api_url=standin.url, database_url=database_url)
        with quick_rate_limits(settings.compass_posts_per_minute):
            services = open_services(require_slack=True, migrate=True, settings=settings)
            refuse_used_database(services.engine)
            bot = start_bot(services)
            driver = SlackDriver(endpoint=bot.endpoint, signing_secret=SIGNING_SECRET, team_id=TEAM_ID, standin=standin,
                                 replies=replies)
            yield World(standin=standin, replies=replies, bot=bot, driver=driver)
    finally:
        if driver is not None:
            driver.close()
        if bot is not None:
            bot.server.stop()
            bot.tracker.shutdown()
            bot.services.engine.dispose()
        replies.stop()
        standin.stop()


def run_demo(options: DemoOptions, *, out: TextIO | None = None, err: TextIO | None = None) -> DemoResult:
    out, err = out or sys.stdout, err or sys.stderr
    # The bot's HTTP server keeps real time for its event loop; everything else sees the simulated clock.
    freezegun.configure(extend_ignore_list=["asyncio"])
    rng = random.Random(options.seed)
    people = cohort(options.people, rng)
    end = START + timedelta(weeks=options.weeks) - LAST_WEEKEND  # the admin reads the report that Sunday
    progress = Progress(err)
    names = {ADMIN_ID: ADMIN_NAME, **{p.user_id: p.name for p in people}}
    transcript = Transcript(timezone=PROGRAM_TIMEZONE, names=names, start=START,
                            echo=None if options.quiet else (lambda line: progress.print_above(line, out)))
    transcript.heading(f"compass-bot demo · seed {options.seed} · {len(people)} physicians · {options.weeks} weeks "
                       f"from {START.astimezone(ZoneInfo(PROGRAM_TIMEZONE)):%a %d %b %Y} · times in {PROGRAM_TIMEZONE}")
    options.output.mkdir(parents=True, exist_ok=True)

    def report_progress(now: datetime) -> None:
        week = min(options.weeks, int((now - START) / timedelta(weeks=1)) + 1)
        progress.update((now - START) / (end - START), f"week {week} of {options.weeks}")

    with tempfile.TemporaryDirectory(prefix="compass-demo-") as scratch, \
            running_world(people, database_url=options.database_url or f"sqlite:///{Path(scratch) / 'compass.db'}") as world, \
            freezegun.freeze_time(START, tick=False, real_asyncio=True) as frozen:
        engine = world.bot.services.engine
        habits = Habits({p.user_id: p for p in people}, rng, START, lead_of=group_lead(engine))
        simulation = Simulation(standin=world.standin, bot=world.bot, driver=world.driver, replies=world.replies,
                                transcript=transcript, habits=habits, people=habits.people, admin_id=ADMIN_ID,
                                move_to=frozen.move_to, on_progress=report_progress)
        try:
            simulation.open_program(START)
            simulation.run_until(end)
            simulation.close_program()
            progress.update(1.0, f"week {options.weeks} of {options.weeks}")
        finally:
            simulation.close()
            progress.close()
        min_group = world.bot.services.settings.compass_min_group
        files = write_report(options.output, engine=engine, team_id=TEAM_ID, min_group=min_group)
        summary = summarise(engine, team_id=TEAM_ID, people=len(people))
        timezones = {ADMIN_ID: PROGRAM_TIMEZONE, **{p.user_id: p.timezone for p in people}}
        lines = record_lines(world.standin.calls, conversation=world.standin.conversation, timezones=timezones)
        members = member_ids(engine, team_id=TEAM_ID)

    transcript_path = options.output / TRANSCRIPT
    transcript_path.write_text(transcript.text(), encoding="utf-8")
    files = {"transcript": transcript_path, **files}
    if options.record is not None:
        options.record.parent.mkdir(parents=True, exist_ok=True)
        write_record(options.record, lines)
        files["record"] = options.record
        lines = read_record(options.record)  # the figures come from the very record written
    burden = measure(lines, physicians=members, start=START, weeks=options.weeks)
    summary = replace(summary, burden=burden.lines())
    return DemoResult(files=files, summary=summary, calls=len(lines), burden=burden)
