"""One module or package per user-facing flow, translating between Slack and the domain.
May import the runtime's services, bot.slack, storage and the domain; never the clock, the app or the CLI.

A flow module exposes ``register(app, services, router)``; it may also expose
``DELIVERIES`` (schedule kind -> delivery function for the clock), ``ON_FAILURE`` (kind ->
notice when a delivery fails for good), ``home_section(services, session, member=...)`` and
``admin_home_section(services, session, team_id=..., user_id=...)``
(sections of the App Home tab). Flows are discovered here so each can be added on its own.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

SUPPORT_MODULES = {"commands", "join_form", "click_targets"}


def _discover() -> tuple[ModuleType, ...]:
    modules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in SUPPORT_MODULES or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    return tuple(modules)


FLOWS = _discover()
