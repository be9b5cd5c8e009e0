from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow

# pending → issued → used | expired ; pending → failed (points given back)
REDEMPTION_STATUSES = ("pending", "issued", "failed", "used", "expired")


class Redemption(Base):
    """Points spent on a reward: the saga's state. The debit and this row are written in
    one transaction; the platform discount is created afterwards with a code derived
    from this row's id, so a retry can never make a second one."""

    __tablename__ = "redemptions"
    __table_args__ = (
        UniqueConstraint("shop_id", "customer_id", "idempotency_key"),
        UniqueConstraint("shop_id", "code"),
        Index("ix_redemptions_shop_status", "shop_id", "status", "created_at"),
        Index("ix_redemptions_customer", "shop_id", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    reward_id: Mapped[int | None] = mapped_column(
        ForeignKey("rewards.id", ondelete="SET NULL"), nullable=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reward_kind: Mapped[str] = mapped_column(String(20))
    reward_name: Mapped[str] = mapped_column(String(120))
    points_spent: Mapped[int] = mapped_column(BigInteger)
    # What the code is worth, frozen at redemption: minor units, percent or variant id.
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    platform_discount_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    debit_entry_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    refund_entry_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    platform_order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
