"""customer columns for tiers, referrals and mail consent

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("tier_achieved_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("tier_retained_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("referral_code", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("referred_by_customer_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint("uq_customers_shop_id_referral_code", ["shop_id", "referral_code"])


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_constraint("uq_customers_shop_id_referral_code", type_="unique")
        batch.drop_column("unsubscribed_at")
        batch.drop_column("referred_by_customer_id")
        batch.drop_column("referral_code")
        batch.drop_column("tier_retained_until")
        batch.drop_column("tier_achieved_at")
