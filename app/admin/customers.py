"""Support staff look shoppers up, read their ledger and adjust their balance.

Every query is scoped by the token's shop (`g.shop_id`); another shop's customer id is
simply not found (404), so ids reveal nothing across shops. An adjustment is a ledger
entry plus an audit event in one transaction, replay-safe through `Idempotency-Key`.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import g, jsonify, request
from sqlalchemy import func, or_, select

from app import audit
from app.admin.api import bp
from app.admin.auth import require_staff
from app.admin.pagination import MAX_ID, PageQuery, keyset_page
from app.admin.schemas import (
    AdjustmentIn,
    AdjustmentOut,
    CustomerDetail,
    CustomerList,
    CustomerOut,
    CustomerSearchQuery,
    LedgerEntryOut,
    LedgerPage,
)
from app.errors import NotFound, ValidationFailed
from app.loyalty import ledger
from app.loyalty.errors import IdempotencyConflict
from app.models import Customer, LedgerEntry, Shop
from app.openapi import api_route
from app.shops import get_by_id_and_shop
from app.web import db_session

TAGS = ["customers"]
NOT_FOUND = {404: "no such customer in this shop"}
# Printable ASCII without spaces: what clients put in an Idempotency-Key header.
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
_KEY_PREFIX = "admin-adjust:"


def _customer(customer_id: int, *, lock: bool = False) -> Customer:
    """This shop's customer, or 404. With `lock`, the row is held until commit so balance
    checks and replays of one adjustment serialise."""
    if not 0 < customer_id <= MAX_ID:
        raise NotFound(f"customer {customer_id} not found")
    session = db_session()
    if not lock:
        return get_by_id_and_shop(session, Customer, customer_id, g.shop_id)
    found = session.scalar(
        select(Customer)
        .where(Customer.id == customer_id, Customer.shop_id == g.shop_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if found is None:
        raise NotFound(f"customer {customer_id} not found")
    return found


def _currency() -> str:
    return db_session().scalar(select(Shop.currency).where(Shop.id == g.shop_id)) or "USD"


def _summary(customer: Customer, currency: str) -> CustomerOut:
    data = {
        name: getattr(customer, name) for name in CustomerOut.model_fields if name != "currency"
    }
    return CustomerOut(currency=currency, **data)


def _detail(customer: Customer, currency: str) -> CustomerDetail:
    computed = {"currency", "average_order_minor", "redacted"}
    data = {
        name: getattr(customer, name)
        for name in CustomerDetail.model_fields
        if name not in computed
    }
    orders = customer.orders_count or 0
    return CustomerDetail(
        currency=currency,
        average_order_minor=(customer.total_spent_minor // orders) if orders > 0 else 0,
        redacted=customer.redacted_at is not None,
        **data,
    )


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search_filter(query: str) -> Any:
    """Email containing '@': a prefix match, as typed or lower-cased, which the
    (shop_id, email) index serves. Anything else: a case-insensitive part of the email,
    first or last name, or the exact platform id."""
    if "@" in query and " " not in query:
        prefixes = {query, query.lower()}
        return or_(*(Customer.email.startswith(p, autoescape=True) for p in prefixes))
    pattern = f"%{_like_escape(query)}%"
    return or_(
        Customer.email.ilike(pattern, escape="\\"),
        Customer.first_name.ilike(pattern, escape="\\"),
        Customer.last_name.ilike(pattern, escape="\\"),
        (
            func.coalesce(Customer.first_name, "") + " " + func.coalesce(Customer.last_name, "")
        ).ilike(pattern, escape="\\"),
        Customer.platform_id == query,
    )


@api_route(
    bp,
    "/customers",
    methods=["GET"],
    query=CustomerSearchQuery,
    response=CustomerList,
    tags=TAGS,
    security="staffToken",
    summary="Search this shop's customers, newest first",
    responses={401: "no or bad staff token", 422: "invalid query parameters or cursor"},
)
@require_staff("viewer")
def list_customers(query: CustomerSearchQuery) -> CustomerList:
    stmt = select(Customer).where(Customer.shop_id == g.shop_id)
    if query.query is not None and query.query.strip():
        stmt = stmt.where(_search_filter(query.query.strip()))
    if query.platform_id is not None:
        stmt = stmt.where(Customer.platform_id == query.platform_id)
    rows, next_cursor = keyset_page(
        db_session(), stmt, Customer.id, cursor=query.cursor, limit=query.limit
    )
    currency = _currency()
    return CustomerList(data=[_summary(c, currency) for c in rows], next_cursor=next_cursor)


@api_route(
    bp,
    "/customers/<int:customer_id>",
    methods=["GET"],
    response=CustomerDetail,
    tags=TAGS,
    security="staffToken",
    summary="One customer with order stats",
    responses={401: "no or bad staff token", **NOT_FOUND},
)
@require_staff("viewer")
def get_customer(customer_id: int) -> CustomerDetail:
    return _detail(_customer(customer_id), _currency())


@api_route(
    bp,
    "/customers/<int:customer_id>/ledger",
    methods=["GET"],
    query=PageQuery,
    response=LedgerPage,
    tags=TAGS,
    security="staffToken",
    summary="A customer's ledger entries, newest first",
    responses={401: "no or bad staff token", **NOT_FOUND, 422: "invalid limit or cursor"},
)
@require_staff("viewer")
def list_customer_ledger(customer_id: int, query: PageQuery) -> LedgerPage:
    customer = _customer(customer_id)
    stmt = select(LedgerEntry).where(
        LedgerEntry.shop_id == g.shop_id, LedgerEntry.customer_id == customer.id
    )
    rows, next_cursor = keyset_page(
        db_session(), stmt, LedgerEntry.id, cursor=query.cursor, limit=query.limit
    )
    return LedgerPage(
        data=[LedgerEntryOut.model_validate(e) for e in rows], next_cursor=next_cursor
    )


def _idempotency_key() -> str:
    """The client's Idempotency-Key, or a fresh one: without a key every request is new."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return uuid.uuid4().hex
    if not _IDEMPOTENCY_KEY.match(key):
        raise ValidationFailed(
            "Idempotency-Key must be 1 to 128 printable ASCII characters without spaces",
            code="invalid_idempotency_key",
        )
    return key


@api_route(
    bp,
    "/customers/<int:customer_id>/adjustments",
    methods=["POST"],
    body=AdjustmentIn,
    response=AdjustmentOut,
    status=201,
    tags=TAGS,
    security="staffToken",
    summary="Credit or debit points by hand, with a reason (audited). Optional header "
    "Idempotency-Key: a replay answers 200 with the first entry and `replayed: true`",
    responses={
        401: "no or bad staff token",
        403: "needs the support role or higher",
        **NOT_FOUND,
        409: "the Idempotency-Key was already used for a different adjustment",
        422: "invalid body, or a debit larger than the balance",
    },
)
@require_staff("support")
def create_adjustment(customer_id: int, body: AdjustmentIn):
    """Post an `adjust` entry and its audit event in one transaction. The customer row is
    locked first, so the balance recorded as `before` is the one the entry applies to and a
    replayed Idempotency-Key is seen as a replay even when both requests race."""
    key = _idempotency_key()
    session = db_session()
    customer = _customer(customer_id, lock=True)
    ledger_key = _KEY_PREFIX + key
    existing = ledger.find_by_key(session, g.shop_id, ledger_key)
    if existing is not None:
        first = (existing.customer_id, existing.kind, existing.points, existing.reason)
        if first != (customer.id, "adjust", body.points, body.reason):
            raise IdempotencyConflict(
                "this Idempotency-Key was already used for a different adjustment",
                details={"entry_id": existing.id},
            )
        balance = customer.points_balance
        session.commit()
        replay = AdjustmentOut(
            entry=LedgerEntryOut.model_validate(existing), points_balance=balance, replayed=True
        )
        return jsonify(replay.model_dump(mode="json")), 200

    before = customer.points_balance
    entry = ledger.post(
        session,
        shop_id=g.shop_id,
        customer_id=customer.id,
        points=body.points,
        kind="adjust",
        idempotency_key=ledger_key,
        reason=body.reason,
        staff_user_id=g.staff.id,
    )
    audit.record(
        session,
        shop_id=g.shop_id,
        staff=g.staff,
        action="customer.adjust",
        target_type="customer",
        target_id=customer.id,
        before={"points_balance": before},
        after={"points_balance": entry.balance_after, "entry_id": entry.id, "points": entry.points},
        reason=body.reason,
    )
    session.commit()
    return AdjustmentOut(
        entry=LedgerEntryOut.model_validate(entry),
        points_balance=entry.balance_after,
        replayed=False,
    )
