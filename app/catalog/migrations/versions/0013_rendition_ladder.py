"""A clip's rendition ladder: one row per file (240p, 360p, 720p, audio), each a fragmented
MP4 in the clip's storage; they go with their clip.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "renditions",
        sa.Column(
            "media_id",
            sa.String(32),
            sa.ForeignKey(
                "media.id", name=op.f("fk_renditions_media_id_media"), ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("bitrate", sa.BigInteger(), nullable=False),
        sa.Column("peak_bitrate", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mime_type", sa.String(255), nullable=False),
        sa.Column("codecs", sa.String(255), nullable=False),
        sa.Column("storage_key", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("playlist_key", sa.String(255), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("media_id", "name", name=op.f("pk_renditions")),
    )


def downgrade() -> None:
    op.drop_table("renditions")
