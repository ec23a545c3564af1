"""The caption jobs queued or running per clip (`captions_jobs`, a JSON list of job names), so
a clip's captions stay pending until the last of its align/automatic jobs ends.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("media") as batch:
        batch.add_column(
            sa.Column("captions_jobs", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("media") as batch:
        batch.drop_column("captions_jobs")
