"""A clip's web-playable rendition: its key, type, size and checksum.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("media") as batch:
        batch.add_column(sa.Column("playable_key", sa.String(255), nullable=True))
        batch.add_column(sa.Column("playable_mime_type", sa.String(255), nullable=True))
        batch.add_column(sa.Column("playable_size", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("playable_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("media") as batch:
        for name in ("playable_sha256", "playable_size", "playable_mime_type", "playable_key"):
            batch.drop_column(name)
