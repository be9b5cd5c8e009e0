"""Fake platforms wired for the redemption tests: a shop, its fake store, and a client
factory that reaches the fake through `get_client` (as the jobs do)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fakes.shopify_admin import FakeShopifyAdmin

from app.runtime import init_runtime
from integrations.base import get_client

VERSION = "2025-10"


def no_sleep(_seconds: float) -> None:
    return None


@dataclass
class ShopifyStore:
    shop: Any
    admin: FakeShopifyAdmin
    settings: Any

    def client_factory(self, timeout: float = 5.0):
        def make(shop, settings, **options):
            return get_client(shop, settings, sleep=no_sleep, timeout=timeout, **options)
        return make


def shopify_store(factory, settings, db, **shop_kw):
    """Context manager: (ShopifyStore) with the runtime pointed at the fake."""
    shop = factory.shop("shopify", **shop_kw)
    admin = FakeShopifyAdmin(shop=shop.domain, access_token=shop.credentials["access_token"], api_version=VERSION)
    admin.__enter__()
    store_settings = settings.with_overrides(shopify_shop_origin=admin.origin_template, shopify_api_version=VERSION)
    init_runtime(store_settings, db=db)
    return ShopifyStore(shop, admin, store_settings)


WOO_KEY, WOO_SECRET = "ck_redemption_tests", "cs_redemption_tests"


@dataclass
class WooStore:
    shop: Any
    store: Any  # FakeWooCommerceStore
    settings: Any

    def client_factory(self, timeout: float = 5.0):
        def make(shop, settings, **options):
            return get_client(shop, settings, sleep=no_sleep, timeout=timeout, **options)
        return make


def woocommerce_store(factory, settings, db):
    """A WooCommerce shop on the fake store over plain http (OAuth 1.0a signatures)."""
    from fakes.woocommerce_rest import FakeWooCommerceStore

    store = FakeWooCommerceStore(consumer_key=WOO_KEY, consumer_secret=WOO_SECRET, orders={})
    store.__enter__()
    shop = factory.shop("woocommerce", domain=store.url, credentials={
        "consumer_key": WOO_KEY, "consumer_secret": WOO_SECRET, "webhook_secret": "test-secret-123"})
    store_settings = settings.with_overrides(allow_http_stores=True)
    init_runtime(store_settings, db=db)
    return WooStore(shop, store, store_settings)
