"""answer month fingerprints: each team's answers per UTC month (count and sum of ids), kept by triggers

A report view compares these fingerprints with the ones its summaries were made from; reading them
from every answer's index entry made a warm view cost O(answers). The triggers keep them in the
transaction that changes the answers, whatever code path does it (forget-me, cascades, bulk loads).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

TABLE = 'survey_response_months'

# PostgreSQL stores answered_at as timestamptz: its UTC month, as storage.pulse_aggregates.month_of.
_PG_MONTH = "date_trunc('month', answered_at AT TIME ZONE 'UTC')::date"
# SQLite stores it as UTC text 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLModel's UTCDateTime), a date as 'YYYY-MM-DD'.
_SQLITE_MONTH = "substr({row}answered_at, 1, 7) || '-01'"


def _pg_apply(changes: str) -> str:
    """Add the signed count and id sum of ``changes`` (team_id, answered_at, id, sign) to their months.
    Upserts in (team, month) order, so concurrent statements neither lose an update nor deadlock."""
    return f"""
        INSERT INTO {TABLE} AS kept (team_id, month, answers, answer_ids)
        SELECT team_id, {_PG_MONTH}, sum(sign), sum(sign * id::bigint)
        FROM ({changes}) AS changes
        GROUP BY 1, 2 HAVING sum(sign) <> 0 OR sum(sign * id::bigint) <> 0
        ORDER BY 1, 2
        ON CONFLICT (team_id, month) DO UPDATE
        SET answers = kept.answers + EXCLUDED.answers, answer_ids = kept.answer_ids + EXCLUDED.answer_ids;"""


_ADDED = "SELECT team_id, answered_at, id, 1 AS sign FROM added"
_REMOVED = "SELECT team_id, answered_at, id, -1 AS sign FROM removed"

# Statement-level triggers over transition tables: one upsert per statement and month, so a bulk
# load (COPY of millions of answers) costs one aggregate, not a row update per answer.
_PG_FUNCTION = f"""
CREATE FUNCTION {TABLE}_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_pg_apply(_ADDED)}
    ELSIF TG_OP = 'DELETE' THEN
        {_pg_apply(_REMOVED)}
    ELSIF TG_OP = 'UPDATE' THEN
        {_pg_apply(_ADDED + " UNION ALL " + _REMOVED)}
    ELSE
        DELETE FROM {TABLE};
    END IF;
    RETURN NULL;
END
$$"""

_PG_TRIGGERS = {
    'insert': "AFTER INSERT ON survey_responses REFERENCING NEW TABLE AS added",
    'delete': "AFTER DELETE ON survey_responses REFERENCING OLD TABLE AS removed",
    'update': "AFTER UPDATE ON survey_responses REFERENCING OLD TABLE AS removed NEW TABLE AS added",
    'truncate': "AFTER TRUNCATE ON survey_responses",  # SQLite has none: a DELETE of every row runs the row triggers
}


def _sqlite_add(sign: str, row: str) -> str:
    month = _SQLITE_MONTH.format(row=f"{row}.")
    return f"""
        INSERT INTO {TABLE} (team_id, month, answers, answer_ids) VALUES ({row}.team_id, {month}, {sign}1, {sign}{row}.id)
        ON CONFLICT (team_id, month) DO UPDATE
        SET answers = answers + excluded.answers, answer_ids = answer_ids + excluded.answer_ids;"""


_SQLITE_TRIGGERS = {
    'insert': ("AFTER INSERT ON survey_responses", _sqlite_add("", "NEW")),
    'delete': ("AFTER DELETE ON survey_responses", _sqlite_add("-", "OLD")),
    'update': ("AFTER UPDATE OF team_id, answered_at, id ON survey_responses", _sqlite_add("-", "OLD") + _sqlite_add("", "NEW")),
}


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column('team_id', sa.String(length=32), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('answers', sa.BigInteger(), nullable=False),
        sa.Column('answer_ids', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('team_id', 'month'),
    )
    if op.get_bind().dialect.name == 'postgresql':
        # No answer may be stored between the backfill and the triggers: held until the migration commits.
        op.execute("LOCK TABLE survey_responses IN SHARE ROW EXCLUSIVE MODE")
        op.execute(_PG_FUNCTION)
        for event, when in _PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {TABLE}_{event} {when} FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_track()")
        month = _PG_MONTH
    else:
        for event, (when, body) in _SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {TABLE}_{event} {when} BEGIN {body} END")
        month = _SQLITE_MONTH.format(row="")
    op.execute(f"""
        INSERT INTO {TABLE} (team_id, month, answers, answer_ids)
        SELECT team_id, {month}, count(*), sum(id) FROM survey_responses GROUP BY 1, 2""")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == 'postgresql'
    for event in _PG_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_{event}" + (" ON survey_responses" if postgres else ""))
    if postgres:
        op.execute(f"DROP FUNCTION IF EXISTS {TABLE}_track()")
    op.drop_table(TABLE)
