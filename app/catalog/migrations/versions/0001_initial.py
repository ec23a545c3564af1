"""Initial catalog: media and their text tracks.

Revision ID: 0001
Revises:
Create Date: 2025-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("mime_type", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("bitrate", sa.BigInteger(), nullable=True),
        sa.Column("codecs", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("storage_key", sa.String(255), nullable=False),
        sa.Column("original_filename", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_media"),
        sa.CheckConstraint("kind IN ('audio', 'video')", name="ck_media_kind"),
        sa.CheckConstraint("status IN ('processing', 'ready', 'failed')", name="ck_media_status"),
    )
    op.create_index("ix_media_created_at_id", "media", ["created_at", "id"])
    op.create_index("ix_media_status", "media", ["status"])
    op.create_table(
        "tracks",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("media_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("srclang", sa.String(35), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("storage_key", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tracks"),
        sa.ForeignKeyConstraint(
            ["media_id"], ["media.id"], name="fk_tracks_media_id_media", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "kind IN ('captions', 'subtitles', 'descriptions', 'chapters')",
            name="ck_tracks_kind",
        ),
    )
    op.create_index("ix_tracks_media_id", "tracks", ["media_id"])


def downgrade() -> None:
    op.drop_index("ix_tracks_media_id", table_name="tracks")
    op.drop_table("tracks")
    op.drop_index("ix_media_status", table_name="media")
    op.drop_index("ix_media_created_at_id", table_name="media")
    op.drop_table("media")
