"""The job queue's tables and functions (procrastinate 3.10.0), on PostgreSQL only.

SQLite runs jobs in-process and needs nothing. The schema goes into the catalog's own schema
(the connection's search_path) under the migration's advisory lock, so replicas starting at
once apply it exactly once. procrastinate is pinned: upgrading it means a new revision that
runs its SQL migrations (procrastinate/sql/migrations) newer than 3.10.0.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from alembic import op
from procrastinate.schema import SchemaManager

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # The driver's own execute: the schema's text has % signs that are not placeholders.
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    driver.execute(SchemaManager.get_schema())


DROP_ALL = """
DO $$
DECLARE item record;
BEGIN
    FOR item IN SELECT p.oid::regprocedure AS name FROM pg_proc p
        WHERE p.pronamespace = current_schema()::regnamespace AND p.proname LIKE 'procrastinate%'
    LOOP EXECUTE 'DROP FUNCTION IF EXISTS ' || item.name || ' CASCADE'; END LOOP;
    FOR item IN SELECT t.typname AS name FROM pg_type t
        WHERE t.typnamespace = current_schema()::regnamespace AND t.typname LIKE 'procrastinate%'
          AND t.typtype IN ('e', 'c')
    LOOP EXECUTE 'DROP TYPE IF EXISTS ' || quote_ident(item.name) || ' CASCADE'; END LOOP;
END $$;
"""


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, "
        "procrastinate_jobs, procrastinate_workers CASCADE"
    )
    op.execute(DROP_ALL)
