"""The storefront API for Shopify's checkout and customer-account UI extensions.

Those extensions run in Shopify's sandbox (a web worker served from Shopify's CDN), so
they can neither use the app proxy nor sign the `X-Loyalty-*` headers. They send the
checkout session token instead (`widgets.checkout_token`). The same views as
`/storefront/v1` (balance, rewards, history, redeeming, the estimate) answer under
`/checkout/v1`; only the proof of identity differs. The token is a bearer credential, not
a cookie, so any origin may call (`Access-Control-Allow-Origin: *`, never credentials).
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, g, request

from app.models.base import utcnow
from app.openapi import api_route
from app.web import settings
from widgets import storefront
from widgets.checkout_token import CheckoutTokenError, bearer_token, verify_checkout_token
from widgets.estimate import ROUTES as ESTIMATE_ROUTES

PREFIX = "/checkout/v1"
ALLOWED_REQUEST_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-Id"


def _authenticate() -> None:
    g.storefront_shop = None
    if request.method == "OPTIONS":
        return
    cfg = settings()
    secrets = [s for s in (cfg.shopify_api_secret, cfg.shopify_previous_api_secret) if s]
    identity = verify_checkout_token(
        bearer_token(request.headers.get("Authorization")),
        api_key=cfg.shopify_api_key,
        secrets=secrets,
        now=utcnow(),
    )
    shop = current_app.extensions["storefront_shops"].by_shopify_domain(identity.shop_domain)
    if shop is None:
        raise CheckoutTokenError("this shop has not installed the loyalty app", code="unknown_shop")
    g.storefront_shop = shop
    g.shopper_platform_id = identity.customer_platform_id
    who = identity.customer_platform_id or f"guest@{request.remote_addr or 'unknown'}"
    storefront._hit(
        current_app.extensions["storefront_limits"]["shopper"],
        "storefront-shopper", str(shop.id), who,
    )


def _cors(response):
    response.headers["Access-Control-Allow-Origin"] = "*"
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_REQUEST_HEADERS
        response.headers["Access-Control-Max-Age"] = str(storefront.PREFLIGHT_MAX_AGE)
    else:
        response.headers["Access-Control-Expose-Headers"] = "Retry-After, X-Request-Id"
    retry_after = g.get("retry_after")
    if retry_after and response.status_code == 429:
        response.headers["Retry-After"] = str(retry_after)
    return response


def blueprint() -> Blueprint:
    bp = Blueprint("checkout", __name__, url_prefix=PREFIX)
    bp.before_request(_authenticate)
    bp.after_request(_cors)
    for route in [*storefront.ROUTES, *ESTIMATE_ROUTES]:
        view = route["view"]

        def handler(_view=view, **kwargs):
            return storefront._render(_view(**kwargs))

        handler.__name__ = f"checkout_{view.__name__}"
        handler.__doc__ = view.__doc__
        responses = dict(route.get("responses") or {})
        if 401 in responses:
            responses[401] = "missing, malformed, expired or wrong checkout session token"
        api_route(
            bp,
            route["rule"],
            methods=route["methods"],
            body=route.get("body"),
            query=route.get("query"),
            response=route.get("response"),
            status=route.get("status", 200),
            tags=[*storefront.TAGS, "checkout"],
            security="checkoutSessionToken",
            responses=responses,
            summary=(view.__doc__ or view.__name__).strip().splitlines()[0]
            + " (Authorization: Bearer <Shopify session token>)",
            endpoint=view.__name__,
        )(handler)
    return bp


def init_app(app: Flask) -> None:
    """Register `/checkout/v1`. Needs the storefront's shop cache and limits, so it runs
    after `widgets.storefront.init_app` (which it calls if that has not happened)."""
    if "storefront_shops" not in app.extensions:
        storefront.init_app(app)
    bp = blueprint()
    limiter = app.extensions["storefront_limiter"]
    ip_limit, _ = _ip_limit(app)
    limiter.limit(
        ip_limit, key_func=lambda: request.remote_addr or "unknown",
        exempt_when=lambda: request.method == "OPTIONS",
    )(bp)
    app.register_blueprint(bp)


def _ip_limit(app: Flask):
    with app.app_context():
        return storefront._limit_setting("storefront_ip_limit", storefront.DEFAULT_IP_LIMIT)
