from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, UTCDateTime, utcnow

REWARD_KINDS = ("fixed_amount", "percentage", "free_shipping", "free_product", "variable_amount")


class Reward(Base):
    """Something points buy: a discount code created on the shop's platform.

    `value` means: minor units of shop currency (`fixed_amount`; per step for
    `variable_amount`), whole percent (`percentage`), the platform variant/product id
    (`free_product`), nothing (`free_shipping`). A `variable_amount` reward sells steps of
    `points_cost` points, between `min_points` and `max_points`.
    """

    __tablename__ = "rewards"
    __table_args__ = (Index("ix_rewards_shop_active", "shop_id", "active"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))
    points_cost: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    min_points: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_points: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    min_order_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    code_valid_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tiers: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    combines_with_other_discounts: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
