from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    extract,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow


class Customer(Base):
    """A shopper of one shop. The points columns are caches of the ledger, kept exact by
    `app.loyalty.ledger` in the same transaction as every entry."""

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("shop_id", "platform_id"),
        Index("ix_customers_shop_email", "shop_id", "email"),
        Index("ix_customers_shop_last_order", "shop_id", "last_order_at"),
        UniqueConstraint("shop_id", "referral_code"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    platform_id: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    first_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    last_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    birthday: Mapped[date | None] = mapped_column(Date, nullable=True)
    accepts_marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    locale: Mapped[str | None] = mapped_column(String(16), nullable=True)

    points_balance: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_points: Mapped[int] = mapped_column(BigInteger, default=0)
    lifetime_points: Mapped[int] = mapped_column(BigInteger, default=0)
    # Number of posted entries; each posted entry carries its place in this sequence.
    ledger_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    tier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # When the current tier was reached, and until when it is kept whatever happens.
    tier_achieved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    tier_retained_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    referral_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    referred_by_customer_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    orders_count: Mapped[int] = mapped_column(Integer, default=0)
    total_spent_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    first_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    redacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or (self.email or "")


# The hourly birthday job selects a shop's customers by birthday month and day
# (`app.loyalty.birthdays.due_customer_ids`); only customers with a birthday are indexed.
Index(
    "ix_customers_shop_birthday_month_day",
    Customer.shop_id,
    extract("month", Customer.birthday),
    extract("day", Customer.birthday),
    postgresql_where=Customer.birthday.is_not(None),
    sqlite_where=Customer.birthday.is_not(None),
)
