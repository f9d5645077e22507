"""The groups as proposed to people: names, members, lead, common hours and warnings."""

from __future__ import annotations

from collections import Counter
from datetime import date
from itertools import chain, combinations

from bot.domain.availability import HOURS_PER_WEEK, describe_hour
from bot.domain.group_formation.cohort import _UNKNOWN, _Cohort, career_track
from bot.domain.group_formation.cost import _Group
from bot.domain.group_formation.model import FormationResult, FormationSettings, Objective, ProposedGroup
from bot.domain.people import Person


def _report(
    cohort: _Cohort,
    groups: list[_Group],
    settings: FormationSettings,
    warnings: list[str],
    week_of: date | None,
    label: str | None,
    first_number: int = 1,
) -> FormationResult:
    proposed = [
        _describe(cohort, group, f"{label} group {number}" if label else f"Group {number}", settings, week_of)
        for number, group in enumerate(groups, start=first_number)
    ]
    totals = [sum(parts) for parts in zip(*(group.cost for group in groups))]
    objective = Objective(*totals) if groups else Objective()
    return FormationResult(proposed, list(warnings) + _overall_warnings(cohort, groups, proposed), objective)


def _describe(
    cohort: _Cohort, group: _Group, name: str, settings: FormationSettings, week_of: date | None
) -> ProposedGroup:
    people = cohort.people
    members = sorted(group.members)  # people are in user-ID order
    tz = _majority_timezone([people[m] for m in members])
    common = group.common if group.known else 0
    slots = [describe_hour(h, tz, week_of) for h in range(HOURS_PER_WEEK) if common >> h & 1]
    warnings = _size_warnings(len(members), settings)
    warnings += [
        f"{people[a].user_id} and {people[b].user_id} share this group although one supervises or evaluates the other"
        f"{' or is an attending in the resident' + chr(39) + 's department' if settings.career_bands == 'mixed' else ''}"
        for a, b in combinations(members, 2)
        if b in cohort.related[a]
    ]
    if cohort.same_specialty and group.cost[1]:
        warnings.append(f"specialties had to mix: {_specialty_mix(cohort, members)}")
    if not slots:
        warnings.append(_no_common_hour(cohort, group, members, tz, week_of))
    lead = _choose_lead([people[m] for m in members])
    if lead is None:
        warnings.append("no member is willing to lead")
    return ProposedGroup(
        name=name,
        members=[people[m].user_id for m in members],
        lead=lead,
        common_slots=slots,
        timezone=tz,
        specialty=_shared_specialty(cohort, members),
        warnings=warnings,
        career_band=_career_band_of([people[m] for m in members]),
    )


def _career_band_of(members: list[Person]) -> str | None:
    tracks = {career_track(p.career_stage) for p in members} - {None}
    if not tracks:
        return None
    return tracks.pop() if len(tracks) == 1 else "mixed"


def _overall_warnings(cohort: _Cohort, groups: list[_Group], proposed: list[ProposedGroup]) -> list[str]:
    warnings = []
    checks = [
        (
            lambda g, p: g.cost[0] > 0,
            "{n} group(s) keep a supervisor or evaluator with someone they supervise or evaluate, "
            "because no arrangement separating them was found: {names}",
        ),
        (
            lambda g, p: cohort.same_specialty and g.cost[1] > 0,
            "{n} group(s) had to mix specialties, as the numbers did not allow same-specialty groups "
            "for everyone: {names}",
        ),
        (lambda g, p: not p.common_slots, "{n} group(s) have no known common hour: {names}"),
        (lambda g, p: p.lead is None, "{n} group(s) have nobody willing to lead: {names}"),
    ]
    for condition, template in checks:
        flagged = [p.name for g, p in zip(groups, proposed) if condition(g, p)]
        if flagged:
            warnings.append(template.format(n=len(flagged), names=", ".join(flagged)))
    unknown_specialty = sum(1 for code in cohort.specialty if code == _UNKNOWN)
    if cohort.same_specialty and unknown_specialty:
        who = "1 person has" if unknown_specialty == 1 else f"{unknown_specialty} people have"
        warnings.append(f"{who} no specialty on file; they count as fitting any group")
    return warnings


def _size_warnings(size: int, settings: FormationSettings) -> list[str]:
    if size < settings.size_min:
        return [f"{size} members, below the minimum of {settings.size_min}"]
    if size > settings.size_max:
        return [f"{size} members, above the maximum of {settings.size_max}"]
    return []


def _shared_specialty(cohort: _Cohort, members: list[int]) -> str | None:
    codes = {cohort.specialty[m] for m in members} - {_UNKNOWN}
    return cohort.specialty_name[codes.pop()] if len(codes) == 1 else None


def _specialty_mix(cohort: _Cohort, members: list[int]) -> str:
    counts = Counter(
        cohort.specialty_name[cohort.specialty[m]] if cohort.specialty[m] != _UNKNOWN else "not given" for m in members
    )
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _no_common_hour(cohort: _Cohort, group: _Group, members: list[int], tz: str, week_of: date | None) -> str:
    silent = sum(1 for m in members if not cohort.gave_availability[m])
    if group.known == 0:
        return "no member gave availability, so no common hour is known: ask the group to pick a time"
    coverage = Counter(chain.from_iterable(cohort.hour_list[m] for m in members if cohort.gave_availability[m]))
    text = f"no weekly hour suits all {group.known} members who gave availability"
    if coverage:
        best = min(coverage, key=lambda h: (-coverage[h], h))
        text += f" (best: {describe_hour(best, tz, week_of)}, {coverage[best]} of {group.known})"
    if silent:
        text += f"; {silent} gave none"
    return text


def _majority_timezone(people: list[Person]) -> str:
    counts = Counter(p.timezone for p in people if p.timezone)
    if not counts:
        return "UTC"
    return min(counts, key=lambda tz: (-counts[tz], tz))


def _choose_lead(people: list[Person]) -> str | None:
    """The willing member with the most experience (attendings first, then years; ties: user ID), or None."""

    def seniority(person: Person) -> tuple:
        stage = person.career_stage
        return (stage is None or stage.is_trainee, -stage.years if stage else 0, person.user_id)

    willing = [p for p in people if p.lead_willing]
    return min(willing, key=seniority).user_id if willing else None
