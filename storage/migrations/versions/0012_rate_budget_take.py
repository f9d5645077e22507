"""rate budget take: a token of every bucket a Slack call needs, taken in one statement (PostgreSQL)

Taking a token was a transaction of five round trips (BEGIN, make a new channel's row, lock the rows,
spend, COMMIT) before every Slack call; at a health system's size those round trips were a third of a
clock process's CPU. This function does the same in one call, in autocommit. The refill arithmetic is
storage.rate_budgets._refill's (and bot.slack.rate_limits.bucket_wait's), kept the same by
tests/test_shared_rate_budget.py. SQLite keeps its buckets in the process's memory: nothing to create.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""
from __future__ import annotations

from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# Rows are made if missing, then locked in key order (two calls never wait on each other crosswise); the
# time is read once the locks are held, from the server's clock (one clock for every process). A token of
# each is spent only if every bucket keeps its reserve; else nothing is spent and the wait is returned.
_FUNCTION = """
CREATE FUNCTION rate_budget_take(keys text[], capacities float8[], rates float8[], reserves float8[])
RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    now_s float8;
    longest float8 := 0;
    left_after float8[] := array_fill(0::float8, ARRAY[array_length(keys, 1)]);
    bucket record;
BEGIN
    INSERT INTO rate_budget_buckets (key, tokens, updated)
        SELECT k, c, extract(epoch FROM clock_timestamp()) FROM unnest(keys, capacities) AS t(k, c) ORDER BY k
        ON CONFLICT (key) DO NOTHING;
    PERFORM 1 FROM rate_budget_buckets WHERE key = ANY(keys) ORDER BY key FOR UPDATE;
    now_s := extract(epoch FROM clock_timestamp());
    FOR bucket IN SELECT b.tokens, b.updated, u.i FROM rate_budget_buckets b
                  JOIN unnest(keys) WITH ORDINALITY AS u(key, i) ON b.key = u.key LOOP
        left_after[bucket.i] := least(capacities[bucket.i],
                                      bucket.tokens + greatest(0, now_s - bucket.updated) * rates[bucket.i]);
        IF left_after[bucket.i] < 1 + reserves[bucket.i] - 1e-9 THEN
            longest := greatest(longest, (1 + reserves[bucket.i] - left_after[bucket.i]) / rates[bucket.i]);
        END IF;
    END LOOP;
    IF longest = 0 THEN
        UPDATE rate_budget_buckets b SET tokens = t.tokens - 1, updated = now_s
        FROM unnest(keys, left_after) AS t(key, tokens) WHERE b.key = t.key;
    END IF;
    RETURN longest;
END $$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION rate_budget_take(text[], float8[], float8[], float8[])")
