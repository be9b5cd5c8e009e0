"""The storefront (widget) API: a shopper's points, the rewards they can buy, their
history, and redeeming points for a discount code.

The same views answer under two prefixes, each with its own proof of identity
(`widgets.identity`):

* `/storefront/v1/...` — the `X-Loyalty-*` headers signed with the shop's widget secret;
  called from any storefront page (cross-origin, so CORS applies).
* `/proxy/v1/...` — Shopify's app proxy (`https://<shop>/apps/loyalty/*`), signed by
  Shopify with the app's API secret in the query string.

Every view sees only the verified shop and shopper (`g.storefront_shop`,
`g.shopper_platform_id`), never an id taken from the request body or an unsigned
parameter. Requests are rate limited per client IP and per shopper (Flask-Limiter on
Redis, in memory without Redis). Reading `/me` costs one indexed query for the customer;
the shop (secrets, origins, programme) comes from a short-lived in-process cache.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import Text, cast, or_, select

from app import redemption_saga
from app.admin.pagination import MAX_ID, PageQuery, keyset_page
from app.errors import AppError, NotFound, Unauthorized, ValidationFailed
from app.loyalty import rewards as reward_rules
from app.loyalty import tiers as tier_rules
from app.loyalty.program import ProgramSettings, load_program
from app.models import Customer, LedgerEntry, Redemption, Reward, Shop
from app.models.base import utcnow
from app.openapi import api_route
from app.web import database, db_session, settings
from widgets.identity import StorefrontAuthError, verify_app_proxy, verify_storefront_headers

log = logging.getLogger(__name__)

TAGS = ["storefront"]
SHOP_CACHE_SECONDS = 30
DEFAULT_IP_LIMIT = "300/minute"
DEFAULT_SHOPPER_LIMIT = "60/minute"
PREFLIGHT_MAX_AGE = 600
ALLOWED_REQUEST_HEADERS = (
    "Content-Type, Idempotency-Key, X-Loyalty-Shop, X-Loyalty-Customer, "
    "X-Loyalty-Timestamp, X-Loyalty-Signature, X-Request-Id"
)
# What a storefront may send as Idempotency-Key: printable ASCII, no spaces.
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
_ORIGIN = re.compile(r"^(https?)://([a-z0-9.\-]{1,253})(:[0-9]{1,5})?$")
# Codes a shopper may see: the discount exists on the platform (or did).
_CODE_VISIBLE = {"issued", "used", "expired"}


class RateLimited(AppError):
    status = 429
    code = "too_many_requests"


# -- shops, cached ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StorefrontShop:
    """What the storefront needs of a shop, decrypted once and cached briefly."""

    id: int
    platform: str
    domain: str
    name: str
    currency: str
    secrets: tuple[str, ...]
    origins: frozenset[str]
    program: ProgramSettings


def normalise_origin(value: str) -> str | None:
    """`scheme://host[:port]` in lower case, or None when it is not an origin."""
    text = value.strip().rstrip("/").lower()
    return text if _ORIGIN.match(text) else None


def _own_origin(platform: str, domain: str) -> str | None:
    """The shop's storefront origin: https://<domain> on Shopify, the store URL on WooCommerce."""
    if platform == "shopify":
        return normalise_origin(f"https://{domain}")
    return normalise_origin(domain)


def _storefront_shop(shop: Shop) -> StorefrontShop | None:
    if not shop.is_installed or not shop.widget_secret_value():
        return None
    secret = shop.widget_secret or {}
    origins = {normalise_origin(o) for o in (shop.storefront_origins or []) if isinstance(o, str)}
    origins.add(_own_origin(shop.platform, shop.domain))
    return StorefrontShop(
        id=shop.id,
        platform=shop.platform,
        domain=shop.domain,
        name=shop.name or shop.domain,
        currency=shop.currency,
        secrets=tuple(s for s in (secret.get("secret"), secret.get("previous")) if s),
        origins=frozenset(o for o in origins if o),
        program=load_program(shop),
    )


class ShopCache:
    """Shops by id and by Shopify domain for `ttl` seconds, so a storefront request
    does not decrypt the widget secret or re-read the programme every time. A changed
    secret, origin list or programme applies within `ttl` seconds."""

    def __init__(self, ttl: float = SHOP_CACHE_SECONDS) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, Any], tuple[float, StorefrontShop | None]] = {}

    def _get(self, key: tuple[str, Any], load) -> StorefrontShop | None:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        shop = load()
        value = _storefront_shop(shop) if shop is not None else None
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key] = (now, value)
        return value

    def by_id(self, shop_id: int) -> StorefrontShop | None:
        return self._get(("id", shop_id), lambda: db_session().get(Shop, shop_id))

    def by_shopify_domain(self, domain: str) -> StorefrontShop | None:
        return self._get(
            ("shopify", domain),
            lambda: db_session().scalar(
                select(Shop).where(Shop.platform == "shopify", Shop.domain == domain)
            ),
        )


def _cache() -> ShopCache:
    return current_app.extensions["storefront_shops"]


# -- identity -----------------------------------------------------------------------------------


def _verify_headers() -> StorefrontShop:
    def lookup(shop_id: int):
        shop = _cache().by_id(shop_id)
        return (shop, shop.secrets) if shop is not None else None

    identity = verify_storefront_headers(request.headers, lookup, utcnow())
    g.shopper_platform_id = identity.customer_platform_id
    return identity.shop


def _verify_app_proxy() -> StorefrontShop:
    cfg = settings()
    secrets = [s for s in (cfg.shopify_api_secret, cfg.shopify_previous_api_secret) if s]
    identity = verify_app_proxy(list(request.args.items(multi=True)), secrets, utcnow())
    shop = _cache().by_shopify_domain(identity.shop_domain)
    if shop is None:
        raise StorefrontAuthError("this shop has not installed the loyalty app", code="unknown_shop")
    g.shopper_platform_id = identity.customer_platform_id
    return shop


def _client_ip() -> str:
    """The shopper's IP. Behind Shopify's app proxy every request comes from Shopify, so
    the first X-Forwarded-For entry (Shopify sets it to the client) is used there; run
    the app behind a proxy that sets remote_addr correctly (e.g. ProxyFix) otherwise."""
    if request.blueprint == "storefront_proxy":
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        if forwarded and len(forwarded) <= 45:
            return forwarded
    return request.remote_addr or "unknown"


def _hit(item: RateLimitItem, *key: str) -> None:
    limiter: Limiter = current_app.extensions["storefront_limiter"]
    try:
        allowed = limiter.limiter.hit(item, *key)
    except Exception as exc:  # storage down: serve shoppers rather than fail them
        log.warning("storefront rate limit storage unavailable: %s", exc.__class__.__name__)
        return
    if not allowed:
        try:
            reset = limiter.limiter.get_window_stats(item, *key).reset_time
            g.retry_after = max(int(reset - time.time()), 1)
        except Exception:
            g.retry_after = 60
        raise RateLimited(f"too many requests; at most {item} per shopper; try again shortly")


def _authenticate(scheme: str) -> None:
    """Runs before every storefront view: verify, then count the request per shopper."""
    g.storefront_shop = None
    if request.method == "OPTIONS":
        return
    shop = _verify_headers() if scheme == "headers" else _verify_app_proxy()
    g.storefront_shop = shop
    who = g.shopper_platform_id or f"guest@{_client_ip()}"
    _hit(current_app.extensions["storefront_limits"]["shopper"], "storefront-shopper", str(shop.id), who)


def _shop() -> StorefrontShop:
    return g.storefront_shop


def _customer() -> Customer | None:
    """The verified shopper's row, by the (shop_id, platform_id) unique index; None for a
    guest or a signed-in customer we have no record of yet."""
    platform_id = g.get("shopper_platform_id")
    if not platform_id:
        return None
    return db_session().scalar(
        select(Customer).where(
            Customer.shop_id == _shop().id, Customer.platform_id == platform_id
        )
    )


def _require_member() -> str:
    platform_id = g.get("shopper_platform_id")
    if not platform_id:
        raise Unauthorized("sign in to your store account first", code="sign_in_required")
    return platform_id


# -- CORS -----------------------------------------------------------------------------------------


def _origin_allowed_for_any_shop(origin: str) -> bool:
    """For a preflight, which carries no identity headers: does any installed shop allow
    this origin? The real request is then checked against its own shop."""
    match = _ORIGIN.match(origin)
    assert match is not None
    host = match.group(2)
    conditions = [
        (Shop.platform == "woocommerce") & (Shop.domain == origin),
        cast(Shop.storefront_origins, Text).contains(json.dumps(origin), autoescape=True),
    ]
    if match.group(1) == "https" and match.group(3) is None:
        conditions.append((Shop.platform == "shopify") & (Shop.domain == host))
    found = db_session().scalar(
        select(Shop.id).where(Shop.install_state == "installed", or_(*conditions)).limit(1)
    )
    return found is not None


def _shop_for_cors() -> StorefrontShop | None:
    shop = g.get("storefront_shop")
    if shop is not None:
        return shop
    header = request.headers.get("X-Loyalty-Shop", "")
    if header.isascii() and header.isdigit() and 0 < int(header) <= MAX_ID:
        try:
            return _cache().by_id(int(header))
        except Exception:
            return None
    return None


def _add_cors_headers(response):
    origin_header = request.headers.get("Origin")
    retry_after = g.get("retry_after")
    if retry_after and response.status_code == 429:
        response.headers["Retry-After"] = str(retry_after)
    if origin_header is None:
        return response
    response.vary.add("Origin")
    origin = normalise_origin(origin_header)
    if origin is None:
        return response
    if request.method == "OPTIONS":
        if not request.headers.get("Access-Control-Request-Method"):
            return response
        if not _origin_allowed_for_any_shop(origin):
            return response
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_REQUEST_HEADERS
        response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    else:
        shop = _shop_for_cors()
        if shop is None or origin not in shop.origins:
            return response
        response.headers["Access-Control-Expose-Headers"] = "Retry-After, X-Request-Id"
    response.headers["Access-Control-Allow-Origin"] = origin_header.strip().rstrip("/")
    return response


# -- schemas --------------------------------------------------------------------------------------


class WayToEarn(BaseModel):
    kind: str = Field(description="`order` or `signup`.")
    points: int | None = Field(description="Fixed points (signup), or null.")
    points_per_unit: str | None = Field(
        description="Points per 1 unit of shop currency (orders), as a decimal string."
    )
    description: str


class TierSummary(BaseModel):
    key: str
    name: str
    threshold_kind: str = Field(description="points_earned or money_spent.")
    threshold_value: int = Field(description="Points, or minor units of shop currency.")
    window: str = Field(description="lifetime, calendar_year or rolling_12_months.")
    earn_multiplier: str = Field(description="Order points multiplier, as a decimal string.")


class TierProgressOut(BaseModel):
    tier: TierSummary | None
    retained_until: datetime | None = Field(description="The tier is kept at least until then.")
    next_tier: TierSummary | None
    amount: int | None = Field(description="The shopper's amount in the next tier's measure.")
    remaining: int | None = Field(description="Still needed for the next tier (points or minor units).")
    percent: int | None = Field(description="Whole percent of the way to the next tier.")


class MeOut(BaseModel):
    guest: bool = Field(description="True when no shopper is signed in.")
    member: bool = Field(description="We hold a points record for this shopper.")
    shop_name: str
    currency: str
    points_balance: int | None = Field(description="Spendable points; null for a guest.")
    pending_points: int | None
    lifetime_points: int | None
    tier: str | None
    next_tier: str | None = Field(description="Null until the shop configures tiers.")
    points_to_next_tier: int | None = Field(
        description="Points still to earn for the next tier when its threshold is points_earned."
    )
    tier_progress: TierProgressOut | None = Field(
        description="The shopper's tier and the way to the next one; null for a guest."
    )
    referral_url: str | None
    ways_to_earn: list[WayToEarn]


class StorefrontReward(BaseModel):
    id: int
    name: str
    kind: str
    points_cost: int = Field(description="For variable_amount: points per step.")
    value: int = Field(description="Minor units, whole percent, variant id or 0, by kind.")
    min_points: int | None
    max_points: int | None
    min_order_minor: int | None
    code_valid_days: int | None
    currency: str
    affordable: bool = Field(description="The shopper's balance covers the (smallest) cost.")
    redeemable: bool
    reason: str | None = Field(
        description="Why not redeemable, in plain words for the shopper; null when it is."
    )


class StorefrontRewardList(BaseModel):
    data: list[StorefrontReward]


class HistoryQuery(PageQuery):
    limit: int = Field(default=20, ge=1, le=100, description="Items per page.")


class RedemptionSummary(BaseModel):
    id: int
    status: str = Field(description="pending, issued, used, expired or failed.")
    reward_name: str
    reward_kind: str
    points_spent: int
    value: int
    currency: str
    code: str | None = Field(description="Shown once the discount exists on the store.")
    expires_at: datetime | None
    created_at: datetime


class HistoryEntry(BaseModel):
    id: int
    points: int
    kind: str
    status: str
    reason: str | None = Field(description="Why; staff notes on manual adjustments are not shown.")
    created_at: datetime
    available_at: datetime | None
    expires_at: datetime | None
    redemption: RedemptionSummary | None


class HistoryPage(BaseModel):
    data: list[HistoryEntry]
    next_cursor: str | None


class RedemptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reward_id: StrictInt = Field(ge=1, le=MAX_ID)
    points: StrictInt | None = Field(
        default=None, ge=1, le=10**12, description="variable_amount only: points to spend."
    )


class RedemptionOut(BaseModel):
    code: str | None = Field(description="The discount code; null while still pending.")
    redemption_id: int
    points_balance: int
    status: str
    expires_at: datetime | None
    points_spent: int


# -- views ----------------------------------------------------------------------------------------

AUTH_ERRORS = {401: "missing, malformed, stale or wrong signature", 429: "rate limited"}


def _ways_to_earn(program: ProgramSettings, currency: str) -> list[WayToEarn]:
    ways = []
    if program.points_per_unit > 0:
        rate = format(program.points_per_unit.normalize(), "f")
        ways.append(WayToEarn(
            kind="order", points=None, points_per_unit=rate,
            description=f"{rate} points per 1 {currency} spent",
        ))
    if program.signup_points > 0:
        ways.append(WayToEarn(
            kind="signup", points=program.signup_points, points_per_unit=None,
            description=f"{program.signup_points} points for creating an account",
        ))
    return ways


def _tier_summary(tier) -> TierSummary | None:
    if tier is None:
        return None
    return TierSummary(
        key=tier.key, name=tier.name, threshold_kind=tier.threshold_kind,
        threshold_value=tier.threshold_value, window=tier.window,
        earn_multiplier=format(tier.earn_multiplier.normalize(), "f"),
    )


def _shop_row(shop: StorefrontShop) -> Shop:
    """The verified shop's row, read once per request: the session's identity map holds
    it only weakly, so a second `session.get` could read it again."""
    row = g.get("storefront_shop_row")
    if row is None or row.id != shop.id:
        row = g.storefront_shop_row = db_session().get(Shop, shop.id)
    return row


def _tier_progress(shop: StorefrontShop, customer: Customer | None) -> TierProgressOut:
    """Tier and progress by `app.loyalty.tiers.progress` (one query for the tiers, one
    for the shopper's amount in the next tier's measure)."""
    session = db_session()
    row = _shop_row(shop)
    found = tier_rules.progress(session, row, customer, utcnow())
    percent = None
    if found.next_tier is not None and found.amount is not None:
        threshold = found.next_tier.threshold_value
        percent = 100 if threshold <= 0 else min(max(found.amount, 0) * 100 // threshold, 100)
    return TierProgressOut(
        tier=_tier_summary(found.tier), retained_until=found.retained_until,
        next_tier=_tier_summary(found.next_tier), amount=found.amount, remaining=found.remaining,
        percent=percent,
    )


def _referral_url(shop: StorefrontShop, customer: Customer | None) -> str | None:
    """The member's referral link (`app.loyalty.referrals`). A member without a code gets
    one stored now, so the link they share can be claimed."""
    if customer is None:
        return None
    try:
        from app.loyalty.referrals import ensure_code, referral_url, referrals_on
    except ImportError:
        return None
    session = db_session()
    row = _shop_row(shop)
    if not customer.referral_code and customer.redacted_at is None and referrals_on(row):
        ensure_code(session, row, customer)
        session.commit()
    return referral_url(row, customer, settings().app_url)


def me() -> MeOut:
    """The shopper's points, tier and ways to earn (a guest gets the programme only)"""
    shop = _shop()
    customer = _customer()
    guest = not g.get("shopper_platform_id")
    progress = None if guest else _tier_progress(shop, customer)
    next_tier = progress.next_tier if progress else None
    points_to_next = (
        progress.remaining if next_tier is not None and next_tier.threshold_kind == "points_earned" else None
    )
    return MeOut(
        guest=guest,
        member=customer is not None,
        shop_name=shop.name,
        currency=shop.currency,
        points_balance=None if guest else (customer.points_balance if customer else 0),
        pending_points=None if guest else (customer.pending_points if customer else 0),
        lifetime_points=None if guest else (customer.lifetime_points if customer else 0),
        tier=customer.tier if customer else None,
        next_tier=next_tier.key if next_tier else None,
        points_to_next_tier=points_to_next,
        tier_progress=progress,
        referral_url=_referral_url(shop, customer),
        ways_to_earn=_ways_to_earn(shop.program, shop.currency),
    )


REASON_SIGN_IN = "sign in to redeem rewards"
REASON_POINTS = "not enough points yet"


def _eligibility(reward: Reward, customer: Customer | None) -> tuple[bool, bool, str | None]:
    """(affordable, redeemable, reason) by the domain's rules (`app.loyalty.rewards`):
    tiers and availability first, then the balance. `reason` is plain words for shoppers."""
    if not g.get("shopper_platform_id"):
        return False, False, REASON_SIGN_IN
    if customer is None:  # signed in, no points record yet: a balance of 0
        return False, False, REASON_POINTS
    allowed, reason = reward_rules.redeemable_by(reward, customer)
    affordable = reward_rules.affordable(reward, customer)
    if not allowed:
        return affordable, False, reason
    return affordable, affordable, None if affordable else REASON_POINTS


def list_rewards() -> StorefrontRewardList:
    """Rewards the shop offers, with whether the shopper can afford and redeem each"""
    shop = _shop()
    customer = _customer()
    rewards = db_session().scalars(
        select(Reward)
        .where(Reward.shop_id == shop.id, Reward.active.is_(True), Reward.deleted_at.is_(None))
        .order_by(Reward.points_cost, Reward.id)
        .limit(500)
    )
    data = []
    for reward in rewards:
        affordable, redeemable, reason = _eligibility(reward, customer)
        data.append(StorefrontReward(
            id=reward.id, name=reward.name, kind=reward.kind, points_cost=reward.points_cost,
            value=reward.value, min_points=reward.min_points, max_points=reward.max_points,
            min_order_minor=reward.min_order_minor, code_valid_days=reward.code_valid_days,
            currency=shop.currency, affordable=affordable, redeemable=redeemable, reason=reason,
        ))
    return StorefrontRewardList(data=data)


def _summary(r: Redemption) -> RedemptionSummary:
    return RedemptionSummary(
        id=r.id, status=r.status, reward_name=r.reward_name, reward_kind=r.reward_kind,
        points_spent=r.points_spent, value=r.value, currency=r.currency,
        code=r.code if r.status in _CODE_VISIBLE else None,
        expires_at=r.expires_at, created_at=r.created_at,
    )


def history(query: HistoryQuery) -> HistoryPage:
    """The shopper's points history, newest first, with each redemption's state and code"""
    _require_member()
    customer = _customer()
    if customer is None:
        return HistoryPage(data=[], next_cursor=None)
    session = db_session()
    stmt = select(LedgerEntry).where(
        LedgerEntry.shop_id == customer.shop_id, LedgerEntry.customer_id == customer.id
    )
    rows, next_cursor = keyset_page(session, stmt, LedgerEntry.id, cursor=query.cursor, limit=query.limit)
    redemption_ids = {e.redemption_id for e in rows if e.redemption_id is not None}
    redemptions = {}
    if redemption_ids:
        redemptions = {
            r.id: r
            for r in session.scalars(
                select(Redemption).where(
                    Redemption.shop_id == customer.shop_id,
                    Redemption.customer_id == customer.id,
                    Redemption.id.in_(redemption_ids),
                )
            )
        }
    data = [
        HistoryEntry(
            id=e.id, points=e.points, kind=e.kind, status=e.status,
            reason=None if e.kind == "adjust" else e.reason,
            created_at=e.created_at, available_at=e.available_at, expires_at=e.expires_at,
            redemption=_summary(redemptions[e.redemption_id])
            if e.redemption_id in redemptions else None,
        )
        for e in rows
    ]
    return HistoryPage(data=data, next_cursor=next_cursor)


def _idempotency_key() -> str:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        raise ValidationFailed(
            "an Idempotency-Key header is required, so a retried click never spends twice",
            code="idempotency_key_required",
        )
    if not _IDEMPOTENCY_KEY.match(key):
        raise ValidationFailed(
            "Idempotency-Key must be 1 to 128 printable ASCII characters without spaces",
            code="invalid_idempotency_key",
        )
    return key


def create_redemption(body: RedemptionIn):
    """Spend points on a reward and get a discount code (header Idempotency-Key required)"""
    _require_member()
    key = _idempotency_key()
    customer = _customer()
    if customer is None:
        raise NotFound(
            "we have no points for this account yet; points arrive with your first order",
            code="customer_not_found",
        )
    shop_id, customer_id = customer.shop_id, customer.id
    session = db_session()
    session.commit()  # end the read transaction: the saga runs its own transactions
    redemption = redemption_saga.redeem(
        database(), settings(), shop_id, customer_id, body.reward_id, key, points=body.points
    )
    redemption_id = redemption.id
    session.expire_all()
    fresh = session.scalar(
        select(Redemption).where(
            Redemption.id == redemption_id,
            Redemption.shop_id == shop_id,
            Redemption.customer_id == customer_id,
        )
    )
    balance = session.scalar(select(Customer.points_balance).where(Customer.id == customer_id))
    if fresh is None or balance is None:  # pragma: no cover - the saga just wrote them
        raise NotFound("redemption not found")
    out = RedemptionOut(
        code=fresh.code if fresh.status in _CODE_VISIBLE else None,
        redemption_id=fresh.id,
        points_balance=balance,
        status=fresh.status,
        expires_at=fresh.expires_at,
        points_spent=fresh.points_spent,
    )
    log.info("storefront redemption %s for shop %s: %s", fresh.id, shop_id, fresh.status)
    return out, (201 if fresh.status != "pending" else 202)


# -- wiring ---------------------------------------------------------------------------------------

ROUTES: list[dict[str, Any]] = [
    dict(rule="/me", view=me, methods=["GET"], response=MeOut, responses=AUTH_ERRORS),
    dict(
        rule="/rewards", view=list_rewards, methods=["GET"], response=StorefrontRewardList,
        responses=AUTH_ERRORS,
    ),
    dict(
        rule="/history", view=history, methods=["GET"], query=HistoryQuery,
        response=HistoryPage, responses={**AUTH_ERRORS, 422: "invalid limit or cursor"},
    ),
    dict(
        rule="/redemptions", view=create_redemption, methods=["POST"], body=RedemptionIn,
        response=RedemptionOut, status=201,
        responses={
            **AUTH_ERRORS,
            202: "accepted but the code is still being created (status pending)",
            404: "no such reward, or no points record for this shopper",
            409: "this Idempotency-Key was already used for another reward",
            422: "invalid body or key, not enough points, or the reward is not redeemable",
            503: "the code is still being created (redemption_processing): the points are "
            "safe; repeat the request with the same Idempotency-Key to get the code",
        },
    ),
]


def _render(result):
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], BaseModel):
        return jsonify(result[0].model_dump(mode="json")), result[1]
    return result


def _blueprint(name: str, prefix: str, scheme: str, security: str | None) -> Blueprint:
    bp = Blueprint(name, __name__, url_prefix=prefix)
    bp.before_request(lambda: _authenticate(scheme))
    bp.after_request(_add_cors_headers)
    from widgets.estimate import ROUTES as ESTIMATE_ROUTES  # "earn N points" (widgets/estimate.py)
    from widgets.profile import ROUTES as PROFILE_ROUTES  # birthday and referral views

    for route in [*ROUTES, *ESTIMATE_ROUTES, *PROFILE_ROUTES]:
        view = route["view"]

        def handler(_view=view, **kwargs):
            return _render(_view(**kwargs))

        # A distinct name per prefix keeps OpenAPI operationIds unique.
        handler.__name__ = f"{name}_{view.__name__}"
        handler.__doc__ = view.__doc__
        api_route(
            bp,
            route["rule"],
            methods=route["methods"],
            body=route.get("body"),
            query=route.get("query"),
            response=route.get("response"),
            status=route.get("status", 200),
            tags=[*TAGS, name],
            security=security,
            responses=route.get("responses"),
            summary=(view.__doc__ or view.__name__).strip().splitlines()[0],
            endpoint=view.__name__,
        )(handler)
    return bp


def _limit_setting(name: str, default: str) -> tuple[str, RateLimitItem]:
    """A limit such as "60/minute" from Settings (a field of that name, else
    `Settings.extra[name]`), else the default. A value that does not parse stops start-up."""
    cfg = settings()
    raw = getattr(cfg, name, None) or cfg.extra.get(name) or default
    try:
        return raw, parse(raw)
    except ValueError:
        raise ValueError(f"{name} must be a rate limit such as '60/minute', got {raw!r}") from None


def init_app(app: Flask) -> None:
    """Register the API under /storefront/v1 (signed headers) and /proxy/v1 (Shopify app
    proxy), with rate limits and CORS. Blueprints are built per app so each app gets its
    own limiter."""
    with app.app_context():
        ip_limit, _ = _limit_setting("storefront_ip_limit", DEFAULT_IP_LIMIT)
        _, shopper_limit = _limit_setting("storefront_shopper_limit", DEFAULT_SHOPPER_LIMIT)
        cfg = settings()
        storage = cfg.extra.get("storefront_rate_limit_storage") or cfg.redis_url or "memory://"
    limiter = Limiter(
        key_func=_client_ip,
        app=app,
        storage_uri=storage,
        strategy="fixed-window",
        key_prefix="loyalty-storefront",
        headers_enabled=True,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )
    app.extensions["storefront_limiter"] = limiter
    app.extensions["storefront_limits"] = {"shopper": shopper_limit}
    app.extensions["storefront_shops"] = ShopCache()
    for name, prefix, scheme, security in (
        ("storefront", "/storefront/v1", "headers", "storefrontSignature"),
        ("storefront_proxy", "/proxy/v1", "app_proxy", None),
    ):
        bp = _blueprint(name, prefix, scheme, security)
        limiter.limit(
            ip_limit,
            key_func=_client_ip,
            exempt_when=lambda: request.method == "OPTIONS",
        )(bp)
        app.register_blueprint(bp)
