"""Versions of a clip: a described version and a sign-language video, one row per role, each
with its own file (and web-playable copy); they go with their clip.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "versions",
        sa.Column(
            "media_id",
            sa.String(32),
            sa.ForeignKey("media.id", name=op.f("fk_versions_media_id_media"), ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("mime_type", sa.String(255), nullable=False),
        sa.Column("codecs", sa.JSON(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("storage_key", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("playable_key", sa.String(255), nullable=True),
        sa.Column("playable_mime_type", sa.String(255), nullable=True),
        sa.Column("playable_size", sa.BigInteger(), nullable=True),
        sa.Column("playable_sha256", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("media_id", "role", name=op.f("pk_versions")),
        sa.CheckConstraint("role IN ('described', 'sign')", name=op.f("ck_versions_role")),
    )


def downgrade() -> None:
    op.drop_table("versions")
