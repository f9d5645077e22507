"""The topic catalogue: what a group talks about for the first 15 minutes of a session.

The built-in catalogue is ``bot/prompts/topics.toml``; an admin may add topics in a second
file with the same schema (``COMPASS_TOPICS_FILE``). Both are validated together and every
problem is reported at once as a :class:`Problem` (file, topic, field, message), so a broken
file stops the program with a readable list instead of a traceback.

Schema of one ``[[topic]]`` table (text is plain, never Slack markup; it is escaped when shown)::

    slug              lowercase words joined by hyphens, unique across both files
    title             up to 80 characters
    kind              "regular" (default), "introductions" or "closing"
    domains           1-3 names from DOMAINS; the first is the topic's primary domain
    audience          "residents", "attendings" or "all" (introductions and closing: "all")
    why               why this matters, one or two sentences
    questions         3-5 open discussion questions
    closing_question  one reflection question to end the topic
    [topic.exercise]  optional: name, instructions
    [[topic.sources]] at least one: authors, year, title, and doi (or, without a DOI, citation);
                      optional listed_year when the review's reference list prints another
                      year than the one the study appeared in

This module is pure: it imports neither Slack nor the database.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

BUILTIN_TOPICS_FILE = Path(__file__).parent.parent / "prompts" / "topics.toml"

AUDIENCES: tuple[str, ...] = ("residents", "attendings", "all")
KINDS: tuple[str, ...] = ("regular", "introductions", "closing")
SPECIAL_KINDS: tuple[str, ...] = ("introductions", "closing")

DOMAINS: dict[str, str] = {
    "meaning": "Meaning in work",
    "work-life": "Work–life integration",
    "community": "Community at work",
    "workload": "Workload and efficiency",
    "self-care": "Self-care",
    "resilience": "Resilience",
    "medical-error": "Medical error",
    "conflict": "Differences and conflict",
    "feedback": "Feedback",
    "leadership": "Leadership",
    "transitions": "Transitions",
    "moral-distress": "Moral distress",
    "boundaries": "Boundaries and priorities",
    "self-compassion": "Self-compassion",
    "gratitude-joy": "Gratitude and joy",
    "strengths": "Strengths",
    "mindfulness": "Mindfulness",
    "career-exams": "Career and exams",
    "help-seeking": "Asking for help",
}

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# A DOI as printed in a reference list; no characters that could break a Slack link.
DOI_PATTERN = re.compile(r"^10\.\d{4,9}/[^\s<>|]+$")

MAX_SLUG = 48
MAX_TITLE = 80
MAX_WHY = 400
MAX_WHY_SENTENCES = 2
MIN_QUESTIONS, MAX_QUESTIONS = 3, 5
MAX_QUESTION = 300
MAX_DOMAINS = 3
MAX_EXERCISE_NAME = 60
MAX_EXERCISE_INSTRUCTIONS = 700
MAX_SOURCE_TEXT = 600
MIN_YEAR, MAX_YEAR = 1900, 2100
# A rotation needs some variety: no two consecutive sessions may share a primary domain.
MIN_PRIMARY_DOMAINS_PER_AUDIENCE = 3

_TOPIC_KEYS = {"slug", "title", "kind", "domains", "audience", "why", "questions", "exercise", "closing_question", "sources"}
_REQUIRED_TOPIC_KEYS = ("slug", "title", "domains", "audience", "why", "questions", "closing_question", "sources")
_EXERCISE_KEYS = {"name", "instructions"}
_SOURCE_KEYS = {"authors", "year", "title", "doi", "citation", "listed_year"}
_SENTENCE_END = re.compile(r"[.!?](?:[\"'”’)]*)(?=\s|$)")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a topics file; ``topic`` is a slug or ``#n`` when there is none."""

    file: str
    topic: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.topic:
            where.append(f"topic {self.topic}")
        if self.field:
            where.append(f"field {self.field}")
        return f"{', '.join(where)}: {self.message}"


class CatalogueError(Exception):
    """The catalogue cannot be used; ``problems`` lists everything that is wrong."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        count = len(self.problems)
        lines = [f"the topic catalogue has {count} problem{'s' if count != 1 else ''}:"]
        lines += [f"  - {problem}" for problem in self.problems]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Exercise:
    name: str
    instructions: str


@dataclass(frozen=True)
class Source:
    """A study as it appears in a seed review's reference list."""

    authors: str
    year: int
    title: str
    doi: str | None = None
    citation: str | None = None
    # The year the seed review's reference list prints, when it is not the year the study appeared.
    listed_year: int | None = None

    @property
    def url(self) -> str | None:
        """The DOI as a link, only when it is a well-formed DOI (safe inside a Slack link)."""
        return f"https://doi.org/{self.doi}" if self.doi and DOI_PATTERN.match(self.doi) else None

    @property
    def short_label(self) -> str:
        """``West et al., 2021`` from ``West CP, Dyrbye LN, ...``."""
        people = [part.strip() for part in self.authors.split(",") if part.strip()]
        surname = people[0].split()[0] if people and people[0].split() else self.authors.strip()
        several = len(people) > 1
        return f"{surname}{' et al.' if several else ''}, {self.year}"

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"authors": self.authors, "year": self.year, "title": self.title}
        if self.doi:
            data["doi"] = self.doi
        if self.citation:
            data["citation"] = self.citation
        if self.listed_year is not None:
            data["listed_year"] = self.listed_year
        return data


@dataclass(frozen=True)
class Topic:
    slug: str
    title: str
    domains: tuple[str, ...]
    audience: str
    why: str
    questions: tuple[str, ...]
    closing_question: str
    sources: tuple[Source, ...]
    kind: str = "regular"
    exercise: Exercise | None = None
    origin: str = "built-in"  # or the path of the admin's file

    @property
    def primary_domain(self) -> str:
        return self.domains[0]

    @property
    def is_custom(self) -> bool:
        return self.origin != "built-in"

    def suits(self, audience: str) -> bool:
        """Residents' and attendings' groups get their own topics plus ``all``; mixed groups only ``all``."""
        return self.audience == "all" or self.audience == audience

    def as_dict(self) -> dict[str, object]:
        return {
            "slug": self.slug,
            "title": self.title,
            "kind": self.kind,
            "domains": list(self.domains),
            "audience": self.audience,
            "why": self.why,
            "questions": list(self.questions),
            "exercise": None if self.exercise is None else {"name": self.exercise.name, "instructions": self.exercise.instructions},
            "closing_question": self.closing_question,
            "sources": [source.as_dict() for source in self.sources],
            "origin": self.origin,
        }


@dataclass(frozen=True)
class Catalogue:
    """Topics in file order (built-in first); the order is the default progression of a cycle."""

    topics: tuple[Topic, ...]
    _by_slug: Mapping[str, Topic] = field(init=False, repr=False, compare=False)
    _position: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_slug", {topic.slug: topic for topic in self.topics})
        object.__setattr__(self, "_position", {topic.slug: index for index, topic in enumerate(self.topics)})

    def __len__(self) -> int:
        return len(self.topics)

    def __iter__(self):
        return iter(self.topics)

    def get(self, slug: str) -> Topic | None:
        return self._by_slug.get(slug)

    def position(self, slug: str) -> int:
        """The topic's place in the catalogue (used as the last, stable tie-break)."""
        return self._position[slug]

    def eligible(self, audience: str, kind: str | None = None) -> tuple[Topic, ...]:
        """Topics a group of this audience may have, optionally of one kind only."""
        if audience not in AUDIENCES:
            raise ValueError(f"audience must be one of {', '.join(AUDIENCES)}, got {audience!r}")
        return tuple(t for t in self.topics if t.suits(audience) and (kind is None or t.kind == kind))

    def slugs(self) -> tuple[str, ...]:
        return tuple(topic.slug for topic in self.topics)


def load_catalogue(extra_file: Path | str | None = None, *, builtin_file: Path = BUILTIN_TOPICS_FILE) -> Catalogue:
    """The built-in topics plus an admin's file; raises :class:`CatalogueError` listing every problem."""
    files = [Path(builtin_file)] + ([Path(extra_file)] if extra_file else [])
    topics, problems = _read_files(files)
    if problems:
        raise CatalogueError(problems)
    return Catalogue(tuple(topics))


def check_files(files: Sequence[Path | str]) -> list[Problem]:
    """Every problem in these files read together as one catalogue (empty when all is well)."""
    _, problems = _read_files([Path(f) for f in files])
    return problems


def _read_files(files: Sequence[Path]) -> tuple[list[Topic], list[Problem]]:
    topics: list[Topic] = []
    problems: list[Problem] = []
    first_defined: dict[str, str] = {}
    for index, path in enumerate(files):
        origin = "built-in" if index == 0 and path.resolve() == BUILTIN_TOPICS_FILE.resolve() else str(path)
        file_topics, file_problems = parse_topics_file(path, origin=origin)
        problems += file_problems
        for topic in file_topics:
            if topic.slug in first_defined:
                problems.append(
                    Problem(path.name, topic.slug, "slug", f"already defined in {first_defined[topic.slug]}; choose another slug")
                )
                continue
            first_defined[topic.slug] = path.name
            topics.append(topic)
    if not problems:
        problems += _catalogue_problems(topics)
    return topics, problems


def parse_topics_file(path: Path, *, origin: str | None = None) -> tuple[list[Topic], list[Problem]]:
    """Read one file; returns the valid topics and the problems of the invalid ones."""
    name = path.name
    try:
        raw = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return [], [Problem(name, None, None, f"file not found: {path}")]
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(name, None, None, f"cannot read {path}: {exc}")]
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        return [], [Problem(name, None, None, f"not valid TOML: {exc}")]
    return parse_topics_data(data, file=name, origin=origin or str(path))


def parse_topics_data(data: Mapping[str, Any], *, file: str, origin: str) -> tuple[list[Topic], list[Problem]]:
    problems: list[Problem] = []
    for key in sorted(set(data) - {"topic"}):
        problems.append(Problem(file, None, key, "unknown top-level key; topics go in [[topic]] tables"))
    entries = data.get("topic")
    if entries is None:
        problems.append(Problem(file, None, None, "no [[topic]] tables found"))
        return [], problems
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        problems.append(Problem(file, None, "topic", "must be written as [[topic]] tables"))
        return [], problems
    topics: list[Topic] = []
    for number, entry in enumerate(entries, start=1):
        topic, topic_problems = _parse_topic(entry, file=file, label=f"#{number}", origin=origin)
        problems += topic_problems
        if topic is not None:
            topics.append(topic)
    return topics, problems


class _TopicReader:
    """Collects the problems of one topic table while reading its fields."""

    def __init__(self, entry: Mapping[str, Any], *, file: str, label: str):
        self.entry = entry
        self.file = file
        slug = entry.get("slug")
        self.label = slug if isinstance(slug, str) and slug.strip() else label
        self.problems: list[Problem] = []

    def problem(self, field_name: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, self.label, field_name, message))

    def text(self, key: str, limit: int, value: Any = None, field_name: str | None = None) -> str:
        value = self.entry.get(key) if value is None else value
        field_name = field_name or key
        if not isinstance(value, str) or not value.strip():
            self.problem(field_name, "must be non-empty text")
            return ""
        value = " ".join(value.split())
        if len(value) > limit:
            self.problem(field_name, f"is {len(value)} characters; keep it to {limit}")
        return value


def _parse_topic(entry: Mapping[str, Any], *, file: str, label: str, origin: str) -> tuple[Topic | None, list[Problem]]:
    reader = _TopicReader(entry, file=file, label=label)
    for key in sorted(set(entry) - _TOPIC_KEYS):
        reader.problem(key, f"unknown field; expected one of {', '.join(sorted(_TOPIC_KEYS))}")
    for key in _REQUIRED_TOPIC_KEYS:
        if key not in entry:
            reader.problem(key, "is missing")

    slug = reader.text("slug", MAX_SLUG) if "slug" in entry else ""
    if slug and not SLUG_PATTERN.match(slug):
        reader.problem("slug", "use lowercase letters, digits and single hyphens, e.g. meaning-in-work")
    title = reader.text("title", MAX_TITLE) if "title" in entry else ""

    kind = entry.get("kind", "regular")
    if kind not in KINDS:
        reader.problem("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")

    audience = entry.get("audience")
    if "audience" in entry and audience not in AUDIENCES:
        reader.problem("audience", f"must be one of {', '.join(AUDIENCES)}, got {audience!r}")
    elif kind in SPECIAL_KINDS and audience != "all":
        reader.problem("audience", f"{kind} topics open or close every group's cycle, so their audience must be all")

    domains = _read_domains(reader) if "domains" in entry else ()

    why = reader.text("why", MAX_WHY) if "why" in entry else ""
    if why and len(_SENTENCE_END.findall(why)) > MAX_WHY_SENTENCES:
        reader.problem("why", f"keep it to {MAX_WHY_SENTENCES} sentences")

    questions = _read_questions(reader) if "questions" in entry else ()
    closing = reader.text("closing_question", MAX_QUESTION) if "closing_question" in entry else ""
    exercise = _read_exercise(reader) if "exercise" in entry else None
    sources = _read_sources(reader) if "sources" in entry else ()

    if reader.problems:
        return None, reader.problems
    topic = Topic(
        slug=slug,
        title=title,
        kind=kind,
        domains=domains,
        audience=audience,
        why=why,
        questions=questions,
        closing_question=closing,
        exercise=exercise,
        sources=sources,
        origin=origin,
    )
    return topic, []


def _read_domains(reader: _TopicReader) -> tuple[str, ...]:
    value = reader.entry["domains"]
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        reader.problem("domains", f"must be a list of 1 to {MAX_DOMAINS} domain names")
        return ()
    unknown = [item for item in value if item not in DOMAINS]
    for item in unknown:
        reader.problem("domains", f"unknown domain {item!r}; choose from {', '.join(DOMAINS)}")
    if len(value) > MAX_DOMAINS:
        reader.problem("domains", f"has {len(value)} domains; list at most {MAX_DOMAINS}, the main one first")
    if len(set(value)) != len(value):
        reader.problem("domains", "lists a domain twice")
    return tuple(value)


def _read_questions(reader: _TopicReader) -> tuple[str, ...]:
    value = reader.entry["questions"]
    if not isinstance(value, list):
        reader.problem("questions", f"must be a list of {MIN_QUESTIONS} to {MAX_QUESTIONS} questions")
        return ()
    if not MIN_QUESTIONS <= len(value) <= MAX_QUESTIONS:
        reader.problem("questions", f"needs {MIN_QUESTIONS} to {MAX_QUESTIONS} questions, found {len(value)}")
    questions = [reader.text("questions", MAX_QUESTION, item, f"questions[{n}]") for n, item in enumerate(value, start=1)]
    if len(set(questions)) != len(questions):
        reader.problem("questions", "repeats a question")
    return tuple(questions)


def _read_exercise(reader: _TopicReader) -> Exercise | None:
    value = reader.entry["exercise"]
    if not isinstance(value, dict):
        reader.problem("exercise", "must be a [topic.exercise] table with name and instructions")
        return None
    for key in sorted(set(value) - _EXERCISE_KEYS):
        reader.problem(f"exercise.{key}", "unknown field; expected name and instructions")
    name = reader.text("name", MAX_EXERCISE_NAME, value.get("name") or "", "exercise.name")
    instructions = reader.text("instructions", MAX_EXERCISE_INSTRUCTIONS, value.get("instructions") or "", "exercise.instructions")
    return Exercise(name, instructions)


def _read_sources(reader: _TopicReader) -> tuple[Source, ...]:
    value = reader.entry["sources"]
    if not isinstance(value, list) or not value or not all(isinstance(item, dict) for item in value):
        reader.problem("sources", "needs at least one [[topic.sources]] table (authors, year, title, doi or citation)")
        return ()
    sources = []
    for number, item in enumerate(value, start=1):
        prefix = f"sources[{number}]"
        for key in sorted(set(item) - _SOURCE_KEYS):
            reader.problem(f"{prefix}.{key}", f"unknown field; expected {', '.join(sorted(_SOURCE_KEYS))}")
        authors = reader.text("authors", MAX_SOURCE_TEXT, item.get("authors") or "", f"{prefix}.authors")
        title = reader.text("title", MAX_SOURCE_TEXT, item.get("title") or "", f"{prefix}.title")
        year = item.get("year")
        if isinstance(year, bool) or not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR:
            reader.problem(f"{prefix}.year", f"must be a year such as 2021, got {year!r}")
            year = 0
        listed_year = item.get("listed_year")
        if listed_year is not None and (
            isinstance(listed_year, bool) or not isinstance(listed_year, int) or not MIN_YEAR <= listed_year <= MAX_YEAR
        ):
            reader.problem(f"{prefix}.listed_year", f"must be a year such as 2012, got {listed_year!r}")
            listed_year = None
        doi = item.get("doi")
        citation = item.get("citation")
        if doi is None and citation is None:
            reader.problem(f"{prefix}.doi", "give the DOI, or a citation when the study has none")
        if doi is not None:
            if not isinstance(doi, str) or not DOI_PATTERN.match(doi.strip()):
                reader.problem(f"{prefix}.doi", f"must look like 10.1016/j.mayocp.2021.02.028, got {doi!r}")
                doi = None
            else:
                doi = doi.strip()
        if citation is not None:
            citation = reader.text("citation", MAX_SOURCE_TEXT, citation or "", f"{prefix}.citation") or None
        sources.append(
            Source(authors=authors, year=year, title=title, doi=doi, citation=citation, listed_year=listed_year)
        )
    return tuple(sources)


def _catalogue_problems(topics: Iterable[Topic]) -> list[Problem]:
    """Checks across files: every kind of group must be able to run a full cycle."""
    topics = list(topics)
    problems = []
    for audience in AUDIENCES:
        group = "mixed" if audience == "all" else audience
        suitable = [t for t in topics if t.suits(audience)]
        for kind in SPECIAL_KINDS:
            if not any(t.kind == kind for t in suitable):
                problems.append(Problem("catalogue", None, "kind", f"no {kind} topic: every cycle starts and ends with one"))
        primaries = {t.primary_domain for t in suitable if t.kind == "regular"}
        if len(primaries) < MIN_PRIMARY_DOMAINS_PER_AUDIENCE:
            problems.append(
                Problem(
                    "catalogue",
                    None,
                    "domains",
                    f"{group} groups' topics cover {len(primaries)} primary domains; "
                    f"need at least {MIN_PRIMARY_DOMAINS_PER_AUDIENCE} so sessions can vary",
                )
            )
    return list(dict.fromkeys(problems))


def domain_label(domain: str) -> str:
    return DOMAINS.get(domain, domain)
