"""``compass-bot topics list|show|check``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.domain.curriculum import load_catalogue

CATALOGUE = load_catalogue()

CUSTOM = """
[[topic]]
slug = "night-float-debrief"
title = "Debriefing after night float"
domains = ["workload", "community"]
audience = "residents"
why = "Night float is lonely. Talking it through helps."
questions = ["What was hardest this week?", "Who helped?", "What would you change?"]
closing_question = "What will you do to recover?"

[[topic.sources]]
authors = "Webb J, Brightwell A, Sarkar P, Rabbie R, Chakravorty I"
year = 2015
title = "Peer mentoring for core medical trainees: uptake and impact"
doi = "10.1136/postgradmedj-2014-132673"
"""

BROKEN = """
[[topic]]
slug = "night-float-debrief"
title = "Debriefing after night float"
domains = ["joy"]
audience = "residents"
why = "Night float is lonely."
questions = ["Only one?"]
closing_question = "What will you do to recover?"
"""


@pytest.fixture(autouse=True)
def no_topics_file(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("COMPASS_TOPICS_FILE", raising=False)


@pytest.fixture
def custom_file(tmp_path: Path) -> Path:
    path = tmp_path / "ours.toml"
    path.write_text(CUSTOM, encoding="utf-8")
    return path


@pytest.fixture
def broken_file(tmp_path: Path) -> Path:
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN, encoding="utf-8")
    return path


def test_list_prints_one_line_per_topic(capsys: pytest.CaptureFixture[str]):
    assert main(["topics", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(CATALOGUE)
    assert lines[0].startswith("introductions-what-brought-us-here ")
    assert any(line.startswith("exam-season ") and "residents" in line for line in lines)


def test_list_json_has_every_field(capsys: pytest.CaptureFixture[str]):
    assert main(["topics", "list", "--json"]) == 0
    topics = json.loads(capsys.readouterr().out)
    assert [t["slug"] for t in topics] == list(CATALOGUE.slugs())
    for topic in topics:
        assert {"slug", "title", "domains", "audience", "why", "questions", "closing_question", "exercise", "sources", "kind"} <= set(topic)
        assert topic["sources"] and all(("doi" in s) != ("citation" in s) for s in topic["sources"])
        assert all({"authors", "year", "title"} <= set(s) for s in topic["sources"])


@pytest.mark.parametrize("audience, excluded", [("residents", "attendings"), ("attendings", "residents")])
def test_list_by_audience(capsys: pytest.CaptureFixture[str], audience: str, excluded: str):
    assert main(["topics", "list", "--json", "--audience", audience]) == 0
    audiences = {t["audience"] for t in json.loads(capsys.readouterr().out)}
    assert audiences == {audience, "all"}


def test_list_for_mixed_groups_is_only_topics_for_everyone(capsys: pytest.CaptureFixture[str]):
    assert main(["topics", "list", "--json", "--audience", "all"]) == 0
    assert {t["audience"] for t in json.loads(capsys.readouterr().out)} == {"all"}


def test_list_includes_the_admins_file(capsys, monkeypatch, custom_file: Path):
    monkeypatch.setenv("COMPASS_TOPICS_FILE", str(custom_file))
    assert main(["topics", "list", "--json", "--audience", "residents"]) == 0
    topics = {t["slug"]: t for t in json.loads(capsys.readouterr().out)}
    assert topics["night-float-debrief"]["origin"] == str(custom_file)


def test_show_prints_the_whole_topic(capsys: pytest.CaptureFixture[str]):
    topic = CATALOGUE.get("mentors-at-every-stage")
    assert main(["topics", "show", "mentors-at-every-stage"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for text in (topic.title, topic.why, *topic.questions, topic.closing_question, "Audience: attendings"):
        assert " ".join(text.split()) in out
    assert "https://doi.org/10.1016/j.ijrobp.2022.05.012" in out
    assert "Can Fam Physician. 2018;64(11):861-862." in out


def test_show_unknown_topic_suggests_close_slugs(capsys: pytest.CaptureFixture[str]):
    assert main(["topics", "show", "exam-seasn"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == "compass-bot: there is no topic 'exam-seasn'. Did you mean: exam-season?"


def test_check_builtin(capsys: pytest.CaptureFixture[str]):
    assert main(["topics", "check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK: {len(CATALOGUE)} built-in topics.")


def test_check_a_valid_file(capsys, custom_file: Path):
    assert main(["topics", "check", str(custom_file)]) == 0
    assert f"and 1 from {custom_file}" in capsys.readouterr().out


def test_check_a_broken_file_lists_every_problem(capsys, broken_file: Path):
    assert main(["topics", "check", str(broken_file)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert lines[0] == "compass-bot: 3 problems in the topics:"
    assert any("broken.toml, topic night-float-debrief, field domains: unknown domain 'joy'" in line for line in lines)
    assert any("field questions: needs 3 to 5 questions, found 1" in line for line in lines)
    assert any("field sources: is missing" in line for line in lines)
    assert "Traceback" not in captured.err


def test_check_uses_the_environment_variable(capsys, monkeypatch, broken_file: Path):
    monkeypatch.setenv("COMPASS_TOPICS_FILE", str(broken_file))
    assert main(["topics", "check"]) == 1
    assert "broken.toml" in capsys.readouterr().err


def test_check_missing_file(capsys, tmp_path: Path):
    assert main(["topics", "check", str(tmp_path / "absent.toml")]) == 1
    assert "absent.toml: file not found" in capsys.readouterr().err


def test_broken_admin_file_stops_list_and_show_without_a_traceback(capsys, monkeypatch, broken_file: Path):
    monkeypatch.setenv("COMPASS_TOPICS_FILE", str(broken_file))
    for argv in (["topics", "list"], ["topics", "show", "three-good-things"]):
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith("compass-bot: the topic catalogue has 3 problems:")
        assert "Traceback" not in captured.err


def test_topics_without_an_action_prints_usage(capsys: pytest.CaptureFixture[str]):
    assert main(["topics"]) == 2
    assert "list" in capsys.readouterr().err
