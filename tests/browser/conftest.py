"""Browser tests: the app on a live server thread (the `app` fixture's PostgreSQL
database), a demo-like shop built through the factories and the ledger, Shopify's Admin
API faked on 127.0.0.1 so redeeming creates a real (fake) discount, and Debian's Chromium
driven by Playwright. Screenshots go to `test-artifacts/`.

Chromium is never downloaded: without `/usr/bin/chromium` (or the playwright package)
these tests skip, unless `CI` is set, where that is a failure.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SHOPIFY_VERSION = "2025-10"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def fake_shopify():
    """The demo domain's Shopify Admin API, where redemptions create their codes."""
    from fakes.shopify_admin import FakeShopifyAdmin
    from widget_helpers import DEMO_TOKEN

    from app.demo import DEMO_DOMAIN

    admin = FakeShopifyAdmin(shop=DEMO_DOMAIN, access_token=DEMO_TOKEN, api_version=SHOPIFY_VERSION)
    with admin:
        yield admin


@pytest.fixture
def settings(pg_url, fake_shopify):
    """The shared settings, pointed at the fake Shopify (overrides tests/conftest.py)."""
    from app.config import Settings

    fake_shopify.discounts.clear()
    return Settings(
        app_env="test", database_url=pg_url, redis_url=None,
        shopify_shop_origin=fake_shopify.origin_template, shopify_api_version=SHOPIFY_VERSION,
    )


@pytest.fixture
def demo(factory, pg_db):
    from widget_helpers import demo_like_shop

    return demo_like_shop(factory, pg_db)


@pytest.fixture
def live_server(app, demo):
    """Base URL of the app served by Werkzeug in a background thread."""
    from werkzeug.serving import make_server
    from widget_helpers import with_widget_routes

    server = make_server("127.0.0.1", 0, with_widget_routes(app), threaded=True)
    server.daemon_threads = True  # an idle keep-alive connection never holds up the shutdown
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def context(browser, live_server):
    """A fresh browser context, closed before the live server stops."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    """A page that records every URL it requests (the widget may only call our app)."""
    pg = context.new_page()
    pg.requested_urls = []
    pg.on("request", lambda request: pg.requested_urls.append(request.url))
    pg.console_errors = []
    pg.on("pageerror", lambda exc: pg.console_errors.append(str(exc)))
    yield pg


@pytest.fixture
def screenshot(request):
    """`screenshot(page, "name")` saves test-artifacts/widget-<test>-<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)

    def save(pg, name: str) -> Path:
        path = ARTIFACTS / f"widget-{request.node.name}-{name}.png"
        pg.screenshot(path=str(path), full_page=False)
        return path

    return save
