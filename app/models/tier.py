"""VIP tiers of a shop and the history of every shopper's tier changes."""

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
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow

THRESHOLD_KINDS = ("points_earned", "money_spent")
WINDOWS = ("lifetime", "calendar_year", "rolling_12_months")
# Why a shopper's tier changed (TierChange.reason).
CHANGE_REASONS = ("qualified", "retention_ended", "tier_removed")


class Tier(Base):
    """One VIP tier. Customers point at it by `key` (as do `Reward.tiers`), so a tier is
    never deleted or re-keyed: it is switched off (`active=false`) and the nightly
    recalculation moves its members. `rank` orders tiers (higher is better), because a
    points threshold and a money threshold cannot be compared with each other."""

    __tablename__ = "tiers"
    __table_args__ = (UniqueConstraint("shop_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    threshold_kind: Mapped[str] = mapped_column(String(20))
    # Points for points_earned; minor units of shop currency for money_spent.
    threshold_value: Mapped[int] = mapped_column(BigInteger)
    window: Mapped[str] = mapped_column(String(20))
    retention_days: Mapped[int] = mapped_column(Integer, default=0)
    earn_multiplier: Mapped[Decimal] = mapped_column(Numeric(8, 4), default=Decimal(1))
    entry_bonus_points: Mapped[int] = mapped_column(BigInteger, default=0)
    rank: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TierChange(Base):
    """A shopper moved from one tier to another (either may be null: no tier), and why:
    `reason` is one of CHANGE_REASONS, `trigger` what ran the evaluation (`order`,
    `recalculation`, `settings_change`), `detail` the figures the decision used."""

    __tablename__ = "tier_changes"
    __table_args__ = (Index("ix_tier_changes_customer", "shop_id", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    from_tier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_tier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
