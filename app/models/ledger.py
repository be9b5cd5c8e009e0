from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow

ENTRY_KINDS = (
    "earn_order",
    "earn_signup",
    "earn_birthday",
    "earn_referral",
    "earn_action",
    "redeem",
    "reversal",
    "expire",
    "adjust",
    "import",
)
ENTRY_STATUSES = ("pending", "posted", "voided")


class LedgerEntry(Base):
    """One append-only movement of points. Amount, kind, customer and key never change;
    only a pending entry's status moves, once, to posted or voided."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("shop_id", "idempotency_key"),
        UniqueConstraint("customer_id", "seq"),
        Index("ix_ledger_entries_customer_id_desc", "shop_id", "customer_id", "id"),
        Index("ix_ledger_entries_order", "shop_id", "order_id"),
        Index("ix_ledger_entries_pending", "shop_id", "status", "available_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    points: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    # Place in the customer's posted sequence and the balance right after it (posted only).
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    balance_after: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), nullable=True
    )
    redemption_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), nullable=True
    )
    reverses_entry_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    available_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
