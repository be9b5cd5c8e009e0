"""`/demo/storefront`: a clear 404 until `loyalty demo` has run, then a store page whose
embedded widget is signed for the demo shopper with the most points (or a guest)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select
from widget_helpers import with_widget_routes

from app.demo import seed_demo
from app.models import Customer


@pytest.fixture
def demo_client(app):
    return with_widget_routes(app).test_client()


def _script_attributes(html: str) -> dict[str, str]:
    tag = re.search(r"<script async ([^>]*)></script>", html).group(1)
    return {k: unescape(v) for k, v in re.findall(r'([a-z-]+)="([^"]*)"', tag)}


def _identity(attrs: dict[str, str]) -> dict[str, str]:
    headers = {
        "X-Loyalty-Shop": attrs["data-shop"],
        "X-Loyalty-Timestamp": attrs["data-timestamp"],
        "X-Loyalty-Signature": attrs["data-signature"],
    }
    if attrs["data-customer"]:
        headers["X-Loyalty-Customer"] = attrs["data-customer"]
    return headers


def test_without_the_demo_shop_the_page_says_to_run_loyalty_demo(demo_client):
    r = demo_client.get("/demo/storefront")
    assert r.status_code == 404
    error = r.get_json()["error"]
    assert error["code"] == "demo_shop_missing" and "loyalty demo" in error["message"]


def test_after_loyalty_demo_the_widget_is_signed_for_the_richest_shopper(demo_client, pg_db):
    with pg_db.transaction() as s:
        shop, _ = seed_demo(s)
        shop_id = shop.id
    with pg_db.session() as s:
        richest = s.scalars(
            select(Customer).where(Customer.shop_id == shop_id)
            .order_by(Customer.points_balance.desc(), Customer.id)
        ).first()
        expected = (richest.platform_id, richest.points_balance)
    assert expected[1] > 0

    r = demo_client.get("/demo/storefront")
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert "connect-src 'self'" in r.headers["Content-Security-Policy"]
    html = r.get_data(as_text=True)
    attrs = _script_attributes(html)
    assert attrs["src"] == "/widget/loyalty.js" and attrs["data-customer"] == expected[0]
    assert 'data-loyalty-earn data-price="2499"' in html and "data-loyalty-cart" in html

    # The page's signature opens the storefront API for exactly that shopper.
    me = demo_client.get("/storefront/v1/me", headers=_identity(attrs)).get_json()
    assert (me["guest"], me["points_balance"]) == (False, expected[1])


def test_guest_and_language_variants(demo_client, pg_db):
    with pg_db.transaction() as s:
        seed_demo(s)
    html = demo_client.get("/demo/storefront?guest=1&lang=nl").get_data(as_text=True)
    attrs = _script_attributes(html)
    assert attrs["data-customer"] == "" and attrs["data-lang"] == "nl"
    assert '<html lang="nl">' in html
    me = demo_client.get("/storefront/v1/me", headers=_identity(attrs)).get_json()
    assert me["guest"] is True and me["points_balance"] is None
    # Apply-to-cart comes back to the same variant of the page with the code.
    assert attrs["data-apply-url"] == "/demo/storefront?lang=nl&guest=1&discount={code}#cart"

    assert demo_client.get("/demo/storefront?lang=fr").status_code in (400, 422)


def test_an_applied_code_is_shown_escaped(demo_client, pg_db):
    with pg_db.transaction() as s:
        seed_demo(s)
    html = demo_client.get("/demo/storefront?discount=<b>X</b>").get_data(as_text=True)
    assert "&lt;b&gt;X&lt;/b&gt;" in html and "<b>X</b>" not in html
