from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow

IMPORT_STATUSES = ("queued", "running", "done", "failed")
IMPORT_FORMATS = ("auto", "loyaltyloop", "smile", "loyaltylion", "yotpo")


class BalanceImport(Base):
    """One upload of customers and balances from a CSV file (see `app.imports`).

    The file itself is kept here so the worker that runs the import needs nothing but the
    database; progress (`processed_rows` of `total_rows`) is written as the job goes, so a
    page can show it. A dry run fills `errors` and the counts but changes no customer."""

    __tablename__ = "balance_imports"
    __table_args__ = (Index("ix_balance_imports_shop_created", "shop_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), nullable=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    requested_format: Mapped[str] = mapped_column(String(20))
    detected_format: Mapped[str | None] = mapped_column(String(20), nullable=True)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    changed_rows: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_customers: Mapped[int] = mapped_column(Integer, default=0)
    # [{"line": int, "code": str, "reason": str}], one per bad row (line 1 is the header).
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
