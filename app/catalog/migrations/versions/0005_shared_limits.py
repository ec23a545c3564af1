"""Limits that replicas share on PostgreSQL: upload starts per client (the upload rate) and
storage reservations of writes in flight (the quota). Created on SQLite too, where they stay
empty, so one schema serves both.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_starts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_starts")),
    )
    op.create_index("ix_upload_starts_client_started_at", "upload_starts", ["client", "started_at"])
    op.create_index("ix_upload_starts_started_at", "upload_starts", ["started_at"])
    op.create_table(
        "storage_reservations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("storage_key", sa.String(255), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_reservations")),
    )


def downgrade() -> None:
    op.drop_table("storage_reservations")
    op.drop_index("ix_upload_starts_started_at", table_name="upload_starts")
    op.drop_index("ix_upload_starts_client_started_at", table_name="upload_starts")
    op.drop_table("upload_starts")
