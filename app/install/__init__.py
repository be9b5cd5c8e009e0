"""Installing the app on Shopify shops and connecting WooCommerce stores (docs/install.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    from app.install import shopify, woocommerce

    app.register_blueprint(shopify.bp)
    app.register_blueprint(woocommerce.bp)
