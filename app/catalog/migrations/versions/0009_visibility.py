"""Who may see a clip (`visibility`: public, unlisted, private) and when a hidden clip turns
public (`publish_at`). Existing clips stay public. The "newest first" index carries both, so
the public list and its count still read the index alone.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OLD_INDEX = "ix_media_created_at_id_title_key"
NEW_INDEX = "ix_media_created_at_id_title_key_visibility"


def upgrade() -> None:
    with op.batch_alter_table("media") as batch:
        batch.add_column(
            sa.Column("visibility", sa.String(16), nullable=False, server_default="public")
        )
        batch.add_column(sa.Column("publish_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint(
            op.f("ck_media_visibility"), "visibility IN ('public', 'unlisted', 'private')"
        )
    op.drop_index(OLD_INDEX, table_name="media")
    op.create_index(
        NEW_INDEX, "media", ["created_at", "id", "title_key", "visibility", "publish_at"]
    )


def downgrade() -> None:
    op.drop_index(NEW_INDEX, table_name="media")
    op.create_index(OLD_INDEX, "media", ["created_at", "id", "title_key"])
    with op.batch_alter_table("media") as batch:
        batch.drop_constraint(op.f("ck_media_visibility"), type_="check")
        batch.drop_column("publish_at")
        batch.drop_column("visibility")
