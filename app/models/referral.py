from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow

# claimed → qualifying (first earning order seen) → rewarded | refused
REFERRAL_STATUSES = ("claimed", "qualifying", "rewarded", "refused")


class Referral(Base):
    """A new shopper who arrived through a member's referral link. A shopper is referred
    at most once (unique per shop); the referrer is rewarded at most once per referral
    (ledger key `referral:{id}:referrer`)."""

    __tablename__ = "referrals"
    __table_args__ = (
        UniqueConstraint("shop_id", "referred_customer_id"),
        Index("ix_referrals_shop_referrer", "shop_id", "referrer_customer_id", "rewarded_at"),
        Index("ix_referrals_status_due", "status", "qualifies_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    referrer_customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    referred_customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12), default="claimed")
    refusal_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    order_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    qualifies_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reward_entry_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    welcome_redemption_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rewarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CustomerFingerprint(Base):
    """A hashed shipping address (or payment fingerprint) a customer's orders used: how a
    referral between two accounts of one person is recognised. Only the hash is kept."""

    __tablename__ = "customer_fingerprints"
    __table_args__ = (
        UniqueConstraint("shop_id", "kind", "fingerprint", "customer_id"),
        Index("ix_customer_fingerprints_customer", "shop_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # shipping | payment
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
