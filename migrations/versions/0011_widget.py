"""widget; the birthday index

The storefront widget needs no schema of its own (it reads customers, tiers and the
ledger). This revision adds the index the hourly birthday job selects by: the month and
day of a customer's birthday within a shop (`app.loyalty.birthdays.due_customer_ids`),
partial on customers that have a birthday. The expressions are the ones SQLAlchemy's
`extract()` renders on each backend (`EXTRACT(month FROM birthday)` on PostgreSQL,
`CAST(STRFTIME('%m', birthday) AS INTEGER)` on SQLite), so each planner matches them.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

INDEX = "ix_customers_shop_birthday_month_day"


def upgrade() -> None:
    birthday = sa.column("birthday")
    has_birthday = sa.text("birthday IS NOT NULL")
    op.create_index(
        INDEX,
        "customers",
        [sa.column("shop_id"), sa.extract("month", birthday), sa.extract("day", birthday)],
        postgresql_where=has_birthday,
        sqlite_where=has_birthday,
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="customers")
