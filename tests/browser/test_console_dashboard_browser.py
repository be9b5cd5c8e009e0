"""The console's dashboard and import pages in Debian's Chromium: the charts render under
the strict CSP, each figure's link lands on its definition, and an upload shows its
progress until done. Screenshots go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, update

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails when CI is set) with the reason
    expect = None
from console_helpers import PASSWORD, staff_with_password

from app.models import BalanceImport, Customer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/admin/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state()


def watch_console(page) -> list[str]:
    """Script errors, CSP violations and failed loads (the browser's own favicon probe aside)."""
    errors: list[str] = []

    def on_console(msg) -> None:
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            errors.append(msg.text)

    def on_response(response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


def test_dashboard_renders_its_charts(page, live_server, demo, factory, pg_db):
    shop = demo.shop
    c = factory.customer(shop, email="chart@example.com")
    factory.points(shop, c, 800, kind="earn_order")
    factory.points(shop, c, -200, kind="redeem")
    user = staff_with_password(factory, pg_db, shop, role="viewer")
    errors = watch_console(page)
    sign_in(page, live_server, user.email)
    page.goto(f"{live_server}/admin/dashboard")
    for chart in ("#chart-flow", "#chart-liability", "#chart-members"):
        svg = page.locator(f"{chart} svg")
        expect(svg).to_be_visible()
        box = svg.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 40
    # This month's issued points are a bar with a real height on screen.
    heights = [b["height"] for b in (r.bounding_box() for r in page.locator("#chart-flow rect.bar").all()) if b]
    assert max(heights) > 20
    assert page.locator("#chart-liability circle.point").count() >= 1
    shot(page, "dashboard")
    # A figure's "how?" link lands on its definition.
    page.locator('[data-figure="redemption_rate"] a.how').click()
    assert page.url.endswith("#redemption-rate")
    expect(page.locator("dt#redemption-rate")).to_be_in_viewport()
    assert errors == []  # no CSP violation, no script error


def test_import_with_progress(page, live_server, demo, factory, pg_db, tmp_path):
    shop = demo.shop
    user = staff_with_password(factory, pg_db, shop, role="admin")
    errors = watch_console(page)
    sign_in(page, live_server, user.email)

    # A dry run, then the real import from its report.
    csv_file = tmp_path / "smile.csv"
    csv_file.write_text("email,points\nbrowser.one@example.com,150\nbrowser.two@example.com,75\n")
    page.goto(f"{live_server}/admin/imports")
    page.set_input_files("#upload-form input[type=file]", str(csv_file))
    page.locator("#upload-form button[type=submit]").click()
    expect(page.locator("#import-status")).to_have_text("done")
    expect(page.locator("#import-progress")).to_have_attribute("value", "100")
    shot(page, "import-dry-run")
    page.locator("#apply-import").click()
    expect(page.locator("#import-status")).to_have_text("done")
    expect(page.locator("#import-counts")).to_contain_text("Balances changed")
    with pg_db.session() as s:
        got = {c.email: c.points_balance for c in s.scalars(
            select(Customer).where(Customer.shop_id == shop.id, Customer.email.like("browser.%")))}
    assert got == {"browser.one@example.com": 150, "browser.two@example.com": 75}

    # A job still running: the page shows its progress and refreshes itself until done.
    with pg_db.transaction() as s:
        running = BalanceImport(
            shop_id=shop.id, filename="big.csv", file_sha256="0" * 64, content="email,points\n",
            requested_format="auto", dry_run=False, status="running", total_rows=10,
            processed_rows=4, changed_rows=0, unchanged_rows=0, created_customers=0, errors=[],
        )
        s.add(running)
    page.goto(f"{live_server}/admin/imports/{running.id}")
    expect(page.locator("#import-progress")).to_have_attribute("value", "40")
    shot(page, "import-running")
    with pg_db.transaction() as s:
        s.execute(update(BalanceImport).where(BalanceImport.id == running.id).values(
            status="done", processed_rows=10, changed_rows=10, message="10 balances changed"))
    expect(page.locator("#import-status")).to_have_text("done", timeout=15_000)
    expect(page.locator("#import-progress")).to_have_attribute("value", "100")
    assert errors == []
