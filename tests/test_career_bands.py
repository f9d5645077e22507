"""Groups are formed within one career band by default (issue 16, error 2).

COMPASS enrolled practising physicians; trainees speak more freely away from the attendings who
evaluate them. Mixed groups are an admin's explicit choice, and even then a resident never shares
a group with an attending of their own department.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from itertools import combinations

import pytest

from bot.cli import groups as groups_cli
from bot.domain.availability import parse_windows
from bot.domain.group_formation import FormationSettings, career_track, form_groups
from bot.domain.people import CareerStage, Person
from bot.domain.roster import roster_csv

WEEK = date(2025, 4, 7)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="compass-bot")
    groups_cli.register(root.add_subparsers(dest="command"))
    return root


def doctor(user_id: str, stage: str, department: str, *, lead: bool = True) -> Person:
    return Person(
        user_id=user_id,
        display_name=user_id,
        career_stage=CareerStage.parse(stage) if stage else None,
        specialty="Internal Medicine",
        department=department,
        timezone="America/Chicago",
        lead_willing=lead,
        availability=parse_windows("Tue 18:00-20:00"),
    )


def mixed_roster(residents: int = 12, attendings: int = 12) -> list[Person]:
    """The issue's 24-person roster: residents and attendings of three departments, all free on Tuesday."""
    departments = ("Medicine", "Surgery", "Paediatrics")
    return [doctor(f"UR{i:02d}", f"PGY-{1 + i % 4}", departments[i % 3]) for i in range(residents)] + [
        doctor(f"UA{i:02d}", f"ATTENDING-{2 + 3 * i}", departments[i % 3]) for i in range(attendings)
    ]


def tracks_of(group, people: list[Person]) -> set[str | None]:
    by_id = {p.user_id: p for p in people}
    return {career_track(by_id[m].career_stage) for m in group.members}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_by_default_every_group_is_one_career_band(seed):
    people = mixed_roster()
    result = form_groups(people, FormationSettings(seed=seed), week_of=WEEK)
    assert sorted(m for g in result.groups for m in g.members) == sorted(p.user_id for p in people)
    for group in result.groups:
        assert len(tracks_of(group, people)) == 1
        assert group.career_band in ("residents", "attendings")
        assert 6 <= len(group.members) <= 8
    assert sorted(g.career_band for g in result.groups) == ["attendings", "attendings", "residents", "residents"]
    assert result.warnings == []


def test_mixing_is_an_explicit_choice_and_keeps_residents_from_their_own_departments_attendings():
    people = mixed_roster()
    result = form_groups(people, FormationSettings(career_bands="mixed"), week_of=WEEK)
    by_id = {p.user_id: p for p in people}
    assert any(g.career_band == "mixed" for g in result.groups)
    for group in result.groups:
        for a, b in combinations(group.members, 2):
            pa, pb = by_id[a], by_id[b]
            if pa.career_stage.is_trainee != pb.career_stage.is_trainee:
                assert pa.department != pb.department, (group.name, a, b)
    assert result.objective.conflicts == 0


def test_a_mixed_group_that_cannot_keep_departments_apart_is_reported():
    people = [doctor(f"UR{i}", "PGY-2", "Medicine") for i in range(5)] + [doctor("UA0", "ATTENDING-9", "Medicine")]
    result = form_groups(people, FormationSettings(career_bands="mixed"), week_of=WEEK)
    assert result.objective.conflicts == 5
    (group,) = result.groups
    assert any("attending in the resident's department" in w for w in group.warnings)


def test_a_band_too_small_for_a_group_is_placed_and_explained():
    people = mixed_roster(residents=12, attendings=3)
    result = form_groups(people, week_of=WEEK)
    attendings = [g for g in result.groups if g.career_band == "attendings"]
    assert len(attendings) == 1 and len(attendings[0].members) == 3
    assert all(len(tracks_of(g, people)) == 1 for g in result.groups)
    assert any("only 3 attendings, too few for a group of their own" in w for w in result.warnings)
    assert any(w.startswith("among the 3 attendings: only 3 people to place") for w in result.warnings)


def test_people_without_a_career_stage_are_never_put_with_residents_or_attendings():
    people = mixed_roster(residents=6, attendings=6) + [doctor(f"UX{i}", "", "Medicine") for i in range(6)]
    result = form_groups(people, week_of=WEEK)
    assert sorted(str(g.career_band) for g in result.groups) == ["None", "attendings", "residents"]
    assert [g.name for g in result.groups] == ["Group 1", "Group 2", "Group 3"]


def test_unknown_career_band_setting_is_refused():
    with pytest.raises(ValueError, match="career bands"):
        FormationSettings(career_bands="sometimes")


def test_cli_dry_run_json_forms_single_band_groups_by_default(tmp_path, capsys):
    people = mixed_roster()
    path = tmp_path / "roster.csv"
    path.write_text(roster_csv([(p, f"{p.user_id.lower()}@example.org") for p in people]), encoding="utf-8")

    def form(*extra: str) -> list[dict]:
        args = parser().parse_args(["groups", "form", "--roster", str(path), "--dry-run", "--json", *extra])
        assert args.handler(args) == 0
        return json.loads(capsys.readouterr().out)["groups"]

    default = form()
    assert len(default) == 4
    for group in default:
        assert {m[:2] for m in group["members"]} in ({"UR"}, {"UA"})
        assert group["career_band"] == {"UR": "residents", "UA": "attendings"}[group["members"][0][:2]]
    mixed = form("--career-bands", "mixed")
    assert any({m[:2] for m in group["members"]} == {"UR", "UA"} for group in mixed)
