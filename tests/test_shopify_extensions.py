"""The Shopify extension sources are valid and wired to our API: the app embed loads the
widget through the app proxy (same origin, Shopify-signed identity), the product and cart
blocks carry amounts in minor units, and the checkout extension calls /checkout/v1 with
the session token."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "widgets" / "shopify"
EMBED = ROOT / "extensions" / "loyalty-embed"
CHECKOUT = ROOT / "extensions" / "loyalty-checkout"


def schema_of(liquid: str) -> dict:
    match = re.search(r"{%\s*schema\s*%}(.*?){%\s*endschema\s*%}", liquid, re.S)
    assert match, "a block needs a {% schema %}"
    return json.loads(match.group(1))


def test_the_theme_extension_config():
    config = tomllib.loads((EMBED / "shopify.extension.toml").read_text())
    assert config["type"] == "theme" and config["name"]


def test_the_app_embed_loads_the_widget_through_the_app_proxy():
    liquid = (EMBED / "blocks" / "loyalty-widget.liquid").read_text()
    schema = schema_of(liquid)
    assert schema["target"] == "body"
    tag = re.search(r"<script(.*?)></script>", liquid, re.S).group(1)
    assert re.search(r"\basync\b", tag)
    assert 'src="/apps/loyalty/widget/loyalty.js"' in tag
    assert 'data-mode="app-proxy"' in tag and 'data-proxy-path="/apps/loyalty"' in tag
    # Shopify signs the shopper on every proxied request: nothing to sign or leak here.
    assert "data-signature" not in tag and "widget_secret" not in liquid
    positions = {o["value"] for s in schema["settings"] if s["id"] == "position" for o in s["options"]}
    assert positions == {"bottom-right", "bottom-left"}


def test_the_product_and_cart_blocks_give_amounts_in_minor_units():
    product = (EMBED / "blocks" / "earn-points.liquid").read_text()
    cart = (EMBED / "blocks" / "cart-points.liquid").read_text()
    assert schema_of(product)["target"] == "section" and schema_of(cart)["target"] == "section"
    assert "data-loyalty-earn" in product and 'data-price="{{ variant.price }}"' in product
    assert "data-loyalty-cart" in cart and 'data-total="{{ cart.total_price }}"' in cart


def test_the_app_proxy_points_at_our_proxy_prefix():
    config = tomllib.loads((ROOT / "shopify.app.toml.example").read_text())
    proxy = config["app_proxy"]
    assert (proxy["prefix"], proxy["subpath"]) == ("apps", "loyalty")
    assert proxy["url"].endswith("/proxy")
    assert "write_app_proxy" in config["access_scopes"]["scopes"]


def test_the_checkout_extension_config_and_source():
    config = tomllib.loads((CHECKOUT / "shopify.extension.toml").read_text())
    extension = config["extensions"][0]
    assert extension["type"] == "ui_extension"
    assert extension["capabilities"]["network_access"] is True
    targets = {t["target"]: t["module"] for t in extension["targeting"]}
    assert targets == {"purchase.checkout.block.render": "./src/Checkout.jsx"}
    source = (CHECKOUT / "src" / "Checkout.jsx").read_text()
    assert "reactExtension('purchase.checkout.block.render'" in source
    assert "sessionToken.get()" in source and "Authorization: `Bearer ${token}`" in source
    assert "/checkout/v1" in source and "'Idempotency-Key'" in source
    assert {"api_url"} == {f["key"] for f in config["settings"]["fields"]}
