"""Merchants define what points buy: the rewards catalogue of the admin API.

A reward is validated as a whole for its kind (a percentage over 100 or a variable
reward whose steps do not divide its range is refused), on create and after a partial
update alike. Deleting is soft (`deleted_at`, `active=false`): redemptions keep the
values frozen when they were made, and the id is never reused. Every change writes an
audit event with the reward before and after, in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from flask import g
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.admin.api import bp
from app.admin.auth import require_staff
from app.admin.pagination import MAX_ID, PageQuery, keyset_page
from app.admin.schemas import SafeText, _storable
from app.errors import NotFound, ValidationFailed
from app.models import Reward, StaffUser
from app.models.base import utcnow
from app.openapi import api_route, validation_details
from app.web import db_session

TAGS = ["rewards"]
NOT_FOUND = {404: "no such reward in this shop (or it was deleted)"}
MAX_POINTS_COST = 10_000_000
MAX_VALUE_MINOR = 10_000_000
MAX_ORDER_MINOR = 10**12
MAX_PLATFORM_ID = 2**63 - 1

# free_shipping first: the smallest valid reward (it needs no value) is what generic
# clients and schema-driven tools build from the first choice.
RewardKind = Literal["free_shipping", "fixed_amount", "percentage", "free_product", "variable_amount"]
TierKey = Annotated[StrictStr, AfterValidator(_storable), Field(min_length=1, max_length=64)]


class RewardFields(BaseModel):
    """Everything a merchant sets on a reward; the rules per kind live in `_check_kind`."""

    model_config = ConfigDict(extra="forbid")

    name: SafeText = Field(min_length=1, max_length=120)
    kind: RewardKind
    points_cost: StrictInt = Field(
        ge=1,
        le=MAX_POINTS_COST,
        description="Points the reward costs; for variable_amount, the points of one step.",
    )
    value: StrictInt = Field(
        default=0,
        ge=0,
        le=MAX_PLATFORM_ID,
        description="fixed_amount: minor units of shop currency (1..10,000,000); percentage: "
        "whole percent (1..100); free_product: the platform variant/product id; "
        "free_shipping: 0; variable_amount: minor units bought by one step (1..10,000,000).",
    )
    min_points: StrictInt | None = Field(
        default=None, ge=1, le=MAX_POINTS_COST * 100,
        description="variable_amount only: fewest points per redemption (a multiple of points_cost).",
    )
    max_points: StrictInt | None = Field(
        default=None, ge=1, le=MAX_POINTS_COST * 100,
        description="variable_amount only: most points per redemption (a multiple of points_cost).",
    )
    min_order_minor: StrictInt | None = Field(
        default=None, ge=0, le=MAX_ORDER_MINOR,
        description="The code needs an order of at least this much (minor units).",
    )
    code_valid_days: StrictInt | None = Field(
        default=None, ge=1, le=365, description="Days the code stays valid; null: no expiry."
    )
    tiers: list[TierKey] | None = Field(
        default=None, min_length=1, max_length=50,
        description="Tier keys that may redeem; null: every shopper.",
    )
    combines_with_other_discounts: StrictBool = False
    active: StrictBool = True

    @model_validator(mode="after")
    def _check_kind(self) -> RewardFields:
        kind, value = self.kind, self.value
        if kind == "fixed_amount" and not 1 <= value <= MAX_VALUE_MINOR:
            raise ValueError(f"a fixed_amount value is 1 to {MAX_VALUE_MINOR} minor units")
        if kind == "percentage" and not 1 <= value <= 100:
            raise ValueError("a percentage value is a whole percent from 1 to 100")
        if kind == "free_product" and value < 1:
            raise ValueError("a free_product value is the platform variant or product id")
        if kind == "free_shipping" and value != 0:
            raise ValueError("a free_shipping reward has value 0")
        if kind == "variable_amount":
            if not 1 <= value <= MAX_VALUE_MINOR:
                raise ValueError(f"a variable_amount value (per step) is 1 to {MAX_VALUE_MINOR}")
            if self.min_points is None or self.max_points is None:
                raise ValueError("a variable_amount reward needs min_points and max_points")
            for name in ("min_points", "max_points"):
                if getattr(self, name) % self.points_cost:
                    raise ValueError(f"{name} must be a multiple of points_cost")
            if self.min_points > self.max_points:
                raise ValueError("min_points must not be more than max_points")
        elif self.min_points is not None or self.max_points is not None:
            raise ValueError("min_points and max_points are for variable_amount rewards only")
        if self.tiers is not None and len(set(self.tiers)) != len(self.tiers):
            raise ValueError("tiers must not repeat a tier key")
        return self


class RewardIn(RewardFields):
    """A new reward."""


class RewardPatch(BaseModel):
    """Fields to change; the others keep their value. null clears an optional field and
    is refused for a required one. The result is validated as a whole."""

    model_config = ConfigDict(extra="forbid")

    name: SafeText | None = Field(default=None, min_length=1, max_length=120)
    kind: RewardKind | None = None
    points_cost: StrictInt | None = Field(default=None, ge=1, le=MAX_POINTS_COST)
    value: StrictInt | None = Field(default=None, ge=0, le=MAX_PLATFORM_ID)
    min_points: StrictInt | None = Field(default=None, ge=1, le=MAX_POINTS_COST * 100)
    max_points: StrictInt | None = Field(default=None, ge=1, le=MAX_POINTS_COST * 100)
    min_order_minor: StrictInt | None = Field(default=None, ge=0, le=MAX_ORDER_MINOR)
    code_valid_days: StrictInt | None = Field(default=None, ge=1, le=365)
    tiers: list[TierKey] | None = Field(default=None, min_length=1, max_length=50)
    combines_with_other_discounts: StrictBool | None = None
    active: StrictBool | None = None


NULLABLE = {"min_points", "max_points", "min_order_minor", "code_valid_days", "tiers"}


class RewardOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    points_cost: int
    value: int
    min_points: int | None
    max_points: int | None
    min_order_minor: int | None
    code_valid_days: int | None
    tiers: list[str] | None
    combines_with_other_discounts: bool
    active: bool
    created_at: datetime
    updated_at: datetime


class RewardList(BaseModel):
    data: list[RewardOut]
    next_cursor: str | None


def _reward(reward_id: int) -> Reward:
    """This shop's reward, not deleted, or 404. Another shop's id is simply not found."""
    if not 0 < reward_id <= MAX_ID:
        raise NotFound(f"reward {reward_id} not found")
    found = db_session().scalar(
        select(Reward).where(
            Reward.id == reward_id, Reward.shop_id == g.shop_id, Reward.deleted_at.is_(None)
        )
    )
    if found is None:
        raise NotFound(f"reward {reward_id} not found")
    return found


def _snapshot(reward: Reward) -> dict[str, Any]:
    return RewardOut.model_validate(reward).model_dump(mode="json")


def _fields(reward: Reward) -> dict[str, Any]:
    return {name: getattr(reward, name) for name in RewardFields.model_fields}


@api_route(
    bp,
    "/rewards",
    methods=["GET"],
    query=PageQuery,
    response=RewardList,
    tags=TAGS,
    security="staffToken",
    summary="This shop's rewards, active and inactive (deleted ones are left out), newest first",
    responses={401: "no or bad staff token", 422: "invalid limit or cursor"},
)
@require_staff("viewer")
def list_rewards(query: PageQuery) -> RewardList:
    stmt = select(Reward).where(Reward.shop_id == g.shop_id, Reward.deleted_at.is_(None))
    rows, next_cursor = keyset_page(
        db_session(), stmt, Reward.id, cursor=query.cursor, limit=query.limit
    )
    return RewardList(data=[RewardOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@api_route(
    bp,
    "/rewards/<int:reward_id>",
    methods=["GET"],
    response=RewardOut,
    tags=TAGS,
    security="staffToken",
    summary="One reward",
    responses={401: "no or bad staff token", **NOT_FOUND},
)
@require_staff("viewer")
def get_reward(reward_id: int) -> RewardOut:
    return RewardOut.model_validate(_reward(reward_id))


@api_route(
    bp,
    "/rewards",
    methods=["POST"],
    body=RewardIn,
    response=RewardOut,
    status=201,
    tags=TAGS,
    security="staffToken",
    summary="Create a reward (audited)",
    responses={
        401: "no or bad staff token",
        403: "needs the admin role or higher",
        422: "invalid body, or values that do not fit the kind",
    },
)
@require_staff("admin")
def create_reward(body: RewardIn) -> RewardOut:
    session = db_session()
    reward = add_reward(session, g.staff, body)
    after = _snapshot(reward)
    session.commit()
    return RewardOut.model_validate(after)


def add_reward(session: Session, staff: StaffUser, body: RewardIn) -> Reward:
    """Create a reward in the staff user's shop, audited; the caller commits."""
    reward = Reward(shop_id=staff.shop_id, **body.model_dump())
    session.add(reward)
    session.flush()
    audit.record(
        session, shop_id=staff.shop_id, staff=staff, action="reward.create",
        target_type="reward", target_id=reward.id, before=None, after=_snapshot(reward),
    )
    return reward


@api_route(
    bp,
    "/rewards/<int:reward_id>",
    methods=["PATCH"],
    body=RewardPatch,
    response=RewardOut,
    tags=TAGS,
    security="staffToken",
    summary="Change some fields of a reward; the result is validated as a whole (audited)",
    responses={
        401: "no or bad staff token",
        403: "needs the admin role or higher",
        **NOT_FOUND,
        422: "invalid body, or the reward would no longer fit its kind",
    },
)
@require_staff("admin")
def update_reward(reward_id: int, body: RewardPatch) -> RewardOut:
    session = db_session()
    reward = _reward(reward_id)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    after = change_reward(session, g.staff, reward, changes)
    session.commit()
    return RewardOut.model_validate(after)


def change_reward(
    session: Session, staff: StaffUser, reward: Reward, changes: dict[str, Any]
) -> dict[str, Any]:
    """Apply `changes` (a RewardPatch's set fields), validated as a whole, audited; the
    caller commits. Returns the reward as it is now."""
    refused = sorted(n for n, v in changes.items() if v is None and n not in NULLABLE)
    if refused:
        raise ValidationFailed(
            "request body is invalid",
            details=[{"field": n, "message": "must not be null"} for n in refused],
        )
    try:
        merged = RewardFields.model_validate({**_fields(reward), **changes})
    except ValidationError as exc:
        raise ValidationFailed(
            "the reward would not be valid", details=validation_details(exc)
        ) from None
    before = _snapshot(reward)
    for name, value in merged.model_dump().items():
        if getattr(reward, name) != value:
            setattr(reward, name, value)
    session.flush()
    after = _snapshot(reward)
    audit.record(
        session, shop_id=reward.shop_id, staff=staff, action="reward.update",
        target_type="reward", target_id=reward.id, before=before, after=after,
    )
    return after


@api_route(
    bp,
    "/rewards/<int:reward_id>",
    methods=["DELETE"],
    tags=TAGS,
    security="staffToken",
    status=204,
    summary="Delete a reward: it leaves the catalogue; redemptions already made keep their "
    "values (audited)",
    responses={401: "no or bad staff token", 403: "needs the admin role or higher", **NOT_FOUND},
)
@require_staff("admin")
def delete_reward(reward_id: int):
    session = db_session()
    remove_reward(session, g.staff, _reward(reward_id))
    session.commit()
    return "", 204


def remove_reward(session: Session, staff: StaffUser, reward: Reward) -> None:
    """Soft-delete a reward, audited; the caller commits."""
    before = _snapshot(reward)
    reward.active = False
    reward.deleted_at = utcnow()
    session.flush()
    audit.record(
        session, shop_id=reward.shop_id, staff=staff, action="reward.delete",
        target_type="reward", target_id=reward.id, before=before,
        after={**_snapshot(reward), "deleted_at": reward.deleted_at.isoformat()},
    )
