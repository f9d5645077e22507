"""Which program a Slack request belongs to.

A workspace install serves one workspace: the program is keyed by its team ID. An org-wide
Enterprise Grid install (``is_enterprise_install``) serves every workspace of the org with one
installation, and a person has one user ID across the org: the program is keyed by the org's
enterprise ID, so a member who joined in one workspace is the same member in all of them.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.request.internals import extract_enterprise_id, extract_is_enterprise_install, extract_team_id


def program_key(payload: dict[str, Any]) -> str:
    """The team ID (or, for an org-wide install, the enterprise ID) the request's program is stored under."""
    if extract_is_enterprise_install(payload):
        return extract_enterprise_id(payload) or ""
    return extract_team_id(payload) or ""


def installation_of(payload: dict[str, Any]) -> tuple[str, str, bool]:
    """(program key, enterprise ID or "", org-wide install?) of a request."""
    is_org = bool(extract_is_enterprise_install(payload))
    return program_key(payload), extract_enterprise_id(payload) or "", is_org
