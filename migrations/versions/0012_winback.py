"""winback

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "winback_campaigns",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_winback_campaigns_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_winback_campaigns")),
        sa.UniqueConstraint("shop_id", name=op.f("uq_winback_campaigns_shop_id")),
    )
    op.create_table(
        "winback_offers",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("campaign_id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("period", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("holdout", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attribution_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_order_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("days_since_order", sa.Integer(), nullable=False),
        sa.Column("threshold_days", sa.Integer(), nullable=False),
        sa.Column("offer_kind", sa.String(length=16), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("ledger_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("points_expire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("points_expired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reward_id", sa.BigInteger(), nullable=True),
        sa.Column("redemption_id", sa.BigInteger(), nullable=True),
        sa.Column("mail_message_id", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_winback_offers_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["winback_campaigns.id"],
            name=op.f("fk_winback_offers_campaign_id_winback_campaigns"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_winback_offers_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_winback_offers")),
        sa.UniqueConstraint(
            "campaign_id", "customer_id", "period",
            name=op.f("uq_winback_offers_campaign_id_customer_id_period"),
        ),
    )
    op.create_index(
        "ix_winback_offers_shop_customer_offered", "winback_offers", ["shop_id", "customer_id", "offered_at"]
    )
    op.create_index("ix_winback_offers_shop_offered", "winback_offers", ["shop_id", "offered_at"])
    op.create_index("ix_winback_offers_status", "winback_offers", ["status", "points_expire_at"])
    op.create_table(
        "winback_rhythms",
        sa.Column("customer_id", _ID, autoincrement=False, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("last_order_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("orders_count", sa.Integer(), nullable=False),
        sa.Column("median_gap_days", sa.Float(), nullable=True),
        sa.Column("second_order_days", sa.Float(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_winback_rhythms_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_winback_rhythms_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_winback_rhythms")),
    )
    op.create_index("ix_winback_rhythms_shop_second", "winback_rhythms", ["shop_id", "second_order_days"])
    op.create_index("ix_orders_shop_updated", "orders", ["shop_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_orders_shop_updated", table_name="orders")
    op.drop_index("ix_winback_rhythms_shop_second", table_name="winback_rhythms")
    op.drop_table("winback_rhythms")
    op.drop_index("ix_winback_offers_status", table_name="winback_offers")
    op.drop_index("ix_winback_offers_shop_offered", table_name="winback_offers")
    op.drop_index("ix_winback_offers_shop_customer_offered", table_name="winback_offers")
    op.drop_table("winback_offers")
    op.drop_table("winback_campaigns")
