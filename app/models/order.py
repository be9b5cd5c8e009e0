from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow


class OrderSnapshot(Base):
    """The latest state of a platform order we have seen, and the earn basis frozen at the
    first award. Orders converge on this row, under a row lock."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "platform_order_id"),
        Index("ix_orders_shop_customer_placed", "shop_id", "customer_id", "placed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    platform_order_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), nullable=True
    )
    name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    platform_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="")
    financial_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    paid: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    total_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # The order's parts as the platform last reported them (shop currency minor units);
    # kept so a refund arriving alone can be settled without the order's payload.
    lines_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    shipping_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    gift_card_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    eligible_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_eligible_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Every refund seen so far, by platform refund id: {"id", "created_at", "lines_minor",
    # "shipping_minor", "tax_minor"}. Refunds only ever accumulate (they arrive with the
    # order or alone, in any order), so the set is merged, never replaced.
    refunds: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Deleted (trashed) on the platform: earns nothing, like a cancelled order.
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Earn basis, frozen at first award: never the current programme's rate.
    earn_rate: Mapped[Decimal | None] = mapped_column(Numeric(12, 4), nullable=True)
    tier_multiplier: Mapped[Decimal | None] = mapped_column(Numeric(8, 4), nullable=True)
    campaign_multiplier: Mapped[Decimal | None] = mapped_column(Numeric(8, 4), nullable=True)
    target_points: Mapped[int] = mapped_column(BigInteger, default=0)
    no_points_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    computation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
