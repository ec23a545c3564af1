"""Playlists: an ordered series of clips (`playlists`, and `playlist_items` with positions);
a clip's deletion removes its places in them (ON DELETE CASCADE).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "playlists",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playlists")),
    )
    op.create_index("ix_playlists_created_at_id", "playlists", ["created_at", "id"])
    op.create_table(
        "playlist_items",
        sa.Column("playlist_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["playlist_id"],
            ["playlists.id"],
            name=op.f("fk_playlist_items_playlist_id_playlists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media.id"],
            name=op.f("fk_playlist_items_media_id_media"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("playlist_id", "position", name=op.f("pk_playlist_items")),
    )
    op.create_index(op.f("ix_playlist_items_media_id"), "playlist_items", ["media_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_playlist_items_media_id"), table_name="playlist_items")
    op.drop_table("playlist_items")
    op.drop_index("ix_playlists_created_at_id", table_name="playlists")
    op.drop_table("playlists")
