"""The one interface to a platform's remote API, and the registry of its implementations.

Jobs ask `get_client(shop, settings)` for a `PlatformClient` and never import a platform
module: adding a platform is one entry in `_IMPLEMENTATIONS`. Implementations are loaded
on first use, so importing this module costs nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from app.loyalty.events import OrderEvent

if TYPE_CHECKING:
    from app.config import Settings
    from app.models import Shop


class PlatformError(Exception):
    """The platform could not be asked (network, server errors after retries, a response
    that makes no sense). The job fails and is retried; nothing is marked as synced."""


class PlatformAuthError(PlatformError):
    """The platform rejected the shop's credentials or scopes. Retrying cannot help: the
    merchant must reinstall or reconnect the store."""


class PlatformConfigError(PlatformError):
    """The shop's stored settings cannot be used (missing credentials, a plain-http store
    URL without ALLOW_HTTP_STORES)."""


class PlatformTemporaryError(PlatformError):
    """The platform did not answer in time, throttled us past our patience, or failed with
    a 5xx after retries. The same request may succeed later (the redemption sweeper tries
    again); nothing is known to have been created."""


class DiscountRejected(PlatformError):
    """The platform refused to create the discount (its `userErrors` / a WordPress error
    body). Final: retrying the same request cannot succeed."""


class DiscountCodeTaken(PlatformError):
    """The code already exists on the platform. For a code derived from our own
    redemption id this means an earlier attempt succeeded: the caller counts it as done."""

    def __init__(self, message: str, platform_discount_id: str | None = None) -> None:
        super().__init__(message)
        self.platform_discount_id = platform_discount_id


@dataclass(frozen=True)
class DiscountSpec:
    """A single-use discount code for one customer, in platform-neutral terms.

    `kind` is a reward kind with `variable_amount` already turned into `fixed_amount`:
    `value` is minor units of `currency` (fixed_amount), whole percent (percentage), the
    platform variant id (Shopify) or product id (WooCommerce) for free_product, unused for
    free_shipping."""

    code: str
    title: str
    kind: str
    value: int
    currency: str
    customer_platform_id: str | None
    customer_email: str | None
    starts_at: datetime
    ends_at: datetime | None
    min_order_minor: int | None = None
    combines_with_other_discounts: bool = False
    redemption_id: int | None = None


@dataclass(frozen=True)
class CreatedDiscount:
    platform_discount_id: str
    code: str


@runtime_checkable
class PlatformClient(Protocol):
    """What the rest of the app may ask of a platform."""

    platform: str

    def iter_orders_updated_since(self, since: datetime) -> Iterator[OrderEvent]:
        """Every order updated at or after `since` (tz-aware UTC), oldest change first, as
        platform-neutral events. Pages are fetched lazily; rate limits are waited out."""
        ...

    def create_discount(self, spec: DiscountSpec) -> CreatedDiscount:
        """Create the single-use code on the platform. Raises `DiscountCodeTaken` when the
        code exists already, `DiscountRejected` when the platform refuses it,
        `PlatformTemporaryError` when it may work later, `PlatformAuthError` when the
        shop's credentials are no longer valid (after one token refresh where the
        platform has one)."""
        ...


# platform name -> "module:factory"; the factory is `(shop, settings, **options) -> client`.
_IMPLEMENTATIONS: dict[str, str] = {
    "shopify": "integrations.shopify.client:ShopifyClient.for_shop",
    "woocommerce": "integrations.woocommerce.client:WooCommerceClient.for_shop",
}


def _load(path: str) -> Callable[..., PlatformClient]:
    module_name, _, attribute = path.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def get_client(shop: Shop, settings: Settings, **options: Any) -> PlatformClient:
    """The client for `shop`'s platform. `options` reach the implementation (tests pass
    `sleep=` so waiting out a rate limit takes no real time)."""
    if (shop.credentials or {}).get("demo"):  # the seeded demo store: no remote platform
        from integrations.demo import DemoClient

        return DemoClient(shop, settings, **options)
    path = _IMPLEMENTATIONS.get(shop.platform)
    if path is None:
        raise PlatformConfigError(f"no client for platform {shop.platform!r}")
    return _load(path)(shop, settings, **options)


def shop_credentials(shop: Shop, *required: str) -> dict[str, str]:
    """The shop's decrypted credentials, checked for the keys a client needs."""
    credentials = shop.credentials or {}
    missing = [key for key in required if not credentials.get(key)]
    if missing:
        raise PlatformConfigError(f"shop {shop.id} has no {', '.join(missing)} stored; reconnect the store")
    return {key: str(credentials[key]) for key in required}
