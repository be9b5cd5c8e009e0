"""platform install

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "install_attempts",
        sa.Column("id", BigId, nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shop_id", BigId, nullable=True),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], ondelete="CASCADE",
                                name="fk_install_attempts_shop_id_shops"),
        sa.PrimaryKeyConstraint("id", name="pk_install_attempts"),
        sa.UniqueConstraint("token_hash", name="uq_install_attempts_token_hash"),
    )
    op.create_index("ix_install_attempts_expires_at", "install_attempts", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_install_attempts_expires_at", table_name="install_attempts")
    op.drop_table("install_attempts")
