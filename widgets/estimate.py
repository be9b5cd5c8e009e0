""""Earn N points with this purchase": what an amount would earn the shopper asking.

Answers `GET /storefront/v1/estimate?amount=` and `/proxy/v1/estimate` (and
`/checkout/v1/estimate`) for the product-page snippet and the cart summary. It uses the
same arithmetic as the order ledger (`app.loyalty.orders.compute_target`):

    points = floor(amount_minor / minor_units_per_unit × points_per_unit × tier_multiplier)

so the promise on the product page is what the order later books, as long as the amount
is what the order will count. A bare amount carries no tax or shipping split, so the
programme's exclusions cannot apply here: the widget passes the merchandise amount (the
price, or the cart subtotal after discounts), which is what earns. Campaign multipliers
are not applied: a bonus event may be over before the order is placed.

`amount` is an integer in minor units of the shop currency (`1250` = 12.50 USD, `1250`
= 1250 JPY). A value with a decimal point is read as major units (`12.50`) and must not
have more decimals than the currency has. Guests get the programme's base rate; a member
gets their tier's earn multiplier once `app.loyalty.tiers.multiplier_for` exists.
"""

from __future__ import annotations

import importlib
import logging
import re
from decimal import Decimal, InvalidOperation

from flask import g
from pydantic import BaseModel, ConfigDict, Field

from app.errors import ValidationFailed
from app.loyalty.events import minor_unit_exponent
from app.models import Customer, Shop
from app.web import db_session
from widgets.storefront import _customer, _shop

log = logging.getLogger(__name__)

# Both the earn rate and a tier multiplier have at most 4 decimals (ProgramSettings, Tier).
SCALE = 10_000
MAX_AMOUNT_MINOR = 10**12
_AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,14})(\.[0-9]{1,4})?$")


class EstimateQuery(BaseModel):
    # The app proxy adds shop, timestamp, signature, ... to every query: ignore them.
    model_config = ConfigDict(extra="ignore")

    amount: str = Field(
        max_length=24,
        description="Integer minor units of the shop currency (`1250` = 12.50 USD), or a "
        "decimal in major units (`12.50`) with no more decimals than the currency has.",
    )


class EstimateOut(BaseModel):
    points: int = Field(description="Points this amount would earn the shopper (rounded down).")
    amount_minor: int = Field(description="The amount as understood, in minor units.")
    currency: str
    points_per_unit: str = Field(description="The programme's base rate per 1 unit of currency.")
    tier: str | None = Field(description="The shopper's tier, whose multiplier was applied.")
    tier_multiplier: str = Field(description="`1` for guests and shoppers without a tier bonus.")
    guest: bool


def parse_amount(text: str, currency: str) -> int:
    """The amount in minor units, or ValidationFailed (422) for anything else."""
    value = text.strip()
    match = _AMOUNT.match(value)
    if match is None:
        raise ValidationFailed(
            "amount must be a non-negative number: minor units (1250) or a decimal (12.50)",
            code="invalid_amount",
        )
    exponent = minor_unit_exponent(currency)
    if match.group(2) is None:
        minor = int(value)
    else:
        decimals = len(match.group(2)) - 1
        if decimals > exponent:
            raise ValidationFailed(
                f"{currency} has {exponent} decimal places; amount {value!r} has {decimals}",
                code="invalid_amount",
            )
        minor = int(Decimal(value).scaleb(exponent))
    if minor > MAX_AMOUNT_MINOR:
        raise ValidationFailed("amount is too large", code="invalid_amount")
    return minor


def points_for(amount_minor: int, currency: str, rate: Decimal, multiplier: Decimal) -> int:
    """floor(amount / unit × rate × multiplier) in integers, as the order ledger rounds."""
    unit = 10 ** minor_unit_exponent(currency)
    rate_scaled = int(rate * SCALE)
    multiplier_scaled = int(multiplier * SCALE)
    return amount_minor * rate_scaled * multiplier_scaled // (unit * SCALE * SCALE)


def _multiplier_for_customer(customer: Customer) -> Decimal:
    """The tier's earn multiplier from the tiers module when it exists; 1 otherwise."""
    try:
        tiers = importlib.import_module("app.loyalty.tiers")
    except ModuleNotFoundError:
        return Decimal(1)
    multiplier_for = getattr(tiers, "multiplier_for", None)
    if multiplier_for is None:
        return Decimal(1)
    session = db_session()
    shop = session.get(Shop, customer.shop_id)
    try:
        value = Decimal(multiplier_for(session, shop, customer))
    except (InvalidOperation, TypeError, ValueError):
        log.warning("tier multiplier for customer %s is not a number; using 1", customer.id)
        return Decimal(1)
    return value if value > 0 else Decimal(1)


def estimate(query: EstimateQuery) -> EstimateOut:
    """What an amount would earn the shopper ("earn N points with this purchase")"""
    shop = _shop()
    amount_minor = parse_amount(query.amount, shop.currency)
    guest = not g.get("shopper_platform_id")
    customer = None if guest else _customer()
    multiplier = _multiplier_for_customer(customer) if customer is not None else Decimal(1)
    rate = shop.program.points_per_unit
    return EstimateOut(
        points=points_for(amount_minor, shop.currency, rate, multiplier),
        amount_minor=amount_minor,
        currency=shop.currency,
        points_per_unit=format(rate.normalize(), "f"),
        tier=customer.tier if customer is not None else None,
        tier_multiplier=format(multiplier.normalize(), "f"),
        guest=guest,
    )


ROUTES = [
    dict(
        rule="/estimate", view=estimate, methods=["GET"], query=EstimateQuery,
        response=EstimateOut,
        responses={
            401: "missing, malformed, stale or wrong signature",
            422: "amount is not a number in minor units or a decimal with the currency's places",
            429: "rate limited",
        },
    ),
]
