"""orders and customers: the order's parts, its refunds and a deleted flag on the snapshot

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        for name in ("lines_minor", "shipping_minor", "tax_minor", "gift_card_minor"):
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("refunds", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()))
    # The defaults only filled existing rows; the model sets every value from now on.
    with op.batch_alter_table("orders") as batch:
        for name in ("lines_minor", "shipping_minor", "tax_minor", "gift_card_minor", "refunds", "deleted"):
            batch.alter_column(name, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("deleted")
        batch.drop_column("refunds")
        for name in ("gift_card_minor", "tax_minor", "shipping_minor", "lines_minor"):
            batch.drop_column(name)
