"""Admin API for earning beyond orders: custom actions recorded for a shopper, bonus
events (CRUD), and a shopper's referrals. Programme settings for birthdays, referrals and
the list of actions live in the programme (`PATCH /program`).

Every query is scoped by the token's shop; another shop's ids are 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from flask import g, jsonify
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from app import audit
from app.admin.api import bp
from app.admin.auth import require_staff
from app.admin.pagination import MAX_ID
from app.admin.schemas import SafeText
from app.errors import NotFound
from app.loyalty import actions
from app.models import Customer, Shop
from app.models.campaign import BonusEvent
from app.models.referral import Referral
from app.openapi import api_route
from app.shops import get_by_id_and_shop
from app.web import db_session

TAGS = ["earning"]
AUTH = {401: "no or bad staff token"}


# -- schemas ----------------------------------------------------------------------------------


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: SafeText = Field(min_length=1, max_length=40, description="A key of the programme's `actions`.")
    reference: SafeText | None = Field(
        default=None, min_length=1, max_length=80,
        description="What was done (e.g. the review id): the same reference earns once.",
    )


class ActionOut(BaseModel):
    entry_id: int
    points: int
    action: str
    created: bool = Field(description="false: this reference was recorded before; nothing new was posted")
    completions: int
    limit: int | None
    points_balance: int


class BonusEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SafeText = Field(min_length=1, max_length=120)
    multiplier: Decimal = Field(ge=1, le=100, max_digits=8, decimal_places=4,
                                description="e.g. 2 for double points; at least 1")
    starts_at: datetime = Field(description="ISO 8601 with a time zone; orders placed at or after")
    ends_at: datetime = Field(description="orders placed before this instant")
    product_ids: list[SafeText] | None = Field(
        default=None, max_length=1000,
        description="Platform product ids the event is limited to; null for every product",
    )
    active: bool = True

    @model_validator(mode="after")
    def _window(self):
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a time zone (e.g. Z)")
        self.starts_at = self.starts_at.astimezone(UTC)
        self.ends_at = self.ends_at.astimezone(UTC)
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.product_ids is not None and not all(p.isdigit() and len(p) <= 64 for p in self.product_ids):
            raise ValueError("product_ids must be numeric platform ids")
        return self


class BonusEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    multiplier: Decimal
    starts_at: datetime
    ends_at: datetime
    product_ids: list[str] | None
    active: bool
    created_at: datetime
    updated_at: datetime


class BonusEventList(BaseModel):
    data: list[BonusEventOut]


class ReferralOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    referrer_customer_id: int
    referred_customer_id: int
    status: str
    refusal_reason: str | None
    order_id: int | None
    qualifies_at: datetime | None
    claimed_at: datetime
    rewarded_at: datetime | None
    welcome_redemption_id: int | None


class ReferralList(BaseModel):
    data: list[ReferralOut]


# -- custom actions -----------------------------------------------------------------------------


@api_route(
    bp, "/customers/<int:customer_id>/actions", methods=["POST"], body=ActionIn, response=ActionOut,
    status=201, tags=TAGS, security="staffToken",
    summary="Reward a custom action (a key of the programme's actions) for a shopper",
    responses={**AUTH, 403: "needs the support role or higher", 404: "no such customer in this shop",
               422: "unknown action, limit reached, or invalid body"},
)
@require_staff("support")
def record_customer_action(customer_id: int, body: ActionIn):
    session = db_session()
    if not 0 < customer_id <= MAX_ID:
        raise NotFound(f"customer {customer_id} not found")
    get_by_id_and_shop(session, Customer, customer_id, g.shop_id)
    shop = session.get(Shop, g.shop_id)
    result = actions.record_action(
        session, shop, customer_id, body.action, reference=body.reference, staff_user_id=g.staff.id,
    )
    if result.created:
        audit.record(
            session, shop_id=g.shop_id, staff=g.staff, action="customer.action",
            target_type="customer", target_id=customer_id, before=None,
            after={"action": body.action, "reference": body.reference, "points": result.entry.points},
        )
    balance = session.scalar(select(Customer.points_balance).where(Customer.id == customer_id))
    out = ActionOut(
        entry_id=result.entry.id, points=result.entry.points, action=body.action, created=result.created,
        completions=result.completions, limit=result.limit, points_balance=int(balance or 0),
    )
    session.commit()
    return jsonify(out.model_dump(mode="json")), (201 if result.created else 200)


# -- bonus events ---------------------------------------------------------------------------------


def _event(bonus_event_id: int) -> BonusEvent:
    if not 0 < bonus_event_id <= MAX_ID:
        raise NotFound(f"bonus event {bonus_event_id} not found")
    return get_by_id_and_shop(db_session(), BonusEvent, bonus_event_id, g.shop_id)


def _snapshot(event: BonusEvent) -> dict:
    return BonusEventOut.model_validate(event).model_dump(mode="json")


@api_route(
    bp, "/bonus-events", methods=["GET"], response=BonusEventList, tags=TAGS, security="staffToken",
    summary="This shop's bonus events, latest start first", responses=AUTH,
)
@require_staff("viewer")
def list_bonus_events() -> BonusEventList:
    rows = db_session().scalars(
        select(BonusEvent).where(BonusEvent.shop_id == g.shop_id)
        .order_by(BonusEvent.starts_at.desc(), BonusEvent.id.desc()).limit(500)
    )
    return BonusEventList(data=[BonusEventOut.model_validate(r) for r in rows])


@api_route(
    bp, "/bonus-events", methods=["POST"], body=BonusEventIn, response=BonusEventOut, status=201,
    tags=TAGS, security="staffToken", summary="Create a bonus event (a points multiplier for a window)",
    responses={**AUTH, 403: "needs the admin role or higher", 422: "invalid body or window"},
)
@require_staff("admin")
def create_bonus_event(body: BonusEventIn) -> BonusEventOut:
    session = db_session()
    event = BonusEvent(shop_id=g.shop_id, **body.model_dump())
    session.add(event)
    session.flush()
    after = _snapshot(event)
    audit.record(session, shop_id=g.shop_id, staff=g.staff, action="bonus_event.create",
                 target_type="bonus_event", target_id=event.id, before=None, after=after)
    session.commit()
    return BonusEventOut.model_validate(after)


@api_route(
    bp, "/bonus-events/<int:bonus_event_id>", methods=["GET"], response=BonusEventOut, tags=TAGS,
    security="staffToken", summary="One bonus event", responses={**AUTH, 404: "no such bonus event"},
)
@require_staff("viewer")
def get_bonus_event(bonus_event_id: int) -> BonusEventOut:
    return BonusEventOut.model_validate(_event(bonus_event_id))


@api_route(
    bp, "/bonus-events/<int:bonus_event_id>", methods=["PUT"], body=BonusEventIn, response=BonusEventOut,
    tags=TAGS, security="staffToken",
    summary="Replace a bonus event; orders that already earned keep the multiplier they froze",
    responses={**AUTH, 403: "needs the admin role or higher", 404: "no such bonus event",
               422: "invalid body or window"},
)
@require_staff("admin")
def replace_bonus_event(bonus_event_id: int, body: BonusEventIn) -> BonusEventOut:
    session = db_session()
    event = _event(bonus_event_id)
    before = _snapshot(event)
    for name, value in body.model_dump().items():
        setattr(event, name, value)
    session.flush()
    after = _snapshot(event)
    audit.record(session, shop_id=g.shop_id, staff=g.staff, action="bonus_event.update",
                 target_type="bonus_event", target_id=event.id, before=before, after=after)
    session.commit()
    return BonusEventOut.model_validate(after)


@api_route(
    bp, "/bonus-events/<int:bonus_event_id>", methods=["DELETE"], status=204, tags=TAGS, security="staffToken",
    summary="Delete a bonus event; orders that already earned keep the multiplier they froze",
    responses={**AUTH, 403: "needs the admin role or higher", 404: "no such bonus event"},
)
@require_staff("admin")
def delete_bonus_event(bonus_event_id: int):
    session = db_session()
    event = _event(bonus_event_id)
    before = _snapshot(event)
    session.delete(event)
    audit.record(session, shop_id=g.shop_id, staff=g.staff, action="bonus_event.delete",
                 target_type="bonus_event", target_id=bonus_event_id, before=before, after=None)
    session.commit()
    return "", 204


# -- referrals --------------------------------------------------------------------------------------


@api_route(
    bp, "/customers/<int:customer_id>/referrals", methods=["GET"], response=ReferralList, tags=TAGS,
    security="staffToken", summary="Referrals the shopper made or came through, with their state",
    responses={**AUTH, 404: "no such customer in this shop"},
)
@require_staff("viewer")
def customer_referrals(customer_id: int) -> ReferralList:
    session = db_session()
    if not 0 < customer_id <= MAX_ID:
        raise NotFound(f"customer {customer_id} not found")
    get_by_id_and_shop(session, Customer, customer_id, g.shop_id)
    rows = session.scalars(
        select(Referral).where(
            Referral.shop_id == g.shop_id,
            (Referral.referrer_customer_id == customer_id) | (Referral.referred_customer_id == customer_id),
        ).order_by(Referral.id.desc()).limit(500)
    )
    return ReferralList(data=[ReferralOut.model_validate(r) for r in rows])
