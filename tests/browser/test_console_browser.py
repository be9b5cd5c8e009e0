"""The admin console in a real browser (Debian's Chromium, headless): a support agent
signs in, finds a shopper, adjusts and undoes, asks for a large adjustment, and an admin
approves it. No page may run inline script or reach another origin (the console's CSP
would block it and Chromium would report it). Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from console_helpers import cheap_password_hashing, staff_with_password  # noqa: F401 (autouse fixture)

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails when CI is set) with the reason
    expect = None

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def screenshot():
    """`screenshot(page, "name")` saves test-artifacts/console-browser-<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    return lambda pg, name: pg.screenshot(path=str(ARTIFACTS / f"console-browser-{name}.png"))


@pytest.fixture
def console_page(page):
    """The page, also collecting console errors (CSP violations land there)."""
    page.csp_errors = []
    page.on("console", lambda msg: page.csp_errors.append(msg.text) if msg.type == "error" else None)
    return page


def sign_in(page, base, email):
    page.goto(f"{base}/admin/")
    expect(page).to_have_url(re.compile(r"/admin/sign-in"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="Customers").click()
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def adjust(page, points, reason, note=""):
    form = page.locator("#adjust-form")
    form.get_by_label("Points", exact=True).fill(str(points))
    form.get_by_label("Reason", exact=True).select_option(reason)
    form.get_by_label("Note", exact=True).fill(note)
    form.get_by_role("button", name="Adjust").click()


def test_support_adjusts_undoes_and_an_admin_approves(console_page, live_server, demo, factory, pg_db,
                                                      screenshot):
    page = console_page
    support = staff_with_password(factory, pg_db, demo.shop, role="support")
    admin = staff_with_password(factory, pg_db, demo.shop, role="admin")

    sign_in(page, live_server, support.email)
    page.get_by_label("Search").fill("thompson")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Ava Thompson").click()
    balance = page.locator("#balance")
    expect(balance).to_have_text("1250")

    adjust(page, 50, "goodwill", "sorry for the delay")
    expect(page.get_by_role("status").filter(has_text="Posted +50 points")).to_be_visible()
    expect(balance).to_have_text("1300")
    screenshot(page, "console-adjusted")

    row = page.locator("#ledger tbody tr").first
    expect(row).to_contain_text("goodwill: sorry for the delay")
    row.get_by_role("button", name="Undo").click()
    expect(page.get_by_role("status").filter(has_text="Undone: -50 points")).to_be_visible()
    expect(balance).to_have_text("1250")
    expect(page.locator("#ledger")).to_contain_text("undone")
    expect(page.get_by_role("button", name="Undo")).to_have_count(0)

    adjust(page, 900, "service_recovery", "lost parcel")
    expect(page.get_by_role("status").filter(has_text="an admin has been asked to approve")).to_be_visible()
    expect(balance).to_have_text("1250")
    sign_out(page)

    sign_in(page, live_server, admin.email)
    page.get_by_role("navigation").get_by_role("link", name="Approvals").click()
    request_row = page.locator("#approvals tbody tr").first
    expect(request_row).to_contain_text("lost parcel")
    expect(request_row).to_contain_text(support.email)
    request_row.get_by_label("Decision note").fill("ok, parcel confirmed lost")
    screenshot(page, "console-approvals")
    request_row.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status").filter(has_text="+900 points posted")).to_be_visible()
    expect(page.get_by_text("Nothing pending.")).to_be_visible()

    page.get_by_role("navigation").get_by_role("link", name="Customers").click()
    page.get_by_role("link", name="Ava Thompson").click()
    expect(balance).to_have_text("2150")
    page.get_by_role("navigation").get_by_role("link", name="Audit log").click()
    expect(page.locator("#audit")).to_contain_text("adjustment.approve")
    screenshot(page, "console-audit")

    others = [u for u in page.requested_urls if not u.startswith(live_server + "/")]
    assert others == []
    assert page.console_errors == [] and page.csp_errors == []
