"""Win-back: one campaign per shop and one offer row per shopper, campaign and period.

The unique (campaign, customer, period) key is what makes "never offered twice" hold: a
rerun, a retried chunk job or two workers at once all try to insert the same row and
only one insert wins (ON CONFLICT DO NOTHING); the points, the code and the mail hang off
that one row. Holdout shoppers get a row too (`holdout = true`, nothing sent), so the
would-be offer date is recorded for attribution.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow
from app.models.order import OrderSnapshot

WINBACK_STAGES = ("at_risk", "lapsed")
# holdout: selected, recorded, not sent to; pending_code: the reward code is being created
# on the platform; offered: points posted or code issued, and the mail queued;
# failed: the code could not be created (nothing was sent).
WINBACK_OFFER_STATUSES = ("holdout", "pending_code", "offered", "failed")


class WinbackCampaign(Base):
    """A shop's win-back settings (`app.loyalty.winback.CampaignSettings`, as JSON)."""

    __tablename__ = "winback_campaigns"
    __table_args__ = (UniqueConstraint("shop_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WinbackOffer(Base):
    __tablename__ = "winback_offers"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", "period"),
        Index("ix_winback_offers_shop_customer_offered", "shop_id", "customer_id", "offered_at"),
        Index("ix_winback_offers_shop_offered", "shop_id", "offered_at"),
        Index("ix_winback_offers_status", "status", "points_expire_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("winback_campaigns.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    # `{stage}:{epoch seconds of the last order}`: one offer per stage per lapse.
    period: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(16))
    holdout: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    # When the offer was made (or, for the holdout, would have been): attribution starts here.
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # End of the attribution window, fixed when the offer is made (a later settings change
    # does not move the goalposts of offers already out).
    attribution_ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    days_since_order: Mapped[int] = mapped_column(Integer, default=0)
    threshold_days: Mapped[int] = mapped_column(Integer, default=0)
    offer_kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    ledger_entry_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    points_expire_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    points_expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reward_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    redemption_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    mail_message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WinbackRhythm(Base):
    """A shopper's buying rhythm, derived from their orders: the median gap between orders
    and the time from their first to their second order. Recomputed by each win-back run
    only for shoppers whose order stats changed since (`orders_count`, `last_order_at` on
    the customer differ from the values stored here), so the daily selection reads one row
    per shopper instead of every order of the shop."""

    __tablename__ = "winback_rhythms"
    __table_args__ = (Index("ix_winback_rhythms_shop_second", "shop_id", "second_order_days"),)

    customer_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    # The customer's order stats this row was computed from.
    last_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    orders_count: Mapped[int] = mapped_column(Integer, default=0)
    median_gap_days: Mapped[float | None] = mapped_column(Float, nullable=True)
    second_order_days: Mapped[float | None] = mapped_column(Float, nullable=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Orders by when they last changed: the refunds of the last days, found without reading
# every order of the shop (win-back's refund exclusion).
Index("ix_orders_shop_updated", OrderSnapshot.shop_id, OrderSnapshot.updated_at)
