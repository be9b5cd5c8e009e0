"""What the admin console keeps beyond the ledger and the audit trail: the per-shop console
settings, and adjustments waiting for an admin's approval."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow

DEFAULT_SUPPORT_ADJUSTMENT_LIMIT = 500
APPROVAL_STATUSES = ("pending", "approved", "rejected")


class ConsoleSettings(Base):
    """One row per shop, created on first change; absent means the defaults."""

    __tablename__ = "console_settings"

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    # The largest adjustment (either sign, in points) a support agent posts directly;
    # beyond it the adjustment waits for an admin or the owner.
    support_adjustment_limit: Mapped[int] = mapped_column(
        BigInteger, default=DEFAULT_SUPPORT_ADJUSTMENT_LIMIT
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AdjustmentRequest(Base):
    """An adjustment a support agent asked for beyond their limit. It moves once from
    `pending` to `approved` (the ledger entry is posted then) or `rejected`."""

    __tablename__ = "console_approvals"
    __table_args__ = (Index("ix_console_approvals_shop_status", "shop_id", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    points: Mapped[int] = mapped_column(BigInteger)
    reason_code: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    requested_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), nullable=True
    )
    requested_by: Mapped[str] = mapped_column(String(320))
    decided_by_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), nullable=True
    )
    decided_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    entry_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ConsoleSession(Base):
    """A signed-in console session. The browser holds a random token in the (signed)
    session cookie; only its SHA-256 is stored. Signing out ends the row, so a copied
    cookie stops working at once; idle and absolute limits are checked on every request."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_staff", "staff_user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(16))  # "password" or "session_token"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ShopifyStaffLink(Base):
    """Which console staff user a Shopify staff user (a session token's `sub`) signs in as
    when the console is opened inside Shopify's admin. Without a link, the shop's owner."""

    __tablename__ = "console_shopify_staff"
    __table_args__ = (UniqueConstraint("shop_id", "shopify_user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    shopify_user_id: Mapped[str] = mapped_column(String(32))
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
