"""VIP tiers in the admin API: the shop's tiers, and each shopper's tier history.

Tiers change on a live programme without deleting anything: a tier's `key` never changes
(customers and `Reward.tiers` refer to it) and DELETE only switches it off. Every change is
audited and queues a recalculation of the shop (`trigger=settings_change`), which moves
shoppers and records why (`GET /customers/<id>/tier-history`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from flask import g
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.admin.api import bp
from app.admin.auth import require_staff
from app.admin.pagination import MAX_ID, PageQuery, keyset_page
from app.admin.schemas import SafeText
from app.errors import Conflict, NotFound, ValidationFailed
from app.jobs.queues import enqueue
from app.loyalty import tiers as tier_rules
from app.models import Customer, StaffUser
from app.models.tier import Tier, TierChange
from app.openapi import api_route, validation_details
from app.shops import get_by_id_and_shop
from app.web import db_session

TAGS = ["tiers"]
NOT_FOUND = {404: "no such tier in this shop"}
MAX_THRESHOLD = 10**12
KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"

ThresholdKind = Literal["points_earned", "money_spent"]
Window = Literal["lifetime", "calendar_year", "rolling_12_months"]
Multiplier = Decimal


class TierSettings(BaseModel):
    """Everything a merchant sets on a tier except its key."""

    model_config = ConfigDict(extra="forbid")

    name: SafeText = Field(min_length=1, max_length=120)
    threshold_kind: ThresholdKind = Field(description="What the entry threshold is measured on.")
    threshold_value: StrictInt = Field(
        ge=0, le=MAX_THRESHOLD,
        description="Points (points_earned) or minor units of shop currency (money_spent) "
        "needed within the window; 0: every shopper.",
    )
    window: Window = Field(description="lifetime, calendar_year (shop time zone) or rolling_12_months.")
    retention_days: StrictInt = Field(
        default=365, ge=0, le=3650,
        description="Days a shopper keeps the tier after reaching it (and after each renewal) "
        "before a nightly recalculation may move them down.",
    )
    earn_multiplier: Multiplier = Field(
        default=Decimal(1), ge=1, le=100, max_digits=8, decimal_places=4,
        description="Order points are multiplied by this (frozen on each order at its first award).",
    )
    entry_bonus_points: StrictInt = Field(
        default=0, ge=0, le=1_000_000, description="Points given once per shopper on first reaching the tier."
    )
    rank: StrictInt = Field(ge=0, le=1000, description="Higher is better; unique among active tiers.")
    active: StrictBool = True


class TierIn(TierSettings):
    key: str = Field(pattern=KEY_PATTERN, description="Stable id used by customers and rewards; never changes.")


class TierPatch(BaseModel):
    """Fields to change; the result is validated as a whole. The key cannot change."""

    model_config = ConfigDict(extra="forbid")

    name: SafeText | None = Field(default=None, min_length=1, max_length=120)
    threshold_kind: ThresholdKind | None = None
    threshold_value: StrictInt | None = Field(default=None, ge=0, le=MAX_THRESHOLD)
    window: Window | None = None
    retention_days: StrictInt | None = Field(default=None, ge=0, le=3650)
    earn_multiplier: Multiplier | None = Field(default=None, ge=1, le=100, max_digits=8, decimal_places=4)
    entry_bonus_points: StrictInt | None = Field(default=None, ge=0, le=1_000_000)
    rank: StrictInt | None = Field(default=None, ge=0, le=1000)
    active: StrictBool | None = None


class TierOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    name: str
    threshold_kind: str
    threshold_value: int
    window: str
    retention_days: int
    earn_multiplier: str
    entry_bonus_points: int
    rank: int
    active: bool
    created_at: datetime
    updated_at: datetime


class TierList(BaseModel):
    data: list[TierOut]
    next_cursor: str | None


class TierChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    from_tier: str | None
    to_tier: str | None
    reason: str = Field(description="qualified, retention_ended or tier_removed.")
    trigger: str = Field(description="order, recalculation or settings_change.")
    detail: dict[str, Any] = Field(description="The amounts and thresholds the decision used.")
    at: datetime


class TierChangePage(BaseModel):
    data: list[TierChangeOut]
    next_cursor: str | None


class RecalculationQueued(BaseModel):
    queued: bool


def _out(tier: Tier) -> TierOut:
    return TierOut(
        id=tier.id, key=tier.key, name=tier.name, threshold_kind=tier.threshold_kind,
        threshold_value=tier.threshold_value, window=tier.window, retention_days=tier.retention_days,
        earn_multiplier=format(Decimal(tier.earn_multiplier).normalize(), "f"),
        entry_bonus_points=tier.entry_bonus_points, rank=tier.rank, active=tier.active,
        created_at=tier.created_at, updated_at=tier.updated_at,
    )


def _snapshot(tier: Tier) -> dict[str, Any]:
    return _out(tier).model_dump(mode="json")


def _tier(tier_id: int) -> Tier:
    if not 0 < tier_id <= MAX_ID:
        raise NotFound(f"tier {tier_id} not found")
    return get_by_id_and_shop(db_session(), Tier, tier_id, g.shop_id)


def _check_rank_free(tier: Tier) -> None:
    if not tier.active:
        return
    clash = db_session().scalar(
        select(Tier.key).where(
            Tier.shop_id == g.shop_id, Tier.active.is_(True), Tier.rank == tier.rank, Tier.id != tier.id
        )
    )
    if clash is not None:
        raise Conflict(f"rank {tier.rank} is already used by the active tier {clash!r}", code="tier_rank_taken")


def _recalculate_after_commit(session) -> None:
    from app.jobs.tier_jobs import QUEUE, recalculate_shop_tiers

    enqueue(session, recalculate_shop_tiers, g.shop_id, trigger="settings_change", queue=QUEUE)


@api_route(
    bp, "/tiers", methods=["GET"], response=TierList, tags=TAGS, security="staffToken",
    summary="This shop's tiers, active and switched off, by rank",
    responses={401: "no or bad staff token"},
)
@require_staff("viewer")
def list_tiers() -> TierList:
    rows = db_session().scalars(select(Tier).where(Tier.shop_id == g.shop_id).order_by(Tier.rank, Tier.id))
    return TierList(data=[_out(t) for t in rows], next_cursor=None)


@api_route(
    bp, "/tiers/<int:tier_id>", methods=["GET"], response=TierOut, tags=TAGS, security="staffToken",
    summary="One tier", responses={401: "no or bad staff token", **NOT_FOUND},
)
@require_staff("viewer")
def get_tier(tier_id: int) -> TierOut:
    return _out(_tier(tier_id))


@api_route(
    bp, "/tiers", methods=["POST"], body=TierIn, response=TierOut, status=201, tags=TAGS,
    security="staffToken", summary="Create a tier (audited; shoppers are recalculated)",
    responses={
        401: "no or bad staff token", 403: "needs the admin role or higher",
        409: "the key exists in this shop, or the rank is taken by an active tier", 422: "invalid body",
    },
)
@require_staff("admin")
def create_tier(body: TierIn) -> TierOut:
    session = db_session()
    after = _snapshot(add_tier(session, g.staff, body))
    session.commit()
    return TierOut.model_validate(after)


def add_tier(session: Session, staff: StaffUser, body: TierIn) -> Tier:
    """Create a tier in `g.shop_id` (the staff user's shop), audited, with a recalculation
    queued after commit; the caller commits."""
    if session.scalar(select(Tier.id).where(Tier.shop_id == g.shop_id, Tier.key == body.key)) is not None:
        raise Conflict(f"a tier with key {body.key!r} exists (switched-off tiers keep their key)",
                       code="tier_key_taken")
    tier = Tier(shop_id=g.shop_id, **body.model_dump())
    _check_rank_free(tier)
    session.add(tier)
    session.flush()
    audit.record(session, shop_id=g.shop_id, staff=staff, action="tier.create",
                 target_type="tier", target_id=tier.id, before=None, after=_snapshot(tier))
    _recalculate_after_commit(session)
    return tier


@api_route(
    bp, "/tiers/<int:tier_id>", methods=["PATCH"], body=TierPatch, response=TierOut, tags=TAGS,
    security="staffToken",
    summary="Change a live tier (audited); the recalculation moves shoppers and records why",
    responses={
        401: "no or bad staff token", 403: "needs the admin role or higher", **NOT_FOUND,
        409: "the rank is taken by an active tier", 422: "invalid body",
    },
)
@require_staff("admin")
def update_tier(tier_id: int, body: TierPatch) -> TierOut:
    session = db_session()
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    after = change_tier(session, g.staff, _tier(tier_id), changes)
    session.commit()
    return TierOut.model_validate(after)


def change_tier(session: Session, staff: StaffUser, tier: Tier, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply `changes` (a TierPatch's set fields), validated as a whole, audited, with a
    recalculation queued after commit; the caller commits. Returns the tier as it is now."""
    refused = sorted(n for n, v in changes.items() if v is None)
    if refused:
        raise ValidationFailed("request body is invalid",
                               details=[{"field": n, "message": "must not be null"} for n in refused])
    current = {name: getattr(tier, name) for name in TierSettings.model_fields}
    try:
        merged = TierSettings.model_validate({**current, **changes})
    except ValidationError as exc:
        raise ValidationFailed("the tier would not be valid", details=validation_details(exc)) from None
    before = _snapshot(tier)
    for name, value in merged.model_dump().items():
        if getattr(tier, name) != value:
            setattr(tier, name, value)
    _check_rank_free(tier)
    session.flush()
    after = _snapshot(tier)
    audit.record(session, shop_id=g.shop_id, staff=staff, action="tier.update",
                 target_type="tier", target_id=tier.id, before=before, after=after)
    _recalculate_after_commit(session)
    return after


@api_route(
    bp, "/tiers/<int:tier_id>", methods=["DELETE"], status=204, tags=TAGS, security="staffToken",
    summary="Switch a tier off (audited): its members move at the recalculation; the key stays reserved",
    responses={401: "no or bad staff token", 403: "needs the admin role or higher", **NOT_FOUND},
)
@require_staff("admin")
def delete_tier(tier_id: int):
    session = db_session()
    switch_off_tier(session, g.staff, _tier(tier_id))
    session.commit()
    return "", 204


def switch_off_tier(session: Session, staff: StaffUser, tier: Tier) -> None:
    """Switch a tier off, audited, with a recalculation queued; the caller commits."""
    before = _snapshot(tier)
    tier.active = False
    session.flush()
    audit.record(session, shop_id=g.shop_id, staff=staff, action="tier.delete",
                 target_type="tier", target_id=tier.id, before=before, after=_snapshot(tier))
    _recalculate_after_commit(session)


@api_route(
    bp, "/tiers/recalculate", methods=["POST"], response=RecalculationQueued, status=202, tags=TAGS,
    security="staffToken", summary="Queue a tier recalculation of this shop now",
    responses={401: "no or bad staff token", 403: "needs the admin role or higher"},
)
@require_staff("admin")
def recalculate_tiers() -> RecalculationQueued:
    session = db_session()
    _recalculate_after_commit(session)
    session.commit()
    return RecalculationQueued(queued=True)


@api_route(
    bp, "/customers/<int:customer_id>/tier-history", methods=["GET"], query=PageQuery,
    response=TierChangePage, tags=TAGS, security="staffToken",
    summary="A shopper's tier changes, newest first, with the reason and figures of each",
    responses={401: "no or bad staff token", 404: "no such customer in this shop",
               422: "invalid limit or cursor"},
)
@require_staff("viewer")
def customer_tier_history(customer_id: int, query: PageQuery) -> TierChangePage:
    if not 0 < customer_id <= MAX_ID:
        raise NotFound(f"customer {customer_id} not found")
    session = db_session()
    get_by_id_and_shop(session, Customer, customer_id, g.shop_id)
    rows, next_cursor = keyset_page(
        session, tier_rules.tier_history(g.shop_id, customer_id), TierChange.id,
        cursor=query.cursor, limit=query.limit,
    )
    return TierChangePage(data=[TierChangeOut.model_validate(r) for r in rows], next_cursor=next_cursor)
