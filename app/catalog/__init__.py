"""The catalog: every clip's record and tracks in SQLite or PostgreSQL (SQLAlchemy models,
queries, keyset pages, the freshness stamps pages are cached by) and the Alembic migrations
that shape the tables.

Imports `app.config` only; knows nothing of files, HTTP or jobs.
"""
