"""Who made each track (`origin`) and whether a person checked it (`reviewed`); the state of a
clip's machine-made captions. Existing tracks were uploaded, so they are reviewed.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tracks") as batch:
        batch.add_column(
            sa.Column("origin", sa.String(16), nullable=False, server_default="uploaded")
        )
        batch.add_column(
            sa.Column("reviewed", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.create_check_constraint(
            op.f("ck_tracks_origin"), "origin IN ('uploaded', 'aligned', 'automatic', 'edited')"
        )
    with op.batch_alter_table("media") as batch:
        batch.add_column(sa.Column("captions_state", sa.String(16), nullable=True))
        batch.add_column(sa.Column("captions_reason", sa.Text(), nullable=True))
        batch.create_check_constraint(
            op.f("ck_media_captions_state"), "captions_state IN ('pending', 'none')"
        )


def downgrade() -> None:
    with op.batch_alter_table("media") as batch:
        batch.drop_constraint(op.f("ck_media_captions_state"), type_="check")
        batch.drop_column("captions_reason")
        batch.drop_column("captions_state")
    with op.batch_alter_table("tracks") as batch:
        batch.drop_constraint(op.f("ck_tracks_origin"), type_="check")
        batch.drop_column("reviewed")
        batch.drop_column("origin")
