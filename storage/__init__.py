"""Persistence: SQLModel tables, the engine, keyword-only queries and Alembic migrations."""
