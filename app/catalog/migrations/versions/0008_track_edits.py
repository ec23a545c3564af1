"""Edited tracks keep their machine-made text: `machine_key` names the stored WebVTT the
align/automatic job made (kept when a person edits the track, so it can be restored) and
`machine_origin` says which job made it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tracks") as batch:
        batch.add_column(sa.Column("machine_key", sa.String(255), nullable=True))
        batch.add_column(sa.Column("machine_origin", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tracks") as batch:
        batch.drop_column("machine_origin")
        batch.drop_column("machine_key")
