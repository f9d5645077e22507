"""The topic catalogue: the built-in topics, their citations, and validation of admins' files."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from bot.domain.curriculum import (
    BUILTIN_TOPICS_FILE,
    DOMAINS,
    Catalogue,
    CatalogueError,
    Problem,
    Source,
    check_files,
    load_catalogue,
)

SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"
CATALOGUE = load_catalogue()


def custom_topic(slug: str = "night-float-debrief", **overrides: str) -> str:
    """One valid [[topic]] table in TOML; ``overrides`` replace whole lines by key."""
    fields = {
        "slug": f'slug = "{slug}"',
        "title": 'title = "Debriefing after night float"',
        "domains": 'domains = ["workload", "community"]',
        "audience": 'audience = "residents"',
        "why": 'why = "Night float is lonely. Talking it through helps."',
        "questions": 'questions = ["What was hardest this week?", "Who helped?", "What would you change?"]',
        "closing_question": 'closing_question = "What will you do to recover?"',
        "kind": "",
    }
    sources = overrides.pop(
        "sources",
        textwrap.dedent(
            """
            [[topic.sources]]
            authors = "Webb J, Brightwell A, Sarkar P, Rabbie R, Chakravorty I"
            year = 2015
            title = "Peer mentoring for core medical trainees: uptake and impact"
            doi = "10.1136/postgradmedj-2014-132673"
            """
        ),
    )
    fields.update(overrides)
    body = "\n".join(line for line in fields.values() if line)
    return f"[[topic]]\n{body}\n{sources}\n"


def write(tmp_path: Path, text: str, name: str = "extra.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_for(tmp_path: Path, text: str) -> list[Problem]:
    return check_files([BUILTIN_TOPICS_FILE, write(tmp_path, text)])


# The built-in catalogue ------------------------------------------------------------------


def test_builtin_catalogue_is_valid_and_large_enough():
    assert check_files([BUILTIN_TOPICS_FILE]) == []
    assert len(CATALOGUE) >= 30
    assert len(set(CATALOGUE.slugs())) == len(CATALOGUE)


def test_each_audience_has_its_own_topics():
    regular = [t for t in CATALOGUE if t.kind == "regular"]
    assert sum(t.audience == "residents" for t in regular) >= 6
    assert sum(t.audience == "attendings" for t in regular) >= 6
    assert sum(t.audience == "all" for t in regular) >= 12


def test_every_topic_has_the_full_schema():
    for topic in CATALOGUE:
        assert topic.title and topic.why and topic.closing_question, topic.slug
        assert 3 <= len(topic.questions) <= 5, topic.slug
        assert 1 <= len(topic.domains) <= 3 and set(topic.domains) <= set(DOMAINS), topic.slug
        assert topic.audience in ("residents", "attendings", "all"), topic.slug
        assert topic.sources and all(s.doi or s.citation for s in topic.sources), topic.slug
        assert all(q.strip().endswith("?") or q.strip().endswith(".") for q in topic.questions), topic.slug


def test_cycles_can_open_and_close_with_special_topics():
    for kind in ("introductions", "closing"):
        special = [t for t in CATALOGUE if t.kind == kind]
        assert len(special) >= 2, kind
        assert all(t.audience == "all" for t in special)
        # Different primary domains, so one always fits after any previous session.
        assert len({t.primary_domain for t in special}) >= 2


def test_residents_topics_cover_the_residency_themes():
    residents = [t for t in CATALOGUE if t.audience == "residents"]
    text = " ".join(f"{t.title} {t.why} {' '.join(t.questions)}".lower() for t in residents)
    for word in ("rotation", "call", "exam", "moral distress", "senior"):
        assert word in text, word
    domains = {d for t in residents for d in t.domains}
    assert {"transitions", "moral-distress", "career-exams"} <= domains


def test_attendings_topics_cover_the_early_career_transition():
    attendings = [t for t in CATALOGUE if t.audience == "attendings"]
    assert sum("transitions" in t.domains for t in attendings) >= 2
    cited = {s.doi for t in attendings for s in t.sources}
    assert "10.1136/bmjopen-2017-018583" in cited  # Gordon 2017: trainee to trained doctor


def test_topics_cover_the_curricula_the_reviews_name():
    covered = {d for t in CATALOGUE for d in t.domains}
    assert covered == set(DOMAINS)


# Sources against the seed reference lists ------------------------------------------------


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[*<>]", "", text).split())


def _reference_entries() -> list[str]:
    """Each numbered entry of every seed's reference list, continuation lines joined."""
    entries: list[str] = []
    for path in sorted(SEEDS.glob("*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()
        starts = [i for i, line in enumerate(lines) if line.strip() == "References"]
        if not starts:
            continue
        current: list[str] = []
        for line in lines[starts[-1] + 1 :]:
            if re.match(r"^\s*\d+\.(\s|$)", line):
                if current:
                    entries.append(_normalise(" ".join(current)))
                current = [re.sub(r"^\s*\d+\.\s*", "", line)]
            elif current:
                current.append(re.sub(r"^\s*-\s+", "", line))
        if current:
            entries.append(_normalise(" ".join(current)))
    return entries


ALL_SOURCES = sorted({source for topic in CATALOGUE for source in topic.sources}, key=lambda s: (s.authors, s.year, s.title))


@pytest.fixture(scope="module")
def reference_entries() -> list[str]:
    if not SEEDS.is_dir():
        pytest.skip(f"seed reference lists not found at {SEEDS}; cannot check the citations here")
    entries = _reference_entries()
    assert len(entries) > 50, "the seed reference lists did not parse"
    return entries


@pytest.mark.parametrize("source", ALL_SOURCES, ids=lambda s: f"{s.authors.split()[0]}-{s.year}")
def test_source_is_cited_exactly_as_in_a_seed_reference_list(source: Source, reference_entries: list[str]):
    if source.doi:
        matches = [entry for entry in reference_entries if source.doi in entry]
        assert matches, f"DOI {source.doi} is not in any seed reference list"
    else:
        matches = [entry for entry in reference_entries if _normalise(source.citation or "") in entry]
        assert matches, f"citation {source.citation!r} is not in any seed reference list"
    exact = [
        entry
        for entry in matches
        if _normalise(source.authors) in entry
        and _normalise(source.title) in entry
        and str(source.listed_year or source.year) in entry
    ]
    assert exact, f"authors, title or year differ from the reference list: {matches}"


def test_each_source_of_a_topic_is_distinct():
    for topic in CATALOGUE:
        keys = [(s.doi or s.citation) for s in topic.sources]
        assert len(keys) == len(set(keys)), topic.slug


def test_source_short_label():
    assert Source("West CP, Dyrbye LN, Satele DV, Shanafelt TD", 2021, "COMPASS", doi="10.1000/x").short_label == "West et al., 2021"
    abbasi = Source("Abbasi J", 2022, "Pushed", doi="10.1001/jama.2022.5074")
    assert abbasi.short_label == "Abbasi, 2022"
    assert abbasi.url == "https://doi.org/10.1001/jama.2022.5074"
    assert Source("Abbasi J", 2022, "Pushed", doi="10.1/x|<!channel>").url is None


# Admins' files ---------------------------------------------------------------------------


def test_custom_file_adds_topics(tmp_path: Path):
    path = write(tmp_path, custom_topic() + custom_topic("attending-debrief", audience='audience = "attendings"'))
    catalogue = load_catalogue(path)
    assert len(catalogue) == len(CATALOGUE) + 2
    topic = catalogue.get("night-float-debrief")
    assert topic is not None and topic.is_custom and topic.origin == str(path)
    assert topic in catalogue.eligible("residents")
    assert topic not in catalogue.eligible("attendings")
    assert topic not in catalogue.eligible("all")
    assert all(not t.is_custom for t in CATALOGUE)


def test_unknown_audience_is_refused():
    with pytest.raises(ValueError):
        CATALOGUE.eligible("students")


BROKEN = [
    pytest.param(custom_topic(domains='domains = ["joy"]'), "domains", "unknown domain 'joy'", id="unknown-domain"),
    pytest.param(custom_topic(questions='questions = ["Only one?"]'), "questions", "needs 3 to 5 questions, found 1", id="too-few-questions"),
    pytest.param(
        custom_topic(questions='questions = ["a?", "b?", "c?", "d?", "e?", "f?"]'), "questions", "found 6", id="too-many-questions"
    ),
    pytest.param(custom_topic(audience='audience = "students"'), "audience", "must be one of", id="bad-audience"),
    pytest.param(custom_topic(title=""), "title", "is missing", id="missing-title"),
    pytest.param(custom_topic(title='title = "   "'), "title", "non-empty", id="blank-title"),
    pytest.param(custom_topic(title=f'title = "{"x" * 81}"'), "title", "keep it to 80", id="long-title"),
    pytest.param(custom_topic(why='why = "One. Two. Three."'), "why", "2 sentences", id="why-too-long"),
    pytest.param(custom_topic(kind='kind = "welcome"'), "kind", "must be one of", id="bad-kind"),
    pytest.param(custom_topic(kind='kind = "introductions"'), "audience", "must be all", id="special-not-for-all"),
    pytest.param(custom_topic(extra='questons = ["typo?"]'), "questons", "unknown field", id="unknown-field"),
    pytest.param(custom_topic(sources=""), "sources", "is missing", id="no-sources"),
    pytest.param(
        custom_topic(sources='[[topic.sources]]\nauthors = "A B"\nyear = 2020\ntitle = "T"\n'),
        "sources[1].doi",
        "give the DOI",
        id="source-without-doi",
    ),
    pytest.param(
        custom_topic(sources='[[topic.sources]]\nauthors = "A B"\nyear = 2020\ntitle = "T"\ndoi = "doi:10.1/x|y"\n'),
        "sources[1].doi",
        "must look like",
        id="bad-doi",
    ),
    pytest.param(
        custom_topic(sources='[[topic.sources]]\nauthors = "A B"\nyear = "2020"\ntitle = "T"\ndoi = "10.1/x"\n'),
        "sources[1].year",
        "must be a year",
        id="year-as-text",
    ),
]


@pytest.mark.parametrize("text, field, message", BROKEN)
def test_broken_topic_reports_file_topic_and_field(tmp_path: Path, text: str, field: str, message: str):
    problems = problems_for(tmp_path, text)
    assert problems, "expected a problem"
    assert any(p.file == "extra.toml" and p.topic == "night-float-debrief" and p.field == field and message in p.message for p in problems), problems


def test_bad_slug_is_reported_under_the_slug(tmp_path: Path):
    problems = problems_for(tmp_path, custom_topic("Night Float!"))
    assert [(p.topic, p.field) for p in problems] == [("Night Float!", "slug")]


def test_topic_without_slug_is_named_by_position(tmp_path: Path):
    problems = problems_for(tmp_path, custom_topic() + custom_topic(slug="x").replace('slug = "x"\n', ""))
    assert [(p.topic, p.field, p.message) for p in problems] == [("#2", "slug", "is missing")]


def test_duplicate_of_a_builtin_slug(tmp_path: Path):
    problems = problems_for(tmp_path, custom_topic("three-good-things"))
    assert [(p.topic, p.field) for p in problems] == [("three-good-things", "slug")]
    assert "already defined in topics.toml" in problems[0].message


def test_invalid_toml_names_the_line(tmp_path: Path):
    problems = problems_for(tmp_path, '[[topic]]\nslug = "a"\ntitle = "unterminated\n')
    assert len(problems) == 1
    assert problems[0].file == "extra.toml" and problems[0].topic is None
    assert "not valid TOML" in problems[0].message and "line 3" in problems[0].message


def test_missing_file(tmp_path: Path):
    problems = check_files([BUILTIN_TOPICS_FILE, tmp_path / "nope.toml"])
    assert [(p.file, p.message.split(":")[0]) for p in problems] == [("nope.toml", "file not found")]


def test_file_without_topics(tmp_path: Path):
    problems = problems_for(tmp_path, 'title = "oops"\n')
    assert {(p.field, p.message) for p in problems} == {
        ("title", "unknown top-level key; topics go in [[topic]] tables"),
        (None, "no [[topic]] tables found"),
    }


def test_every_problem_is_listed_at_once(tmp_path: Path):
    text = (
        custom_topic("first", domains='domains = ["joy"]', questions='questions = ["One?"]')
        + custom_topic("second", audience='audience = "everyone"')
        + custom_topic("third")
    )
    path = write(tmp_path, text)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    found = {(p.topic, p.field) for p in caught.value.problems}
    assert found == {("first", "domains"), ("first", "questions"), ("second", "audience")}
    message = str(caught.value)
    assert message.startswith("the topic catalogue has 3 problems:")
    assert "extra.toml, topic first, field domains: unknown domain 'joy'" in message
    assert "Traceback" not in message


def test_catalogue_level_checks_need_variety(tmp_path: Path):
    builtin = write(tmp_path, custom_topic("only-one"), "builtin.toml")
    problems = check_files([builtin])
    messages = {p.message for p in problems}
    assert "no introductions topic: every cycle starts and ends with one" in messages
    assert "no closing topic: every cycle starts and ends with one" in messages
    assert any("primary domains" in m for m in messages)


def test_catalogue_keeps_file_order():
    catalogue = Catalogue(CATALOGUE.topics[:3])
    assert [catalogue.position(t.slug) for t in catalogue] == [0, 1, 2]
    assert catalogue.get("no-such-topic") is None
