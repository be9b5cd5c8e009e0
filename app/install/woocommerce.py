"""`GET /woocommerce/connect` and `POST /woocommerce/callback`: connecting a WooCommerce
store through its application authentication endpoint (`integrations.woocommerce.connect`).

connect: the store URL checked → a one-time connect token (stored hashed, expiring after
15 minutes) passed as WooCommerce's `user_id` → redirect to `{store}/wc-auth/v1/authorize`.

callback (WooCommerce's server POSTs the new keys): the `user_id` must be a live, unused
connect token (it is used up now) and the key `read_write`; the keys are stored encrypted
with a webhook secret, and the answer is exactly HTTP 200 — WooCommerce revokes the key
on any other status, which is what we want for every refusal. Creating the webhooks
calls the store's REST API, so it runs as a job after the answer
(`app.jobs.install_jobs.ensure_woocommerce_webhooks`); a new store stays
`install_state="connecting"` until its webhooks are active.
"""

from __future__ import annotations

import logging
import secrets

from flask import Blueprint, Response, redirect, request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from app.errors import AppError, Forbidden, ValidationFailed
from app.install import attempts
from app.install.pages import NO_STORE, error_response
from app.install.shops import install_shop
from app.models import Shop
from app.openapi import Operation, api_route, document
from app.web import database, db_session, settings
from integrations.woocommerce import connect

log = logging.getLogger(__name__)

bp = Blueprint("woocommerce_install", __name__, url_prefix="/woocommerce")
TAGS = ["install"]


class ConnectQuery(BaseModel):
    store_url: str = Field(description="the store's base URL, e.g. https://shop.example.com")


class WooCommerceKeys(BaseModel):
    """What WooCommerce POSTs to the callback URL once the merchant approved."""

    model_config = ConfigDict(extra="ignore")
    key_id: int
    user_id: str = Field(min_length=1, max_length=200)
    consumer_key: str = Field(pattern=r"^ck_[A-Za-z0-9]{8,128}$")
    consumer_secret: str = Field(pattern=r"^cs_[A-Za-z0-9]{8,128}$")
    key_permissions: str = Field(max_length=20)

    def __repr__(self) -> str:  # never show the keys
        return f"WooCommerceKeys(key_id={self.key_id}, key_permissions={self.key_permissions!r})"

    __str__ = __repr__


class CallbackAck(BaseModel):
    ok: bool = True


def connect_store() -> Response:
    """Start connecting a WooCommerce store (redirects to the store's approval screen)."""
    try:
        store_url = connect.normalize_store_url(request.args.get("store_url"),
                                                allow_http=settings().allow_http_stores)
    except connect.InvalidStoreUrl as exc:
        raise AppError(str(exc), code="invalid_store_url") from None
    session = db_session()
    token = attempts.start(session, "woocommerce", store_url, attempts.WOOCOMMERCE_TTL)
    session.commit()
    response = redirect(connect.authorize_url(settings(), store_url, token), code=302)
    response.headers.update(NO_STORE)
    return response


@api_route(bp, "/callback", methods=["POST"], tags=TAGS, body=WooCommerceKeys, response=CallbackAck,
           endpoint="callback",
           summary="WooCommerce delivers the store's new REST API keys (answered with exactly 200)",
           responses={403: "user_id is not a live, unused connect attempt",
                      422: "the body is not WooCommerce's key JSON, or the key is not read_write"})
def callback(body: WooCommerceKeys) -> CallbackAck:
    session = db_session()
    attempt = attempts.consume(session, "woocommerce", body.user_id)
    session.commit()  # used up, whatever happens next
    if attempt is None:
        log.warning("woocommerce callback refused: unknown, expired or used connect attempt")
        raise Forbidden("this connect attempt is unknown, expired or already used; connect the store again",
                        code="invalid_connect_attempt")
    if body.key_permissions != connect.SCOPE:
        log.warning("woocommerce %s: key with %r permissions refused", attempt.domain, body.key_permissions)
        raise ValidationFailed(f"the API key must have read_write permissions, not {body.key_permissions!r}; "
                               "connect the store again and approve read/write access",
                               code="insufficient_permissions")
    existing = session.scalar(select(Shop).where(Shop.platform == "woocommerce", Shop.domain == attempt.domain))
    webhook_secret = ((existing.credentials or {}).get("webhook_secret") if existing else None) \
        or secrets.token_urlsafe(32)
    credentials = {"consumer_key": body.consumer_key, "consumer_secret": body.consumer_secret,
                   "key_id": body.key_id, "key_permissions": body.key_permissions,
                   "webhook_secret": webhook_secret}
    state = "installed" if existing is not None and existing.is_installed else "connecting"
    shop, outcome = install_shop(session, platform="woocommerce", domain=attempt.domain,
                                 credentials=credentials, state=state)
    attempt.shop_id = shop.id
    shop_id = shop.id
    session.commit()
    log.info("woocommerce %s: keys stored (%s, shop %s)", attempt.domain, outcome, shop_id)
    _queue_webhook_setup(shop_id)
    return CallbackAck()


def _queue_webhook_setup(shop_id: int) -> None:
    """After the keys are committed. A failure here never changes the 200: the periodic
    webhook check finishes the set-up."""
    from app.jobs.install_jobs import ensure_woocommerce_webhooks
    from app.jobs.queues import enqueue

    try:
        with database().transaction() as session:
            enqueue(session, ensure_woocommerce_webhooks, shop_id, after_connect=True)
    except Exception:
        log.exception("woocommerce shop %s: webhook set-up failed; the periodic check will retry", shop_id)


bp.add_url_rule("/connect", endpoint="connect", view_func=document(connect_store, Operation(
    summary="Start connecting a WooCommerce store (302 to the store's /wc-auth/v1/authorize)",
    tags=TAGS, query=ConnectQuery, status=302, content_type="text/html",
    responses={400: "store_url missing, not a URL, or plain http without ALLOW_HTTP_STORES"})))
bp.register_error_handler(AppError, error_response)
