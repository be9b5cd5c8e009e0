"""The widget in a real browser (Debian's Chromium, headless) on the demo storefront page:
what a guest and a member see, redeeming, languages, a phone, the keyboard alone, and an
axe-core scan, layout shift, theme isolation and Shopify's app proxy. Screenshots are saved
to test-artifacts/."""

from __future__ import annotations

import time

import requests

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails when CI is set) with the reason
    expect = None
from redemption_helpers import balance
from widget_helpers import DemoLikeShop

from widgets.identity import sign_storefront

LAUNCHER = "loyalty-loop-widget .ll-launcher"
PANEL = "loyalty-loop-widget [role=dialog]"


def open_widget(page):
    page.locator(LAUNCHER).click()
    dialog = page.locator(PANEL)
    dialog.wait_for(state="visible")
    page.locator(f"{PANEL} .ll-body h3").first.wait_for()
    return dialog


def api_me(base_url: str, demo: DemoLikeShop) -> dict:
    ts = int(time.time())
    shop = demo.shop
    headers = {
        "X-Loyalty-Shop": str(shop.id),
        "X-Loyalty-Customer": demo.shopper.platform_id,
        "X-Loyalty-Timestamp": str(ts),
        "X-Loyalty-Signature": sign_storefront(shop.id, demo.shopper.platform_id, ts, shop.widget_secret_value()),
    }
    r = requests.get(f"{base_url}/storefront/v1/me", headers=headers, timeout=10)
    assert r.status_code == 200
    return r.json()


def only_our_origin(page, base_url: str) -> None:
    others = [u for u in page.requested_urls if not u.startswith(base_url + "/")]
    assert others == []
    assert page.console_errors == []


def test_guest_sees_how_to_join_and_ways_to_earn(page, live_server, screenshot):
    page.goto(f"{live_server}/demo/storefront?guest=1")
    # The product snippet works for a guest too (base rate: $24.99 earns 24 points).
    earn = page.locator("[data-loyalty-earn]")
    earn.wait_for(state="visible")
    assert earn.inner_text() == "Earn 24 points with this purchase"

    dialog = open_widget(page)
    assert dialog.get_attribute("aria-modal") == "true"
    assert dialog.locator("h2").inner_text() == "Rewards"
    guest = dialog.locator("[data-view=guest]")
    assert guest.locator("h3").inner_text() == "Join our rewards programme"
    assert guest.get_by_role("link", name="Create an account").is_visible()
    ways = dialog.get_by_text("Ways to earn").locator("xpath=..").inner_text()
    assert "1 point for every $1.00 spent" in ways and "100 points for creating an account" in ways
    assert dialog.get_by_text("$5 off").is_visible() and dialog.get_by_text("Sign in to redeem").is_visible()
    assert dialog.get_by_role("button", name="Redeem").count() == 0
    assert dialog.locator("[data-view=balance], [data-view=history]").count() == 0
    screenshot(page, "guest")
    only_our_origin(page, live_server)


def test_member_view_shows_the_same_balance_as_the_api(page, live_server, demo, pg_db, screenshot):
    from sqlalchemy import update
    from tier_helpers import add_tier

    from app.models import Customer

    add_tier(pg_db, demo.shop, "silver", 1, 1000)
    add_tier(pg_db, demo.shop, "gold", 2, 5000)
    with pg_db.transaction() as s:
        s.execute(update(Customer).where(Customer.id == demo.shopper.id).values(tier="silver"))
    me = api_me(live_server, demo)
    progress = me["tier_progress"]
    assert progress["next_tier"]["name"] == "Gold" and 0 < progress["percent"] < 100
    assert me["referral_url"]
    assert me["points_balance"] == DemoLikeShop.BALANCE
    page.goto(f"{live_server}/demo/storefront")

    cart = page.locator("[data-loyalty-cart]")
    cart.wait_for(state="visible")
    assert "You will earn 63 points with this order" in cart.inner_text()  # $63.99 at 1/$
    assert "$5 off · 500 points" in cart.inner_text() and "10% off" in cart.inner_text()
    assert "Free shipping" not in cart.inner_text()  # 3,000 points: not affordable

    dialog = open_widget(page)
    shown = dialog.locator(".ll-balance")
    assert shown.inner_text() == f"{me['points_balance']:,} points"
    assert dialog.get_by_text(f"{me['pending_points']} points pending").is_visible()
    rewards = dialog.locator("[data-view=rewards]")
    assert rewards.get_by_role("button", name="Redeem $5 off for 500 points").is_enabled()
    assert rewards.get_by_role("button", name="Redeem 10% off for 1,000 points").is_enabled()
    shipping = rewards.locator("li", has_text="Free shipping")
    assert "Not enough points yet" in shipping.inner_text()
    assert shipping.get_by_role("button").count() == 0
    assert dialog.locator("[data-tier]").inner_text() == "Tier: Silver"
    assert dialog.locator("progress").get_attribute("value") == str(progress["percent"])
    assert dialog.get_by_text(f"{progress['remaining']:,} points to Gold").is_visible()
    assert dialog.get_by_label("Your referral link").input_value() == me["referral_url"]
    history = dialog.locator("[data-view=history]").inner_text()
    assert "Order (pending)" in history and "+1,150" in history and "Welcome bonus" in history
    screenshot(page, "member")
    only_our_origin(page, live_server)


def test_redeeming_shows_a_code_and_lowers_the_balance(page, live_server, demo, pg_db, fake_shopify, screenshot):
    page.goto(f"{live_server}/demo/storefront")
    dialog = open_widget(page)
    dialog.get_by_role("button", name="Redeem $5 off for 500 points").click()

    code_view = dialog.locator("[data-view=code]")
    code_view.wait_for()
    code = code_view.locator(".ll-code").inner_text()
    assert fake_shopify.codes() == [code]  # the discount exists on the store
    assert "Points left: 750 points" in code_view.inner_text()
    assert balance(pg_db, demo.shopper) == DemoLikeShop.BALANCE - 500
    assert page.locator(f"{PANEL} [role=status]").inner_text() == f"Your code is ready: {code}"
    screenshot(page, "code")

    apply = code_view.get_by_role("link", name="Apply to cart")
    assert code in apply.get_attribute("href")
    dialog.get_by_role("button", name="Back to rewards").click()
    assert dialog.locator(".ll-balance").inner_text() == "750 points"
    dialog.locator("[data-view=history]").get_by_text(f"Reward: $5 off · {code}").wait_for()
    # 750 points no longer buy "10% off" (1,000).
    assert dialog.get_by_role("button", name="Redeem 10% off for 1,000 points").count() == 0

    dialog.get_by_role("button", name="Redeem $5 off for 500 points").click()
    dialog.locator("[data-view=code]").wait_for()
    second = dialog.locator(".ll-code").inner_text()
    assert second != code and sorted(fake_shopify.codes()) == sorted([code, second])
    dialog.get_by_role("link", name="Apply to cart").click()
    page.wait_for_url("**discount=**")
    assert page.get_by_role("status").filter(has_text="applied").inner_text() == (
        f"Discount code {second} applied to your cart."
    )
    assert balance(pg_db, demo.shopper) == DemoLikeShop.BALANCE - 1000
    only_our_origin(page, live_server)


LANGUAGES = [  # link on the demo page, launcher, balance heading, 1,250 points in that locale
    ("Nederlands", "Beloningen", "Jouw punten", "1.250 punten"),
    ("Español", "Recompensas", "Tus puntos", "1250 puntos"),
    ("Norsk bokmål", "Fordeler", "Dine poeng", "1\u00a0250 poeng"),
]


def test_language_switch(page, live_server, screenshot):
    page.goto(f"{live_server}/demo/storefront")
    assert page.locator(LAUNCHER).inner_text() == "Rewards"
    for link, launcher, heading, balance_text in LANGUAGES:
        with page.expect_navigation():
            page.get_by_role("link", name=link).click()
        expect(page.locator(LAUNCHER)).to_have_text(launcher)
        dialog = open_widget(page)
        member = dialog.locator("[data-view=member]")
        assert member.locator("h3").inner_text() == heading
        assert member.locator(".ll-balance").text_content() == balance_text
        assert "Rewards" not in dialog.inner_text() and "points" not in dialog.inner_text()
        screenshot(page, page.evaluate("document.documentElement.lang"))
        page.keyboard.press("Escape")


def test_mobile_viewport(browser, live_server, screenshot):
    ctx = browser.new_context(viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True,
                              device_scale_factor=2, reduced_motion="reduce")
    try:
        page = ctx.new_page()
        page.goto(f"{live_server}/demo/storefront")
        launcher = page.locator(LAUNCHER)
        box = launcher.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375 and box["y"] + box["height"] <= 667
        screenshot(page, "closed")
        launcher.tap()
        dialog = page.locator(PANEL)
        dialog.locator(".ll-balance").wait_for()
        panel = dialog.bounding_box()
        assert (panel["x"], panel["y"], panel["width"], panel["height"]) == (0, 0, 375, 667)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        redeem = dialog.get_by_role("button", name="Redeem $5 off for 500 points")
        redeem.scroll_into_view_if_needed()
        assert redeem.bounding_box()["height"] >= 40  # a comfortable touch target
        screenshot(page, "open")
    finally:
        ctx.close()


def _focus(page) -> dict:
    return page.evaluate(
        """() => {
            const host = document.querySelector('loyalty-loop-widget');
            const inner = host.shadowRoot.activeElement;
            return {
                inWidget: document.activeElement === host,
                inPanel: !!inner && !!inner.closest('[role=dialog]'),
                launcher: inner === host.shadowRoot.querySelector('.ll-launcher'),
                label: inner ? (inner.getAttribute('aria-label') || inner.textContent) : null,
            };
        }"""
    )


def test_keyboard_only(page, live_server, pg_db, demo, screenshot):
    page.goto(f"{live_server}/demo/storefront")
    page.locator(LAUNCHER).wait_for()
    for _ in range(15):  # through the page's own links to the launcher
        page.keyboard.press("Tab")
        if _focus(page)["launcher"]:
            break
    assert _focus(page)["launcher"]
    page.keyboard.press("Enter")
    page.locator(f"{PANEL} .ll-balance").wait_for()
    assert _focus(page) | {"label": None} == {"inWidget": True, "inPanel": True, "launcher": False, "label": None}
    assert _focus(page)["label"] == "Close"

    # Focus stays in the dialog both ways round, however far one tabs.
    seen = set()
    for _ in range(25):
        page.keyboard.press("Tab")
        state = _focus(page)
        assert state["inPanel"], state
        seen.add(state["label"])
    for _ in range(10):
        page.keyboard.press("Shift+Tab")
        assert _focus(page)["inPanel"]
    assert {"Close", "Redeem $5 off for 500 points"} <= seen
    screenshot(page, "focus")

    # Redeem with the keyboard alone; focus follows to the code.
    for _ in range(30):
        if _focus(page)["label"] == "Redeem $5 off for 500 points":
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.locator(f"{PANEL} [data-view=code]").wait_for()
    assert _focus(page)["label"] == "Your discount code"
    assert balance(pg_db, demo.shopper) == DemoLikeShop.BALANCE - 500

    page.keyboard.press("Escape")
    assert page.locator(PANEL).is_hidden()
    assert _focus(page)["launcher"]
    assert page.locator(LAUNCHER).get_attribute("aria-expanded") == "false"


def test_axe_finds_no_serious_violations(page, live_server, screenshot):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    found = []
    for variant, query in (("guest", "?guest=1"), ("member", "")):
        page.goto(f"{live_server}/demo/storefront{query}")
        page.locator(LAUNCHER).wait_for()
        found += axe.run(page).response["violations"]
        open_widget(page)
        page.locator(f"{PANEL} [data-view=rewards]").wait_for()
        # Contrast is judged on what stays on screen, after the panel's fade-in.
        page.locator(PANEL).evaluate(
            "el => Promise.all(el.getAnimations({subtree: true}).map(a => a.finished))")
        found += axe.run(page).response["violations"]
        screenshot(page, variant)
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
        for v in found if v["impact"] in ("serious", "critical")
    ]
    assert serious == []


def test_widget_causes_no_layout_shift(page, live_server, demo):
    """On a page without snippets, loading the widget and opening it moves nothing."""
    shop = demo.shop
    ts = int(time.time())
    signature = sign_storefront(shop.id, demo.shopper.platform_id, ts, shop.widget_secret_value())
    html = (
        "<!doctype html><html lang=en><head><title>Layout</title></head><body>"
        + "<p>Store text.</p>" * 40
        + f'<script async src="/widget/loyalty.js" data-shop="{shop.id}" '
        f'data-customer="{demo.shopper.platform_id}" data-timestamp="{ts}" data-signature="{signature}">'
        "</script></body></html>"
    )
    page.route(f"{live_server}/layout-test", lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto(f"{live_server}/layout-test")
    before = page.evaluate("document.documentElement.scrollHeight")
    position = page.locator("p").first.bounding_box()
    page.locator(LAUNCHER).wait_for()
    assert page.evaluate("getComputedStyle(document.querySelector('loyalty-loop-widget')).position") == "fixed"
    open_widget(page).locator(".ll-balance").wait_for()
    shift = page.evaluate(
        """() => new Promise(resolve => {
            const sum = entries => entries.reduce((total, e) => total + e.value, 0);
            let total = 0;
            const observer = new PerformanceObserver(list => { total += sum(list.getEntries()); });
            observer.observe({type: 'layout-shift', buffered: true});
            requestAnimationFrame(() => setTimeout(() => resolve(total + sum(observer.takeRecords())), 0));
        })"""
    )
    assert shift == 0
    assert page.evaluate("document.documentElement.scrollHeight") == before
    assert page.locator("p").first.bounding_box() == position
    only_our_origin(page, live_server)


def test_shopify_app_proxy_mode(page, live_server, app, demo, pg_db, screenshot):
    """With data-mode="app-proxy" the widget calls /apps/loyalty/v1/... on the shop's own
    origin and sends no identity of its own; Shopify (played here by a route that signs
    the query as Shopify does) forwards to /proxy/v1/... ."""
    from urllib.parse import parse_qsl, urlencode, urlsplit

    from widgets.identity import sign_app_proxy

    secret = app.extensions["settings"].shopify_api_secret
    forwarded = []

    def shopify_proxy(route):
        request = route.request
        assert not any(h.lower().startswith("x-loyalty-") for h in request.headers)
        url = urlsplit(request.url)
        params = parse_qsl(url.query) + [
            ("shop", demo.shop.domain), ("logged_in_customer_id", demo.shopper.platform_id),
            ("path_prefix", "/apps/loyalty"), ("timestamp", str(int(time.time()))),
        ]
        params.append(("signature", sign_app_proxy(params, secret)))
        target = live_server + url.path.replace("/apps/loyalty/", "/proxy/", 1) + "?" + urlencode(params)
        forwarded.append((request.method, url.path))
        route.fulfill(response=route.fetch(url=target))

    html = (
        "<!doctype html><html lang=en><head><title>Shop</title></head><body>"
        '<p data-loyalty-earn data-price="2499" hidden></p>'
        '<script async src="/widget/loyalty.js" data-mode="app-proxy"></script></body></html>'
    )
    page.route(f"{live_server}/apps/loyalty/v1/**", shopify_proxy)
    page.route(f"{live_server}/products/tote", lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto(f"{live_server}/products/tote")
    expect(page.locator("[data-loyalty-earn]")).to_have_text("Earn 24 points with this purchase")
    dialog = open_widget(page)
    expect(dialog.locator(".ll-balance")).to_have_text("1,250 points")
    dialog.get_by_role("button", name="Redeem $5 off for 500 points").click()
    code = dialog.locator("[data-view=code] .ll-code").inner_text()
    assert dialog.get_by_role("link", name="Apply to cart").get_attribute("href") == (
        f"/discount/{code}?redirect=/cart"
    )
    assert balance(pg_db, demo.shopper) == DemoLikeShop.BALANCE - 500
    assert ("POST", "/apps/loyalty/v1/redemptions") in forwarded
    screenshot(page, "code")


def test_theme_css_cannot_break_the_widget_and_ours_does_not_leak(page, live_server, demo):
    """A hostile theme stylesheet does not reach into the widget; the merchant's colour,
    position and launcher text (data attributes) do."""
    shop = demo.shop
    ts = int(time.time())
    signature = sign_storefront(shop.id, None, ts, shop.widget_secret_value())
    hostile = (
        "* { position: static !important; color: #f0f !important; font-size: 40px !important; }"
        "button { display: none !important; } div, section, h3 { border: 9px solid red; }"
    )
    html = (
        f"<!doctype html><html lang=en><head><title>Theme</title><style>{hostile}</style></head><body>"
        '<button id="theme-button">Theme button</button>'
        f'<script async src="/widget/loyalty.js" data-shop="{shop.id}" data-customer="" '
        f'data-timestamp="{ts}" data-signature="{signature}" data-color="#ffd400" '
        'data-text-color="#ffffff" data-position="bottom-left" data-text-launcher="Club points">'
        "</script></body></html>"
    )
    page.route(f"{live_server}/theme", lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto(f"{live_server}/theme")
    launcher = page.locator(LAUNCHER)
    assert launcher.is_visible()
    style = launcher.evaluate(
        "el => { const s = getComputedStyle(el); const h = getComputedStyle(el.getRootNode().host);"
        " return [h.position, s.color, s.fontSize, s.backgroundColor]; }"
    )
    # The merchant's yellow, with black text: white on yellow would fail AA contrast.
    assert style == ["fixed", "rgb(17, 17, 17)", "15px", "rgb(255, 212, 0)"]
    assert launcher.inner_text() == "Club points"
    box = launcher.bounding_box()
    assert box["x"] == 20  # bottom-left

    dialog = open_widget(page)
    assert dialog.locator("h3").first.evaluate("el => getComputedStyle(el).borderTopWidth") == "0px"
    # Our button styles stay in the shadow root.
    theme_button = page.locator("#theme-button").evaluate(
        "el => [getComputedStyle(el).display, getComputedStyle(el).backgroundColor]"
    )
    assert theme_button[0] == "none" and theme_button[1] != "rgb(255, 212, 0)"


def test_a_cached_page_gets_a_fresh_signature_from_the_store(page, live_server, demo):
    """A page from a full-page cache carries a signature older than 5 minutes; the widget
    asks the store's identity URL (the WooCommerce plugin's) for a fresh one."""
    shop = demo.shop
    old = int(time.time()) - 600
    stale = sign_storefront(shop.id, demo.shopper.platform_id, old, shop.widget_secret_value())
    nonces = []

    def identity(route):
        nonces.append(route.request.headers.get("x-wp-nonce"))
        ts = int(time.time())
        route.fulfill(json={
            "shop": str(shop.id), "customer": demo.shopper.platform_id, "timestamp": str(ts),
            "signature": sign_storefront(shop.id, demo.shopper.platform_id, ts, shop.widget_secret_value()),
        })

    html = (
        "<!doctype html><html lang=en><head><title>Cached</title></head><body>"
        f'<script async src="/widget/loyalty.js" data-shop="{shop.id}" '
        f'data-customer="{demo.shopper.platform_id}" data-timestamp="{old}" data-signature="{stale}" '
        f'data-identity-url="{live_server}/wp-json/loyalty-loop/v1/identity" data-identity-nonce="n0nce">'
        "</script></body></html>"
    )
    page.route(f"{live_server}/wp-json/loyalty-loop/v1/identity", identity)
    page.route(f"{live_server}/cached", lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto(f"{live_server}/cached")
    dialog = open_widget(page)
    expect(dialog.locator(".ll-balance")).to_have_text("1,250 points")
    assert nonces and set(nonces) == {"n0nce"}


def test_a_friends_referral_link_is_claimed_once_signed_in(page, live_server):
    page.goto(f"{live_server}/demo/storefront?guest=1&loyalty_ref=FRIEND42")
    page.locator(LAUNCHER).wait_for()
    assert page.evaluate("localStorage.getItem('loyalty-loop-ref')") == "FRIEND42"
    with page.expect_response("**/storefront/v1/referrals/claim") as claimed:
        page.goto(f"{live_server}/demo/storefront")
    assert claimed.value.request.post_data_json == {"code": "FRIEND42"}
    assert claimed.value.status == 404  # no such code in this shop: refused for good
    page.wait_for_function("localStorage.getItem('loyalty-loop-ref') === null")
