"""Public unsubscribe pages: no login, the signed token is the authority.

`GET /unsubscribe/<token>` shows a confirmation page with a button (a GET never
unsubscribes: mail scanners and link previews fetch links). `POST /unsubscribe/<token>`
unsubscribes: the page's button and the RFC 8058 one-click request mail clients send
(`List-Unsubscribe=One-Click`) both land here. It is idempotent: the first time is kept.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response

from app import audit
from app.mail.render import render_unsubscribe_page
from app.mail.unsubscribe import read_token
from app.models import Customer, Shop, utcnow
from app.openapi import api_route
from app.web import db_session, settings

bp = Blueprint("mail_public", __name__)
TAGS = ["mail"]
_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}


def _lookup(token: str) -> tuple[Shop, Customer] | None:
    ids = read_token(settings().secret_key, token)
    if ids is None:
        return None
    shop_id, customer_id = ids
    customer = db_session().get(Customer, customer_id)
    if customer is None or customer.shop_id != shop_id:
        return None
    shop = db_session().get(Shop, shop_id)
    return None if shop is None else (shop, customer)


def _page(html: str, status: int = 200) -> Response:
    return Response(html, status=status, mimetype="text/html", headers=_HEADERS)


def _invalid() -> Response:
    return _page(render_unsubscribe_page(None, state="invalid", fields={}), 404)


@api_route(
    bp,
    "/unsubscribe/<token>",
    methods=["GET"],
    content_type="text/html",
    tags=TAGS,
    summary="The unsubscribe confirmation page of a lifecycle mail link",
    responses={404: "the link is not one we signed, or the shopper is gone"},
)
def unsubscribe_page(token: str) -> Response:
    found = _lookup(token)
    if found is None:
        return _invalid()
    shop, customer = found
    fields = {"shop_name": shop.name or shop.domain, "email": customer.email or ""}
    state = "done" if customer.unsubscribed_at is not None else "confirm"
    return _page(render_unsubscribe_page(customer.locale, state=state, fields=fields, action=f"/unsubscribe/{token}"))


@api_route(
    bp,
    "/unsubscribe/<token>",
    methods=["POST"],
    content_type="text/html",
    tags=TAGS,
    summary="Unsubscribe from lifecycle mail (RFC 8058 one-click and the page's button)",
    responses={404: "the link is not one we signed, or the shopper is gone"},
)
def unsubscribe(token: str) -> Response:
    found = _lookup(token)
    if found is None:
        return _invalid()
    shop, customer = found
    session = db_session()
    if customer.unsubscribed_at is None:
        customer.unsubscribed_at = utcnow()
        audit.record(
            session, shop_id=shop.id, action="customer.unsubscribed", target_type="customer",
            target_id=customer.id, actor="shopper", reason="unsubscribe link",
        )
        session.commit()
    fields = {"shop_name": shop.name or shop.domain, "email": customer.email or ""}
    return _page(render_unsubscribe_page(customer.locale, state="done", fields=fields))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
