"""Forming COMPASS groups from the people waiting for one: ``formation.form_groups`` plans sizes
(``sizes``), builds groups (``construction``), improves them (``local_search``) and reports them
(``report``); ``model`` holds the settings, the objective and the result.
"""

from __future__ import annotations

from bot.domain.group_formation.cohort import career_band, career_track
from bot.domain.group_formation.formation import construct_groups_only, form_groups
from bot.domain.group_formation.model import (
    ALLOWED_SIZE_MAX,
    ALLOWED_SIZE_MIN,
    CAREER_BANDS,
    MODES,
    CareerBands,
    FormationResult,
    FormationSettings,
    Mode,
    Objective,
    ProposedGroup,
)
from bot.domain.group_formation.sizes import plan_group_sizes

__all__ = [
    "ALLOWED_SIZE_MAX",
    "ALLOWED_SIZE_MIN",
    "CAREER_BANDS",
    "MODES",
    "CareerBands",
    "FormationResult",
    "FormationSettings",
    "Mode",
    "Objective",
    "ProposedGroup",
    "career_band",
    "career_track",
    "construct_groups_only",
    "form_groups",
    "plan_group_sizes",
]
