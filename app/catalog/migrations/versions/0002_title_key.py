"""Search by a folded copy of the title: media.title_key, filled for the clips there are,
and in the "newest first" index so a search reads the index alone.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    op.add_column("media", sa.Column("title_key", sa.Text(), nullable=False, server_default=""))
    media = sa.table("media", sa.column("id", sa.String), sa.column("title", sa.Text))
    key = sa.table("media", sa.column("id", sa.String), sa.column("title_key", sa.Text))
    fill = (
        key.update().where(key.c.id == sa.bindparam("b_id")).values(title_key=sa.bindparam("b_key"))
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(media.c.id, media.c.title)).all()
    for start in range(0, len(rows), BATCH):
        # As app.models.fold_title folds (kept here: a migration must not change later).
        batch = [
            {"b_id": id_, "b_key": title.lower()} for id_, title in rows[start : start + BATCH]
        ]
        connection.execute(fill, batch)
    op.drop_index("ix_media_created_at_id", table_name="media")
    op.create_index("ix_media_created_at_id_title_key", "media", ["created_at", "id", "title_key"])


def downgrade() -> None:
    op.drop_index("ix_media_created_at_id_title_key", table_name="media")
    op.create_index("ix_media_created_at_id", "media", ["created_at", "id"])
    with op.batch_alter_table("media") as batch:
        batch.drop_column("title_key")
