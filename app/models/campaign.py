from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow


class BonusEvent(Base):
    """A multiplier on order points for orders placed in [starts_at, ends_at) — "double
    points weekend" — optionally only for some products. Orders freeze the multiplier
    they got at their first award, so editing or deleting an event never changes the
    points of an order already earned (app.loyalty.bonus_events)."""

    __tablename__ = "bonus_events"
    __table_args__ = (Index("ix_bonus_events_shop_window", "shop_id", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    multiplier: Mapped[Decimal] = mapped_column(Numeric(8, 4))
    # Both default to the moment of creation: an empty window until the staff set one.
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Platform product ids the event is limited to; null: every product.
    product_ids: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
