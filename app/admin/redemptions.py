"""Staff read a shop's redemptions: what each shopper spent, which code they got, and where
each one stands (pending, issued, used, expired, or failed with the points given back).

Read-only and scoped to the token's shop: another shop's customer id is simply not found.
Redemptions change only through the saga, the sweeper, orders and expiry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import g
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from app.admin.api import bp
from app.admin.auth import require_staff
from app.admin.pagination import MAX_ID, PageQuery, keyset_page
from app.errors import NotFound
from app.models import Customer, Redemption
from app.openapi import api_route
from app.shops import get_by_id_and_shop
from app.web import db_session

TAGS = ["redemptions"]


class RedemptionQuery(PageQuery):
    status: Literal["pending", "issued", "failed", "used", "expired"] | None = Field(
        default=None, description="Only redemptions in this state."
    )


class RedemptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int
    reward_id: int | None = Field(description="Null once the reward was deleted for good.")
    reward_name: str
    reward_kind: str
    status: str
    points_spent: int
    value: int = Field(description="Minor units of `currency`, whole percent, or a product id, "
                                   "by `reward_kind`; frozen at redemption.")
    currency: str
    code: str | None
    platform_discount_id: str | None
    platform_order_id: str | None = Field(description="The order that used the code.")
    attempts: int = Field(description="Platform attempts that settled nothing.")
    last_error: str | None
    created_at: datetime
    issued_at: datetime | None
    used_at: datetime | None
    expires_at: datetime | None
    expired_at: datetime | None
    failed_at: datetime | None


class RedemptionPage(BaseModel):
    data: list[RedemptionOut]
    next_cursor: str | None


def _page(stmt, query: RedemptionQuery) -> RedemptionPage:
    if query.status is not None:
        stmt = stmt.where(Redemption.status == query.status)
    rows, next_cursor = keyset_page(
        db_session(), stmt, Redemption.id, cursor=query.cursor, limit=query.limit
    )
    return RedemptionPage(data=[RedemptionOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@api_route(
    bp, "/redemptions", methods=["GET"], query=RedemptionQuery, response=RedemptionPage,
    tags=TAGS, security="staffToken", summary="This shop's redemptions, newest first",
    responses={401: "no or bad staff token", 422: "invalid query parameters or cursor"},
)
@require_staff("viewer")
def list_redemptions(query: RedemptionQuery) -> RedemptionPage:
    return _page(select(Redemption).where(Redemption.shop_id == g.shop_id), query)


@api_route(
    bp, "/customers/<int:customer_id>/redemptions", methods=["GET"], query=RedemptionQuery,
    response=RedemptionPage, tags=TAGS, security="staffToken",
    summary="One customer's redemptions, newest first",
    responses={401: "no or bad staff token", 404: "no such customer in this shop",
               422: "invalid query parameters or cursor"},
)
@require_staff("viewer")
def list_customer_redemptions(customer_id: int, query: RedemptionQuery) -> RedemptionPage:
    if not 0 < customer_id <= MAX_ID:
        raise NotFound(f"customer {customer_id} not found")
    customer = get_by_id_and_shop(db_session(), Customer, customer_id, g.shop_id)
    stmt = select(Redemption).where(
        Redemption.shop_id == g.shop_id, Redemption.customer_id == customer.id
    )
    return _page(stmt, query)
