"""Lifecycle mail: one row per (shop, customer, kind, event).

The unique key is what makes "never sent twice for the same event" hold: queueing the same
event again inserts nothing, and the send job marks the row `sent` in the transaction that
holds its lock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow

MAIL_KINDS = (
    "points_earned", "reward_affordable", "tier_reached", "points_expiring", "referral_reward",
    "winback_at_risk", "winback_lapsed",
)
# Marketing mail (win-back offers): also needs the shopper's marketing consent.
MARKETING_KINDS = ("winback_at_risk", "winback_lapsed")
# queued: waiting to be sent (or retried); sent: handed to the SMTP server;
# failed: gave up after the last retry; suppressed: not sent, by decision (unsubscribed,
# switched off or redacted by the time it was due).
MAIL_STATUSES = ("queued", "sent", "failed", "suppressed")


class MailMessage(Base):
    __tablename__ = "mail_messages"
    __table_args__ = (
        UniqueConstraint("shop_id", "customer_id", "kind", "event_key"),
        Index("ix_mail_messages_shop_customer_created", "shop_id", "customer_id", "created_at"),
        Index("ix_mail_messages_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    event_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    locale: Mapped[str] = mapped_column(String(16), default="en")
    subject: Mapped[str | None] = mapped_column(String(500), nullable=True)
    to_address: Mapped[str | None] = mapped_column(String(320), nullable=True)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
