"""Storefront views for earning beyond orders: the shopper's birthday and referral link,
and claiming a friend's referral code. Registered on both storefront blueprints
(`/storefront/v1`, `/proxy/v1`) by `widgets.storefront`, with its verified identity: the
shopper is always the signed one, never an id from the body.
"""

from __future__ import annotations

import datetime as dt

from flask import request
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from sqlalchemy import func, select

from app.errors import ValidationFailed
from app.jobs.queues import enqueue
from app.loyalty import referrals
from app.loyalty.customers import ensure_customer
from app.models import Customer, Redemption, Shop
from app.models.referral import Referral
from app.web import db_session
from widgets.storefront import AUTH_ERRORS, _require_member, _shop


class BirthdayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    birthday: dt.date = Field(description="YYYY-MM-DD")


class BirthdayOut(BaseModel):
    birthday: dt.date | None
    birthday_points: int


class ReferralLinkOut(BaseModel):
    code: str
    url: str | None
    referral_points: int
    referrals_rewarded: int
    referrals_waiting: int


class ReferralClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: StrictStr = Field(min_length=4, max_length=32)


class ReferralClaimOut(BaseModel):
    status: str
    welcome_redemption_id: int | None = Field(
        description="The welcome reward's redemption; its code appears in /history once created",
    )


def _member() -> Customer:
    """The signed-in shopper's row, created when we have none yet (a brand-new account)."""
    platform_id = _require_member()
    customer, _ = ensure_customer(db_session(), _shop().id, platform_id)
    return customer


def set_birthday(body: BirthdayIn) -> BirthdayOut:
    """Set the shopper's birthday; changing it never gives a second bonus in one year"""
    today = dt.date.today()
    if body.birthday > today or body.birthday.year < 1900:
        raise ValidationFailed("birthday must be a past date", code="invalid_birthday")
    session = db_session()
    customer = _member()
    customer.birthday = body.birthday
    out = BirthdayOut(birthday=customer.birthday, birthday_points=_shop().program.birthday_points)
    session.commit()
    return out


def referral_link() -> ReferralLinkOut:
    """The shopper's referral code and link, and how their referrals are doing"""
    session = db_session()
    customer = _member()
    shop = session.get(Shop, _shop().id)
    code = referrals.ensure_code(session, shop, customer)
    counts = dict(session.execute(
        select(Referral.status, func.count()).where(
            Referral.shop_id == shop.id, Referral.referrer_customer_id == customer.id
        ).group_by(Referral.status)
    ).all())
    from app.web import settings

    out = ReferralLinkOut(
        code=code, url=referrals.referral_url(shop, customer, settings().app_url),
        referral_points=_shop().program.referral_points,
        referrals_rewarded=int(counts.get("rewarded", 0)),
        referrals_waiting=int(counts.get("claimed", 0)) + int(counts.get("qualifying", 0)),
    )
    session.commit()
    return out


def claim_referral(body: ReferralClaimIn):
    """Claim a friend's referral code as a new shopper (welcome code if the shop offers one)"""
    session = db_session()
    customer = _member()
    shop = session.get(Shop, _shop().id)
    referral = referrals.claim(session, shop, customer, body.code)
    if referral.welcome_redemption_id is not None:
        status = session.scalar(select(Redemption.status).where(Redemption.id == referral.welcome_redemption_id))
        if status == "pending":
            from app.jobs.referral_jobs import issue_welcome_code

            enqueue(session, issue_welcome_code, referral.welcome_redemption_id)
    out = ReferralClaimOut(status=referral.status, welcome_redemption_id=referral.welcome_redemption_id)
    session.commit()
    return out, (201 if request.method == "POST" else 200)


ROUTES = [
    dict(
        rule="/profile/birthday", view=set_birthday, methods=["PUT"], body=BirthdayIn,
        response=BirthdayOut, responses={**AUTH_ERRORS, 422: "not a past date"},
    ),
    dict(
        rule="/referral", view=referral_link, methods=["GET"], response=ReferralLinkOut,
        responses=AUTH_ERRORS,
    ),
    dict(
        rule="/referrals/claim", view=claim_referral, methods=["POST"], body=ReferralClaimIn,
        response=ReferralClaimOut, status=201,
        responses={
            **AUTH_ERRORS,
            404: "no such referral code",
            422: "refused: own link, same e-mail or address, already a customer, already "
            "referred, or the shop has no referral programme (details.reason)",
        },
    ),
]
