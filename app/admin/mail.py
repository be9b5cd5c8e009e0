"""Admin: the lifecycle mail a customer was sent (or not, and why)."""

from __future__ import annotations

from datetime import datetime

from flask import g
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from app.admin.api import bp
from app.admin.auth import require_staff
from app.admin.pagination import PageQuery, keyset_page
from app.models import Customer
from app.models.mail import MailMessage
from app.openapi import api_route
from app.shops import get_by_id_and_shop
from app.web import db_session


class MailMessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    event_key: str
    status: str
    attempts: int
    last_error: str | None
    locale: str
    subject: str | None
    to_address: str | None
    created_at: datetime
    sent_at: datetime | None


class MailPage(BaseModel):
    data: list[MailMessageOut]
    next_cursor: str | None


@api_route(
    bp,
    "/customers/<int:customer_id>/mail",
    methods=["GET"],
    query=PageQuery,
    response=MailPage,
    tags=["mail"],
    security="staffToken",
    summary="A customer's lifecycle mail, newest first",
    responses={401: "no or bad staff token", 404: "no such customer in this shop", 422: "invalid limit or cursor"},
)
@require_staff("viewer")
def list_customer_mail(customer_id: int, query: PageQuery) -> MailPage:
    session = db_session()
    customer = get_by_id_and_shop(session, Customer, customer_id, g.shop_id)
    stmt = select(MailMessage).where(MailMessage.shop_id == g.shop_id, MailMessage.customer_id == customer.id)
    rows, next_cursor = keyset_page(session, stmt, MailMessage.id, cursor=query.cursor, limit=query.limit)
    return MailPage(data=[MailMessageOut.model_validate(m) for m in rows], next_cursor=next_cursor)
