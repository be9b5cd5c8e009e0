"""The demo store's platform: codes are created here, not on a remote store.

`loyalty demo` seeds a shop that no real Shopify store stands behind; its credentials
say `{"demo": true}` and `get_client` gives it this client, so redeeming in the demo
page returns a real code from the real saga. Never used for an installed shop."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from app.loyalty.events import OrderEvent
from integrations.base import CreatedDiscount, DiscountSpec


class DemoClient:
    platform = "demo"

    def __init__(self, shop: Any, settings: Any, **_options: Any) -> None:
        self.shop_id = shop.id

    def iter_orders_updated_since(self, since: datetime) -> Iterator[OrderEvent]:
        return iter(())

    def create_discount(self, spec: DiscountSpec) -> CreatedDiscount:
        return CreatedDiscount(platform_discount_id=f"demo-{self.shop_id}-{spec.code}", code=spec.code)
