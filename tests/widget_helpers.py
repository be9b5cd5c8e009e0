"""Shared by the widget tests: make sure an app serves the widget routes, and build a
demo-like shop (the demo domain, a shopper with points, rewards) through the factories
and the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redemption_helpers import make_reward

from app.demo import DEMO_DOMAIN, DEMO_PROGRAM

DEMO_TOKEN = "shpat_widget_tests"


def with_widget_routes(app):
    """Registers `widgets.web` on an app that does not have it yet (until the app factory
    registers it itself); returns the app."""
    if not any(rule.rule == "/widget/loyalty.js" for rule in app.url_map.iter_rules()):
        from widgets import web

        web.init_app(app)
    return app


@dataclass
class DemoLikeShop:
    shop: Any
    shopper: Any  # the one with the most points: the demo page signs for them
    other: Any
    rewards: dict[str, Any]

    BALANCE = 1250
    PENDING = 120


def demo_like_shop(factory, db) -> DemoLikeShop:
    shop = factory.shop(
        "shopify", domain=DEMO_DOMAIN, name="Demo Store",
        credentials={"access_token": DEMO_TOKEN},
        program={**DEMO_PROGRAM.model_dump(mode="json"), "referral_points": 250},
    )
    shopper = factory.customer(shop, platform_id="7300000000", first_name="Ava", last_name="Thompson")
    factory.points(shop, shopper, 100, kind="earn_signup", reason="signup")
    factory.points(shop, shopper, 1150, kind="earn_order", reason="order #1001")
    factory.points(shop, shopper, 120, kind="earn_order", pending=True, reason="order #1002")
    other = factory.customer(shop, platform_id="7300000137", first_name="Liam", last_name="Garcia")
    factory.points(shop, other, 40, kind="earn_signup", reason="signup")
    rewards = {
        "five": make_reward(db, shop, name="$5 off", kind="fixed_amount", points_cost=500, value=500),
        "ten_percent": make_reward(db, shop, name="10% off", kind="percentage", points_cost=1000, value=10),
        "shipping": make_reward(db, shop, name="Free shipping", kind="free_shipping", points_cost=3000, value=0),
    }
    return DemoLikeShop(shop=shop, shopper=shopper, other=other, rewards=rewards)
