"""Individual answers are visible only to their owner, proven end to end.

* The crisis message reaches only the person: not a lead, not an admin, not the audit
  log, not the logs, not any report.
* Reports never show a figure for fewer than COMPASS_MIN_GROUP people, nor one that
  a reader could subtract their way to (checked with the independent linear attacker).
* Forget-me takes a person's answers out of every later aggregate.
* Nobody but an admin reaches any report: command, button or Home.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import random
from datetime import datetime, timezone

from sqlmodel import Session, select

from bot.domain.trends import DIMENSIONS, career_stage_band
from storage.models import AuditEntry, ScheduledAction
from tests.conftest import ADMIN_ID, TEAM_ID
from tests.support.clock import frozen
from tests.support.waiting import eventually
from tests.test_admin_report_flow import MIN_GROUP, report_upload, seed_answers, seed_people, shown_counts
from tests.test_enrolment_flow import join, last_response
from tests.test_privacy import LinearAttacker
from tests.test_pulse_flow import (
    BASELINE_ANSWERS,
    answer,
    enrol,
    make_group,
    schedule_pulse,
    surveys_of,
)

ANA, BEN = "U0ANA", "U0BEN"
NOW = "2026-03-02 15:00:00"
CRISIS_ANSWERS = {"burnout": [5], "who5": [1, 1, 1, 1, 1], "group_worth": [2]}
EXTRA_RESOURCE = "Your hospital's confidential peer line *555-0100*"


def mentions(value: object, *needles: str) -> list[str]:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else json.dumps(value, default=str)
    return [needle for needle in needles if needle.lower() in text.lower()]


def target_of(call) -> str:  # noqa: ANN001
    args = call.args
    return str(args.get("channel") or args.get("channel_id") or args.get("users") or args.get("user_id") or args.get("user") or "")


# ---------------------------------------------------------------- crisis safety


def test_the_crisis_message_reaches_only_the_person_and_leaves_no_trace(slack, standin, engine, services, responses, caplog):
    from bot.domain.crisis import TABLE

    # A deployment's own lines replace the table's for its country: here the table's US lines plus one more.
    services.settings.compass_crisis_resources = ";".join([r.line() for r in TABLE["US"].resources] + [EXTRA_RESOURCE])
    services.settings.compass_emergency_number = "112"
    caplog.set_level(logging.INFO)
    for name in ("bot", "storage"):
        caplog.set_level(logging.DEBUG, logger=name)
    with frozen(NOW):
        enrol(engine, ANA)
        enrol(engine, BEN)
        schedule_pulse(engine, make_group(engine, [ANA, BEN], lead=BEN))
        from bot.runtime.clock import Clock

        Clock(services).tick()
        audit_before = _audit(engine)
        calls_before = len(standin.calls)
        caplog.clear()

        answer(slack, standin, ANA, CRISIS_ANSWERS)
        crisis = eventually(lambda: [m for m in standin.dm_messages(ANA) if "988" in m["text"] + json.dumps(m["blocks"])])
        eventually(lambda: any("out of 100" in json.dumps(m["blocks"]) for m in standin.dm_messages(ANA)))
        # The people who could be told, looking: the lead's and the admin's Home, and the admin's report.
        slack.event({"type": "app_home_opened", "user": BEN, "tab": "home", "channel": "D0BEN"})
        slack.event({"type": "app_home_opened", "user": ADMIN_ID, "tab": "home", "channel": "D0ADM"})
        slack.command(ADMIN_ID, "report")
        assert "sent the program report" in last_response(responses, slack)["text"]
        eventually(lambda: standin.home_view(BEN) and standin.home_view(ADMIN_ID))

    assert len(crisis) == 1
    text = crisis[0]["text"] + json.dumps(crisis[0]["blocks"])
    for expected in ("988", "1-888-409-0141", "555-0100", "call 112", "not monitored", "No one else has been told"):
        assert expected in text
    hers = {ANA, standin.dm_channel(ANA)}
    # Shown in the check-in message she tapped, edited (issue 15): the resources first, the scores below
    # them, and no new DM, so no notification that could show on a lock screen.
    blocks = json.dumps(crisis[0]["blocks"])
    assert blocks.index("988") < blocks.index("out of 100")
    assert len([m for m in standin.dm_messages(ANA) if "out of 100" in json.dumps(m["blocks"])]) == 1
    assert [c for c in standin.calls[calls_before:] if c.method == "chat.postMessage" and target_of(c) in hers] == []

    # Every Slack call since the answer that was not to the person herself mentions neither her nor the crisis.
    others = [c for c in standin.calls[calls_before:] if target_of(c) not in hers]
    assert others, "the admin and the lead did look"
    standing = _standing_resources(services)
    for call in others:
        args = _without_standing_resources(call.args, standing)
        assert mentions(args, ANA, "Ana Ruiz", "988", "1-888-409-0141", "crisis", "really hard") == [], call.method
    for upload in standin.files:
        assert mentions(upload["content"], ANA, "988") == []
    # Not in the audit log, not in the logs, not in the schedule.
    assert [e for e in _audit(engine) if e not in audit_before and mentions(e, ANA, "crisis", "survey", "burnout")] == []
    for record in caplog.records:
        assert mentions(record.getMessage(), ANA, "988", "crisis", "resources") == [], record.getMessage()
    with Session(engine) as session:
        for action in session.exec(select(ScheduledAction)):
            assert mentions([action.kind, action.key, action.payload], "crisis", "resources") == []


def _standing_resources(services) -> str:  # noqa: ANN001
    """The resources section every active member keeps on their Home tab (the same for everyone in a country)."""
    from bot.slack.render import render

    resources = services.settings.crisis_for("")
    return render("crisis_home.j2", crisis_resources=resources.lines(), emergency_number=resources.emergency_number,
                  country_name=resources.name)


def _without_standing_resources(args: dict, standing: str) -> dict:
    """A views.publish call's arguments without the standing resources section, which must be exactly that."""
    view = args.get("view")
    if view is None:
        return args
    view = json.loads(view) if isinstance(view, str) else view
    kept = []
    for block in view.get("blocks", []):
        text = (block.get("text") or {}).get("text", "")
        if text.startswith("*If things get hard*"):
            assert text == standing  # nothing about anyone in it
            continue
        kept.append(block)
    return {**args, "view": {**view, "blocks": kept}}


def _audit(engine) -> list[dict]:  # noqa: ANN001
    with Session(engine) as session:
        return [e.model_dump(exclude={"at"}) for e in session.exec(select(AuditEntry).order_by(AuditEntry.id))]


# ---------------------------------------------------------------- suppression


def test_reports_never_show_a_small_cell_nor_one_that_can_be_recovered(slack, standin, engine):
    rng = random.Random(11)
    departments = ["Medicine"] * 9 + ["Surgery"] * 5 + ["Pediatrics"] * 4 + ["Dermatology", "Genetics", "Radiology"]
    stages = ["PGY-1", "PGY-4", "ATTENDING-3", "ATTENDING-12", "ATTENDING-25"]
    people = {f"U{i:04d}": (rng.choice(departments), rng.choice(stages)) for i in range(70)}
    seed_people(engine, dict(list(people.items())[:35]), cohort="2025-fall")
    seed_people(engine, dict(list(people.items())[35:]), cohort="2026-spring")
    cohort = {user_id: ("2025-fall" if index < 35 else "2026-spring") for index, user_id in enumerate(people)}
    answers = [
        (user_id, datetime(2026, month, rng.randint(1, 27), 18, tzinfo=timezone.utc), "who5", 4 * rng.randint(2, 25))
        for user_id in people for month in (1, 2) if rng.random() < 0.85
    ]
    seed_answers(engine, answers)
    with frozen(NOW):
        slack.command(ADMIN_ID, "report")
        rows = list(csv.DictReader(io.StringIO(report_upload(standin, ".csv", prefix="compass-report-")["content"].decode("utf-8"))))
        eventually(lambda: slack.responses.messages(slack.last_response_url))
    message = next(m for m in standin.dm_messages(ADMIN_ID) if "Compass program report" in m["text"])
    assert min(shown_counts(json.dumps(message["blocks"]))) >= MIN_GROUP
    assert "Dermatology" not in json.dumps(message["blocks"])  # never shown, so left out

    for month in ("2026-01", "2026-02"):
        fine: dict[tuple[str, str, str], int] = {}
        for user_id in {a[0] for a in answers if a[1].strftime("%Y-%m") == month}:
            key = (cohort[user_id], people[user_id][0], career_stage_band(people[user_id][1]))
            fine[key] = fine.get(key, 0) + 1
        shown = [_Shown(r) for r in rows if r["metric"] == "who5_mean" and r["month"] == month and r["suppressed"] != "yes"]
        for cell in shown:
            assert int(cell.row["respondents"]) >= MIN_GROUP
        assert any(n < MIN_GROUP for n in fine.values())
        assert LinearAttacker(fine, shown, DIMENSIONS).small_disclosures(MIN_GROUP) == []


class _Shown:
    """A published CSV row as the attacker reads it: its table and key."""

    def __init__(self, row: dict):
        self.row = row
        self.table = () if row["breakdown"] == "overall" else tuple(row["breakdown"].split(" x "))
        self.key = tuple(row[name] for name in self.table)
        self.id = (self.table, self.key)


# ---------------------------------------------------------------- forget-me


def test_forget_me_keeps_published_months_and_leaves_the_person_out_of_later_ones(slack, standin, engine, services, responses):
    """A closed month once published never changes (the publication ledger), so a report before and
    after a forget-me cannot be subtracted to find the person; months published later leave them out."""
    medicine = {f"U9MED{i}": ("Medicine", "PGY-2") for i in range(5)}
    with frozen(NOW):
        seed_people(engine, medicine)
        seed_answers(engine, [(user, datetime(2026, month, 1, 12, tzinfo=timezone.utc), "who5", 40 + 8 * i)
                              for month in (2, 3) for i, user in enumerate(medicine)])
        join(slack, standin, engine)
        seed_answers(engine, [(ANA, datetime(2026, 2, 20, 12, tzinfo=timezone.utc), "who5", 100)], wave="ana")
        before = _overall_who5(slack, standin, "2026-02")
    with frozen("2026-03-03 14:00:00"):  # the baseline arrives the morning after joining
        from bot.runtime.clock import Clock

        Clock(services).tick()
        answer(slack, standin, ANA, dict(BASELINE_ANSWERS, who5=[5, 5, 5, 5, 5]))  # WHO-5 of 100, in March
        eventually(lambda: surveys_of(engine, ANA) and surveys_of(engine, ANA)[0].status == "completed")
        slack.command(ANA, "forget-me")
        # What stays: the monthly totals and the evaluation's results already published.
        assert "Monthly totals and 6- or 12-month evaluation results already reported to admins stay exactly as they " \
               "were published" in str(last_response(responses, slack))
        slack.action(ANA, "forget_me_confirm", "confirm")
        assert "deleted" in last_response(responses, slack)["text"]
        after = _overall_who5(slack, standin, "2026-02")
    with frozen("2026-04-02 15:00:00"):
        march = _overall_who5(slack, standin, "2026-03")
    # February as published with Ana (six people, shown as 5; mean 63.3 shown as a whole point) ...
    assert (before["respondents"], before["estimate"]) == ("5", "64.0")
    assert after == before  # ... is never revised
    # March, published after the erasure, has only the five others: mean 56.
    assert (march["respondents"], march["estimate"]) == ("5", "56.0")


def _overall_who5(slack, standin, month: str) -> dict:  # noqa: ANN001
    uploads = len([f for f in standin.files if f["filename"].startswith("compass-report-")])
    slack.command(ADMIN_ID, "report")
    upload = eventually(lambda: (c := [f for f in standin.files if f["filename"].startswith("compass-report-")]) and len(c) > uploads and c[-1])
    eventually(lambda: slack.responses.messages(slack.last_response_url))
    rows = csv.DictReader(io.StringIO(upload["content"].decode("utf-8")))
    return next(r for r in rows if r["metric"] == "who5_mean" and r["month"] == month and r["breakdown"] == "overall")


# ---------------------------------------------------------------- who may see reports


def test_nobody_but_an_admin_reaches_a_report(slack, standin, engine, services, responses):
    from bot.flows.admin_report import admin_home_section

    with frozen(NOW):
        seed_people(engine, {f"U9MED{i}": ("Medicine", "PGY-2") for i in range(6)})
        seed_answers(engine, [(f"U9MED{i}", datetime(2026, 2, 1, 12, tzinfo=timezone.utc), "who5", 60) for i in range(6)])
        enrol(engine, ANA)
        slack.command(ANA, "report")
        assert "Only Compass admins can do that" in last_response(responses, slack)["text"]
        slack.action(ANA, "admin_report_send", "send")
        eventually(lambda: any("Only Compass admins" in m["text"] for m in standin.dm_messages(ANA)))
        slack.event({"type": "app_home_opened", "user": ANA, "tab": "home", "channel": "D0ANA"})
        home = json.dumps(eventually(lambda: standin.home_view(ANA)))
        slack.command(ANA, "help")
        help_text = last_response(responses, slack)["text"]
    assert "Program report" not in home and "admin_report_send" not in home
    assert "/compass report" not in help_text
    assert standin.files == []
    assert not any("Compass program report" in m["text"] for m in standin.dm_messages(ANA))
    with Session(engine) as session:
        assert admin_home_section(services, session, team_id=TEAM_ID, user_id=ANA) == []
        assert session.exec(select(AuditEntry).where(AuditEntry.action.in_(("report_sent", "admin_report_home_viewed")))).all() == []
