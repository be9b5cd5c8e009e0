"""admin console

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

def upgrade() -> None:
    op.create_table(
        "console_settings",
        sa.Column("shop_id", BigId, nullable=False),
        sa.Column("support_adjustment_limit", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], ondelete="CASCADE",
            name="fk_console_settings_shop_id_shops",
        ),
        sa.PrimaryKeyConstraint("shop_id", name="pk_console_settings"),
    )
    op.create_table(
        "console_approvals",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("shop_id", BigId, nullable=False),
        sa.Column("customer_id", BigId, nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("requested_by_staff_id", BigId, nullable=True),
        sa.Column("requested_by", sa.String(320), nullable=False),
        sa.Column("decided_by_staff_id", BigId, nullable=True),
        sa.Column("decided_by", sa.String(320), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], ondelete="CASCADE",
            name="fk_console_approvals_shop_id_shops",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], ondelete="CASCADE",
            name="fk_console_approvals_customer_id_customers",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_staff_id"], ["staff_users.id"], ondelete="SET NULL",
            name="fk_console_approvals_requested_by_staff_id_staff_users",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_staff_id"], ["staff_users.id"], ondelete="SET NULL",
            name="fk_console_approvals_decided_by_staff_id_staff_users",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_console_approvals"),
    )
    op.create_index(
        "ix_console_approvals_shop_status",
        "console_approvals",
        ["shop_id", "status", "id"],
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("shop_id", BigId, nullable=False),
        sa.Column("staff_user_id", BigId, nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], ondelete="CASCADE",
            name="fk_console_sessions_shop_id_shops",
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"], ["staff_users.id"], ondelete="CASCADE",
            name="fk_console_sessions_staff_user_id_staff_users",
        ),
        sa.PrimaryKeyConstraint("token_hash", name="pk_console_sessions"),
    )
    op.create_index("ix_console_sessions_staff", "console_sessions", ["staff_user_id"])

    op.create_table(
        "console_shopify_staff",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("shop_id", BigId, nullable=False),
        sa.Column("shopify_user_id", sa.String(32), nullable=False),
        sa.Column("staff_user_id", BigId, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], ondelete="CASCADE",
            name="fk_console_shopify_staff_shop_id_shops",
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"], ["staff_users.id"], ondelete="CASCADE",
            name="fk_console_shopify_staff_staff_user_id_staff_users",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_console_shopify_staff"),
        sa.UniqueConstraint(
            "shop_id", "shopify_user_id", name="uq_console_shopify_staff_shop_id_shopify_user_id"
        ),
    )


def downgrade() -> None:
    op.drop_table("console_shopify_staff")
    op.drop_index("ix_console_sessions_staff", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_index(
        "ix_console_approvals_shop_status", table_name="console_approvals"
    )
    op.drop_table("console_approvals")
    op.drop_table("console_settings")
