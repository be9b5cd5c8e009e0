from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.crypto import EncryptedJSON
from app.models.base import Base, BigId, UTCDateTime, utcnow

PLATFORMS = ("shopify", "woocommerce")


class Shop(Base):
    """A merchant's store. `domain` is the myshopify domain or the WooCommerce store URL."""

    __tablename__ = "shops"
    __table_args__ = (UniqueConstraint("platform", "domain"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    domain: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Access tokens, consumer keys and webhook secrets: encrypted at rest, never logged.
    credentials: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON, nullable=True)
    widget_secret: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON, nullable=True)
    program: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    storefront_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    install_state: Mapped[str] = mapped_column(String(20), default="installed")
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uninstalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def is_installed(self) -> bool:
        return self.install_state == "installed"

    def widget_secret_value(self) -> str:
        return (self.widget_secret or {}).get("secret", "")
