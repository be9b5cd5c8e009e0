"""earning beyond orders: bonus events, referrals, customer fingerprints

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bonus_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("multiplier", sa.Numeric(8, 4), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("product_ids", sa.JSON(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_bonus_events_shop_id_shops"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bonus_events")),
    )
    op.create_index("ix_bonus_events_shop_window", "bonus_events", ["shop_id", "starts_at", "ends_at"])

    op.create_table(
        "referrals",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("referrer_customer_id", _ID, nullable=False),
        sa.Column("referred_customer_id", _ID, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("refusal_reason", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("qualifies_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reward_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("welcome_redemption_id", sa.BigInteger(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rewarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_referrals_shop_id_shops"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["referrer_customer_id"], ["customers.id"],
                                name=op.f("fk_referrals_referrer_customer_id_customers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["referred_customer_id"], ["customers.id"],
                                name=op.f("fk_referrals_referred_customer_id_customers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("shop_id", "referred_customer_id",
                            name=op.f("uq_referrals_shop_id_referred_customer_id")),
    )
    op.create_index("ix_referrals_shop_referrer", "referrals",
                    ["shop_id", "referrer_customer_id", "rewarded_at"])
    op.create_index("ix_referrals_status_due", "referrals", ["status", "qualifies_at"])

    op.create_table(
        "customer_fingerprints",
        sa.Column("id", _ID, nullable=False),
        sa.Column("shop_id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"],
                                name=op.f("fk_customer_fingerprints_shop_id_shops"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_customer_fingerprints_customer_id_customers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_fingerprints")),
        sa.UniqueConstraint("shop_id", "kind", "fingerprint", "customer_id",
                            name=op.f("uq_customer_fingerprints_shop_id_kind_fingerprint_customer_id")),
    )
    op.create_index("ix_customer_fingerprints_customer", "customer_fingerprints", ["shop_id", "customer_id"])


def downgrade() -> None:
    op.drop_index("ix_customer_fingerprints_customer", table_name="customer_fingerprints")
    op.drop_table("customer_fingerprints")
    op.drop_index("ix_referrals_status_due", table_name="referrals")
    op.drop_index("ix_referrals_shop_referrer", table_name="referrals")
    op.drop_table("referrals")
    op.drop_index("ix_bonus_events_shop_window", table_name="bonus_events")
    op.drop_table("bonus_events")
