"""Install and connect attempts: the one-time values that bind a platform's answer to the
request that started it.

A Shopify OAuth `state` nonce and a WooCommerce `user_id` are both random tokens we hand
to the platform and expect back exactly once. Only their SHA-256 is stored (a copy of the
table cannot be replayed), with an expiry; `used_at` is set by a conditional update, so
two answers carrying the same token cannot both be accepted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow


class InstallAttempt(Base):
    __tablename__ = "install_attempts"
    __table_args__ = (Index("ix_install_attempts_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    # The myshopify domain, or the WooCommerce store URL the merchant typed (normalised).
    domain: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The shop the attempt installed or connected, once it has.
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), nullable=True)
