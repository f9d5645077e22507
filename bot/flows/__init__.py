"""One module per user-facing flow; each exposes ``register(app, services, router)``."""

from bot.flows import commands, enrolment, home

FLOWS = (home, enrolment)

__all__ = ["FLOWS", "commands"]
