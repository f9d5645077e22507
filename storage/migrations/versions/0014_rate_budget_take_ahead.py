"""rate budget take ahead: a token that will be there within ``ahead`` seconds is granted now, for then

With several clock processes, each with threads waiting on one workspace's budget, every refill woke them
all: one got the token, the rest were refused and slept again (in the full-size bench 162,482 of 212,482
takes were refused, each a statement PostgreSQL ran). Now a take may reserve the token that the bucket
will have within ``ahead`` seconds: it is spent now (the bucket goes below its reserve, by at most what it
refills in that time) and the caller sends when that time has passed, so the waiting threads line up
instead of colliding. ``ahead`` 0 is the function of 0012. storage.rate_budgets and
bot.slack.rate_limits do the same in memory; tests/test_shared_rate_budget.py keeps them equal.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""
from __future__ import annotations

from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# As 0012, but a token of each bucket is spent when every bucket will keep its reserve within ``ahead`` seconds;
# the wait is returned either way (granted when it is at most ``ahead``).
_FUNCTION = """
CREATE FUNCTION rate_budget_take(keys text[], capacities float8[], rates float8[], reserves float8[], ahead float8)
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
    IF longest <= ahead THEN
        UPDATE rate_budget_buckets b SET tokens = t.tokens - 1, updated = now_s
        FROM unnest(keys, left_after) AS t(key, tokens) WHERE b.key = t.key;
    END IF;
    RETURN longest;
END $$;
"""


# The call of 0012, kept for processes of the previous release still running while a deploy upgrades the schema.
_PREVIOUS_CALL = """
CREATE FUNCTION rate_budget_take(keys text[], capacities float8[], rates float8[], reserves float8[])
RETURNS float8 LANGUAGE sql AS $$ SELECT rate_budget_take(keys, capacities, rates, reserves, 0::float8) $$;
"""
_PREVIOUS = "rate_budget_take(text[], float8[], float8[], float8[])"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {_PREVIOUS}")
        op.execute(_FUNCTION)
        op.execute(_PREVIOUS_CALL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {_PREVIOUS}")
        op.execute("DROP FUNCTION rate_budget_take(text[], float8[], float8[], float8[], float8)")
        op.execute(_FUNCTION.replace(", ahead float8)", ")").replace("IF longest <= ahead THEN", "IF longest = 0 THEN"))
