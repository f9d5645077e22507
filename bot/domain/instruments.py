"""Survey instruments as data: loaded from ``bot/prompts/instruments.toml`` and validated.

The data file holds each instrument's wording, response options, scoring rule,
cut-offs, published reliability and licence note (its header documents the
fields). Everything that Slack or the scoring rules would reject later is
rejected here, at load time, with the path of the offending field: option text
over Slack's 75 characters, more options than radio buttons allow, cut-offs
outside the instrument's range, a reliability on a single item, and so on.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

OPTION_TEXT_LIMIT = 75  # Slack option text and description
ITEM_TEXT_LIMIT = 2000  # Slack input block label
MAX_OPTIONS = 10  # Slack radio buttons
MODAL_TITLE_LIMIT = 24
COMPARATORS = ("at_least", "at_most", "below", "above", "equals")
_SYMBOLS = {"at_least": "≥", "at_most": "≤", "below": "<", "above": ">", "equals": "="}
# Block ids are "<instrument>__<item>", so an id may not contain a double underscore.
_ID = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")

_INSTRUMENT_KEYS = {
    "title", "stem", "items", "options", "multiplier", "higher_is_better", "bands", "flags",
    "reliability", "reliability_source", "reference_sd", "reference_sd_source",
    "personal_feedback", "source", "licence",
}
_SURVEY_KEYS = {"title", "minutes", "instruments"}


class InstrumentError(ValueError):
    """The instrument data is invalid; the message starts with the field's path."""


class UnknownInstrument(LookupError):
    pass


@dataclass(frozen=True)
class Rule:
    """A comparison of an instrument's reported value with a threshold."""

    comparator: str
    threshold: float

    def matches(self, value: float) -> bool:
        t = self.threshold
        return {
            "at_least": value >= t,
            "at_most": value <= t,
            "below": value < t,
            "above": value > t,
            "equals": value == t,
        }[self.comparator]

    def __str__(self) -> str:
        return f"{_SYMBOLS[self.comparator]} {self.threshold:g}"


@dataclass(frozen=True)
class Option:
    value: int
    label: str
    description: str | None = None


@dataclass(frozen=True)
class Band:
    label: str
    rule: Rule | None  # None only for the last, catch-all band


@dataclass(frozen=True)
class Flag:
    id: str
    label: str
    rule: Rule
    crisis: bool = False


@dataclass(frozen=True)
class Instrument:
    id: str
    title: str
    items: tuple[str, ...]
    options: tuple[Option, ...]
    multiplier: int
    higher_is_better: bool
    source: str
    licence: str
    stem: str | None = None
    bands: tuple[Band, ...] = ()
    flags: tuple[Flag, ...] = ()
    reliability: float | None = None
    reliability_source: str | None = None
    reference_sd: float | None = None
    reference_sd_source: str | None = None
    personal_feedback: bool = True

    @property
    def option_values(self) -> frozenset[int]:
        return frozenset(option.value for option in self.options)

    @property
    def is_single_item(self) -> bool:
        return len(self.items) == 1

    @property
    def minimum(self) -> int:
        """The lowest value on the reporting scale."""
        return len(self.items) * min(self.option_values) * self.multiplier

    @property
    def maximum(self) -> int:
        """The highest value on the reporting scale."""
        return len(self.items) * max(self.option_values) * self.multiplier

    def band_for(self, value: float) -> str | None:
        for band in self.bands:
            if band.rule is None or band.rule.matches(value):
                return band.label
        return None

    def flags_for(self, value: float) -> frozenset[str]:
        return frozenset(flag.id for flag in self.flags if flag.rule.matches(value))

    def flag(self, flag_id: str) -> Flag:
        for flag in self.flags:
            if flag.id == flag_id:
                return flag
        raise UnknownInstrument(f"instrument {self.id!r} has no flag {flag_id!r}")


SECONDS_PER_QUESTION = 15  # a tap on a five-point scale after reading the question, on a phone


@dataclass(frozen=True)
class Survey:
    """One kind of survey (baseline, follow-up, pulse): a titled list of instruments."""

    id: str
    title: str
    minutes: int
    instruments: tuple[str, ...]
    questions: int = 0  # items of all its instruments: what the invitation says it asks

    def length_text(self) -> str:
        """Its real length, as every invitation states it: "11 questions, about 3 minutes"."""
        return f"{self.questions} question{'s' if self.questions != 1 else ''}, about {self.minutes} minute{'s' if self.minutes != 1 else ''}"


@dataclass(frozen=True)
class Catalogue:
    instruments: Mapping[str, Instrument]
    surveys: Mapping[str, Survey]

    def instrument(self, instrument_id: str) -> Instrument:
        try:
            return self.instruments[instrument_id]
        except KeyError:
            known = ", ".join(sorted(self.instruments))
            raise UnknownInstrument(f"unknown instrument {instrument_id!r} (known: {known})") from None

    def survey(self, survey_id: str) -> Survey:
        try:
            return self.surveys[survey_id]
        except KeyError:
            known = ", ".join(sorted(self.surveys))
            raise UnknownInstrument(f"unknown survey {survey_id!r} (known: {known})") from None

    @property
    def crisis_flags(self) -> dict[str, tuple[str, ...]]:
        """Instrument id -> the ids of its flags that trigger the crisis message."""
        return {
            instrument.id: tuple(flag.id for flag in instrument.flags if flag.crisis)
            for instrument in self.instruments.values()
            if any(flag.crisis for flag in instrument.flags)
        }


def parse_catalogue(data: Mapping[str, Any]) -> Catalogue:
    """Validate parsed TOML data and build the catalogue."""
    _no_unknown_keys(data, {"instruments", "surveys"}, "")
    raw_instruments = _table(data.get("instruments"), "instruments")
    if not raw_instruments:
        raise InstrumentError("instruments: at least one instrument is required")
    instruments = {
        instrument_id: _parse_instrument(instrument_id, _table(raw, f"instruments.{instrument_id}"))
        for instrument_id, raw in raw_instruments.items()
    }
    raw_surveys = _table(data.get("surveys", {}), "surveys")
    surveys = {
        survey_id: _parse_survey(survey_id, _table(raw, f"surveys.{survey_id}"), instruments)
        for survey_id, raw in raw_surveys.items()
    }
    return Catalogue(instruments=instruments, surveys=surveys)


def load_catalogue(text: str) -> Catalogue:
    """Parse and validate instrument data given as TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InstrumentError(f"instruments.toml is not valid TOML: {exc}") from exc
    return parse_catalogue(data)


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The catalogue shipped in ``bot/prompts/instruments.toml`` (loaded once)."""
    text = resources.files("bot").joinpath("prompts", "instruments.toml").read_text(encoding="utf-8")
    return load_catalogue(text)


def _parse_instrument(instrument_id: str, raw: Mapping[str, Any]) -> Instrument:
    path = f"instruments.{instrument_id}"
    _check_id(instrument_id, path)
    _no_unknown_keys(raw, _INSTRUMENT_KEYS, path)

    items = _list(raw.get("items"), f"{path}.items")
    if not items:
        raise InstrumentError(f"{path}.items: at least one item is required")
    item_texts = tuple(_text(item, f"{path}.items[{i}]", ITEM_TEXT_LIMIT) for i, item in enumerate(items))

    raw_options = _list(raw.get("options"), f"{path}.options")
    if not 2 <= len(raw_options) <= MAX_OPTIONS:
        raise InstrumentError(f"{path}.options: need 2 to {MAX_OPTIONS} options, got {len(raw_options)}")
    options = tuple(_parse_option(_table(o, f"{path}.options[{i}]"), f"{path}.options[{i}]") for i, o in enumerate(raw_options))
    values = [option.value for option in options]
    if len(set(values)) != len(values):
        raise InstrumentError(f"{path}.options: option values must be distinct, got {values}")

    multiplier = raw.get("multiplier", 1)
    if not isinstance(multiplier, int) or isinstance(multiplier, bool) or multiplier < 1:
        raise InstrumentError(f"{path}.multiplier: must be a positive integer, got {multiplier!r}")

    instrument = Instrument(
        id=instrument_id,
        title=_text(raw.get("title"), f"{path}.title", OPTION_TEXT_LIMIT),
        stem=_text(raw["stem"], f"{path}.stem", ITEM_TEXT_LIMIT) if "stem" in raw else None,
        items=item_texts,
        options=options,
        multiplier=multiplier,
        higher_is_better=_bool(raw.get("higher_is_better"), f"{path}.higher_is_better"),
        source=_text(raw.get("source"), f"{path}.source"),
        licence=_text(raw.get("licence"), f"{path}.licence"),
        personal_feedback=_bool(raw.get("personal_feedback", True), f"{path}.personal_feedback"),
    )
    low, high = instrument.minimum, instrument.maximum

    bands = tuple(
        _parse_band(_table(b, f"{path}.bands[{i}]"), f"{path}.bands[{i}]", low, high)
        for i, b in enumerate(_list(raw.get("bands", []), f"{path}.bands"))
    )
    for i, band in enumerate(bands):
        is_last = i == len(bands) - 1
        if is_last and band.rule is not None:
            raise InstrumentError(f"{path}.bands[{i}]: the last band must have no rule so every value has a band")
        if not is_last and band.rule is None:
            raise InstrumentError(f"{path}.bands[{i}]: only the last band may have no rule")

    flags = tuple(
        _parse_flag(_table(f, f"{path}.flags[{i}]"), f"{path}.flags[{i}]", low, high)
        for i, f in enumerate(_list(raw.get("flags", []), f"{path}.flags"))
    )
    flag_ids = [flag.id for flag in flags]
    if len(set(flag_ids)) != len(flag_ids):
        raise InstrumentError(f"{path}.flags: flag ids must be distinct, got {flag_ids}")

    reliability = _optional_number(raw.get("reliability"), f"{path}.reliability")
    reference_sd = _optional_number(raw.get("reference_sd"), f"{path}.reference_sd")
    if reliability is not None:
        if not 0 < reliability < 1:
            raise InstrumentError(f"{path}.reliability: must be between 0 and 1, got {reliability}")
        if instrument.is_single_item:
            raise InstrumentError(f"{path}.reliability: single items are group-level signals; no reliable change index")
        if reference_sd is None:
            raise InstrumentError(f"{path}.reference_sd: required with a reliability (used until a cohort has 30 baselines)")
        if "reliability_source" not in raw:
            raise InstrumentError(f"{path}.reliability_source: cite where the reliability is published")
    if reference_sd is not None:
        if not reference_sd > 0:
            raise InstrumentError(f"{path}.reference_sd: must be positive, got {reference_sd}")
        if "reference_sd_source" not in raw:
            raise InstrumentError(f"{path}.reference_sd_source: cite where the SD comes from")

    return replace(
        instrument,
        bands=bands,
        flags=flags,
        reliability=reliability,
        reliability_source=_optional_text(raw.get("reliability_source"), f"{path}.reliability_source"),
        reference_sd=reference_sd,
        reference_sd_source=_optional_text(raw.get("reference_sd_source"), f"{path}.reference_sd_source"),
    )


def _parse_option(raw: Mapping[str, Any], path: str) -> Option:
    _no_unknown_keys(raw, {"value", "label", "description"}, path)
    value = raw.get("value")
    if not isinstance(value, int) or isinstance(value, bool):
        raise InstrumentError(f"{path}.value: must be an integer, got {value!r}")
    return Option(
        value=value,
        label=_text(raw.get("label"), f"{path}.label", OPTION_TEXT_LIMIT),
        description=_optional_text(raw.get("description"), f"{path}.description", OPTION_TEXT_LIMIT),
    )


def _parse_rule(raw: Mapping[str, Any], path: str, low: int, high: int) -> Rule | None:
    given = [name for name in COMPARATORS if name in raw]
    if not given:
        return None
    if len(given) > 1:
        raise InstrumentError(f"{path}: give exactly one of {', '.join(COMPARATORS)}; got {', '.join(given)}")
    threshold = _optional_number(raw[given[0]], f"{path}.{given[0]}")
    assert threshold is not None
    if not low <= threshold <= high:
        raise InstrumentError(f"{path}.{given[0]}: {threshold:g} is outside the instrument's range {low}-{high}")
    return Rule(given[0], threshold)


def _parse_band(raw: Mapping[str, Any], path: str, low: int, high: int) -> Band:
    _no_unknown_keys(raw, {"label", *COMPARATORS}, path)
    return Band(label=_text(raw.get("label"), f"{path}.label", OPTION_TEXT_LIMIT), rule=_parse_rule(raw, path, low, high))


def _parse_flag(raw: Mapping[str, Any], path: str, low: int, high: int) -> Flag:
    _no_unknown_keys(raw, {"id", "label", "crisis", *COMPARATORS}, path)
    flag_id = _text(raw.get("id"), f"{path}.id")
    _check_id(flag_id, f"{path}.id")
    rule = _parse_rule(raw, path, low, high)
    if rule is None:
        raise InstrumentError(f"{path}: a flag needs one of {', '.join(COMPARATORS)}")
    return Flag(
        id=flag_id,
        label=_text(raw.get("label"), f"{path}.label", OPTION_TEXT_LIMIT),
        rule=rule,
        crisis=_bool(raw.get("crisis", False), f"{path}.crisis"),
    )


def _parse_survey(survey_id: str, raw: Mapping[str, Any], instruments: Mapping[str, Instrument]) -> Survey:
    path = f"surveys.{survey_id}"
    _check_id(survey_id, path)
    _no_unknown_keys(raw, _SURVEY_KEYS, path)
    ids = tuple(_text(i, f"{path}.instruments[{n}]") for n, i in enumerate(_list(raw.get("instruments"), f"{path}.instruments")))
    if not ids:
        raise InstrumentError(f"{path}.instruments: at least one instrument is required")
    if len(set(ids)) != len(ids):
        raise InstrumentError(f"{path}.instruments: an instrument is listed twice")
    for n, instrument_id in enumerate(ids):
        if instrument_id not in instruments:
            raise InstrumentError(f"{path}.instruments[{n}]: unknown instrument {instrument_id!r}")
    minutes = raw.get("minutes")
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 1:
        raise InstrumentError(f"{path}.minutes: must be a positive integer, got {minutes!r}")
    questions = sum(len(instruments[i].items) for i in ids)
    honest = -(-questions * SECONDS_PER_QUESTION // 60)
    if minutes < honest:
        raise InstrumentError(f"{path}.minutes: {questions} questions take about {honest} minutes, not {minutes}")
    return Survey(
        id=survey_id,
        title=_text(raw.get("title"), f"{path}.title", MODAL_TITLE_LIMIT),
        minutes=minutes,
        instruments=ids,
        questions=questions,
    )


def _check_id(value: str, path: str) -> None:
    if not _ID.match(value):
        raise InstrumentError(f"{path}: id {value!r} must be lower_snake_case without double underscores")


def _no_unknown_keys(raw: Mapping[str, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InstrumentError(f"{path or 'top level'}: unknown field(s) {', '.join(unknown)}")


def _table(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InstrumentError(f"{path}: must be a table")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise InstrumentError(f"{path}: must be a list")
    return value


def _text(value: Any, path: str, limit: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InstrumentError(f"{path}: must be non-empty text")
    if limit is not None and len(value) > limit:
        raise InstrumentError(f"{path}: {len(value)} characters exceed the limit of {limit}")
    return value


def _optional_text(value: Any, path: str, limit: int | None = None) -> str | None:
    return None if value is None else _text(value, path, limit)


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise InstrumentError(f"{path}: must be true or false, got {value!r}")
    return value


def _optional_number(value: Any, path: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InstrumentError(f"{path}: must be a number, got {value!r}")
    return float(value)
