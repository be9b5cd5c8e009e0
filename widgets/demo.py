"""`GET /demo/storefront`: a pretend store page with the widget on the demo shop.

It is what a newcomer opens right after `loyalty demo`: a product with "earn N points",
a cart with the points it earns and the rewards the shopper can afford, and the widget,
signed here on the server for the demo shopper with the most points, exactly as a
store's theme or plugin would sign it (`widgets.identity.sign_storefront`). `?guest=1`
shows a visitor who is not signed in, `?lang=nl|es|nb` another language. The page loads
nothing but our own script and API (its Content-Security-Policy says so).
"""

from __future__ import annotations

from html import escape
from typing import Literal
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from app.demo import DEMO_DOMAIN
from app.errors import NotFound
from app.models import Customer
from app.models.base import utcnow
from app.openapi import api_route
from app.shops import find_shop
from app.web import db_session
from widgets.identity import sign_storefront

bp = Blueprint("widget_demo", __name__)

Language = Literal["en", "nl", "es", "nb"]
LANGUAGE_NAMES = {"en": "English", "nl": "Nederlands", "es": "Español", "nb": "Norsk bokmål"}
PRODUCT = ("Everyday Canvas Tote", 2499)  # name, price in minor units (USD)
CART = (("Everyday Canvas Tote", 2499), ("Merino Beanie", 3900))
CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class DemoQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    guest: bool = Field(default=False, description="Show the page to a visitor who is not signed in.")
    lang: Language = Field(default="en", description="The widget's language.")
    loyalty_ref: str | None = Field(
        default=None, max_length=32, description="A friend's referral code (read by the widget)."
    )
    discount: str | None = Field(
        default=None, max_length=64, description="A code the widget's 'apply to cart' put in the cart."
    )


def _money(minor: int) -> str:
    return f"${minor // 100:,}.{minor % 100:02d}"


def _link(query: DemoQuery, **changes) -> str:
    params = {"lang": query.lang, "guest": "1" if query.guest else None} | changes
    return "/demo/storefront?" + urlencode({k: v for k, v in params.items() if v})


@api_route(
    bp,
    "/demo/storefront",
    methods=["GET"],
    query=DemoQuery,
    tags=["demo"],
    content_type="text/html",
    responses={404: "the demo shop does not exist yet: run `loyalty demo`"},
)
def demo_storefront(query: DemoQuery):
    """A demo store page with the loyalty widget for a demo shopper (run `loyalty demo` first)"""
    session = db_session()
    shop = find_shop(session, "shopify", DEMO_DOMAIN)
    if shop is None or not shop.is_installed:
        raise NotFound(
            "the demo shop does not exist yet: run `loyalty demo`, then reload this page",
            code="demo_shop_missing",
        )
    shopper = None
    if not query.guest:
        shopper = session.scalar(
            select(Customer)
            .where(Customer.shop_id == shop.id, Customer.redacted_at.is_(None))
            .order_by(Customer.points_balance.desc(), Customer.id)
            .limit(1)
        )
    customer_id = shopper.platform_id if shopper is not None else None
    timestamp = int(utcnow().timestamp())
    signature = sign_storefront(shop.id, customer_id, timestamp, shop.widget_secret_value())
    attributes = {
        "src": "/widget/loyalty.js",
        "data-shop": str(shop.id),
        "data-customer": customer_id or "",
        "data-timestamp": str(timestamp),
        "data-signature": signature,
        "data-lang": query.lang,
        "data-platform": "shopify",
        # The demo has no real cart: "apply to cart" comes back here with the code.
        "data-apply-url": _link(query) + "&discount={code}#cart",
        "data-join-url": _link(query, guest=None),
        "data-login-url": _link(query, guest=None),
        "data-color": "#1f4fd1",
        "data-position": "bottom-right",
    }
    script = "<script async " + " ".join(
        f'{name}="{escape(value)}"' for name, value in attributes.items()
    ) + "></script>"
    html = _page(shop.name, query, shopper, script)
    return Response(
        html,
        status=200,
        mimetype="text/html",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"},
    )


def _page(shop_name: str, query: DemoQuery, shopper: Customer | None, script: str) -> str:
    who = (
        "Browsing as a guest (not signed in)"
        if shopper is None
        else f"Signed in as {shopper.first_name or ''} {shopper.last_name or ''}".strip()
    )
    languages = " · ".join(
        f'<a href="{escape(_link(query, lang=code))}" lang="{code}"'
        + (' aria-current="page"' if code == query.lang else "")
        + f">{escape(name)}</a>"
        for code, name in LANGUAGE_NAMES.items()
    )
    switch = (
        f'<a href="{escape(_link(query, guest=None))}">View as a signed-in shopper</a>'
        if query.guest else f'<a href="{escape(_link(query, guest="1"))}">View as a guest</a>'
    )
    total = sum(price for _, price in CART)
    lines = "".join(f"<li>{escape(name)} <span>{_money(price)}</span></li>" for name, price in CART)
    applied = (
        f'<p class="applied" role="status">Discount code <strong>{escape(query.discount)}</strong> '
        "applied to your cart.</p>"
        if query.discount else ""
    )
    return f"""<!doctype html>
<html lang="{query.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{escape(shop_name)} · Loyalty Loop demo storefront</title>
<style>
  body {{ margin: 0; font: 16px/1.5 Georgia, serif; color: #222; background: #faf8f4; }}
  header, main, footer {{ max-width: 960px; margin: 0 auto; padding: 16px; }}
  header {{ display: flex; flex-wrap: wrap; justify-content: space-between; gap: 8px; }}
  a {{ color: #0b4f9c; }}
  .grid {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 24px; }}
  .card {{ background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 16px; }}
  .swatch {{ height: 160px; border-radius: 6px; background: linear-gradient(135deg, #d9c7a7, #a8875b); }}
  ul.lines {{ list-style: none; padding: 0; }} ul.lines li {{ display: flex; justify-content: space-between; }}
  .applied {{ background: #e5f4ea; border: 1px solid #2f7a47; padding: 8px; border-radius: 6px; }}
</style>
</head>
<body>
<header>
  <strong>{escape(shop_name)}</strong>
  <nav aria-label="Language">{languages}</nav>
</header>
<main>
  <h1>Loyalty Loop demo storefront</h1>
  <p>{escape(who)}. {switch}. Open <em>Rewards</em> at the bottom of the page.</p>
  <div class="grid">
    <section class="card" aria-labelledby="product">
      <div class="swatch" role="img" aria-label="A canvas tote bag"></div>
      <h2 id="product">{escape(PRODUCT[0])}</h2>
      <p class="price">{_money(PRODUCT[1])}</p>
      <p data-loyalty-earn data-price="{PRODUCT[1]}" hidden></p>
    </section>
    <section class="card" id="cart" aria-labelledby="cart-title">
      <h2 id="cart-title">Cart</h2>
      <ul class="lines">{lines}</ul>
      <p><strong>Total {_money(total)}</strong></p>
      {applied}
      <div data-loyalty-cart data-total="{total}" hidden></div>
    </section>
  </div>
</main>
<footer><p>Demo data from <code>loyalty demo</code>; nothing here is a real store.</p></footer>
{script}
</body>
</html>
"""


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
