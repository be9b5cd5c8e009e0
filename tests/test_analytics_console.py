"""The console dashboard page: figures, inline SVG charts, links to definitions, roles."""

from __future__ import annotations

import re

from console_helpers import sign_in, staff_with_password

from app.analytics import kpis


def signed_in(app, factory, pg_db, shop, role):
    user = staff_with_password(factory, pg_db, shop, role=role)
    client = app.test_client()
    assert sign_in(client, user.email).status_code == 302
    return client


def test_dashboard_renders_charts_and_links_each_figure_to_its_definition(app, factory, pg_db):
    shop = factory.shop(program={"point_value_minor": 3})
    c = factory.customer(shop)
    factory.points(shop, c, 400, kind="earn_order")
    factory.points(shop, c, -100, kind="redeem")
    client = signed_in(app, factory, pg_db, shop, "viewer")
    r = client.get("/admin/dashboard")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    for chart in ("chart-flow", "chart-liability", "chart-members"):
        assert f'id="{chart}"' in html
    assert html.count("<svg") >= 3 and "<script>" not in html and "style=" not in html
    # Every "how?" link points at a definition on the same page.
    anchors = set(re.findall(r'href="#([a-z0-9-]+)" title="How it is computed"', html))
    assert anchors and anchors <= set(kpis.DEFINITIONS)
    for definition in kpis.DEFINITIONS:
        assert f'<dt id="{definition}">' in html
    # The figures: liability now is 300 points x 3.
    assert 'data-figure="liability_minor"' in html
    assert "9.00 USD" in html
    assert 'data-figure="redemption_rate"' in html and "25.0%" in html


def test_bad_period_falls_back_with_a_message(app, factory, pg_db):
    shop = factory.shop()
    client = signed_in(app, factory, pg_db, shop, "viewer")
    r = client.get("/admin/dashboard?from=2026-03-01&to=2026-01-01")
    assert r.status_code == 200
    assert "showing the default period" in r.get_data(as_text=True)


def test_dashboard_needs_a_console_session(client):
    r = client.get("/admin/dashboard")
    assert r.status_code in (302, 303)
    assert "/admin/sign-in" in r.headers["Location"]


def test_too_long_period_falls_back_with_a_message(app, factory, pg_db):
    shop = factory.shop()
    client = signed_in(app, factory, pg_db, shop, "viewer")
    r = client.get("/admin/dashboard?from=1990-01-01")
    assert r.status_code == 200
    assert "at most 731 days" in r.get_data(as_text=True)


def test_winback_lift_is_drawn_with_its_interval():
    from app.console.dashboard import winback_chart

    assert winback_chart(None) is None
    assert winback_chart({"rate_difference": None, "rate_difference_ci": None}) is None
    chart = winback_chart({"rate_difference": 0.05, "rate_difference_ci": [0.01, 0.09]})
    # Zero, the interval and the point sit left to right on the axis, the point inside.
    assert chart["zero"] < chart["low"] < chart["point"] < chart["high"]
    assert chart["text"] == "+5.0 points (+1.0 to +9.0)"
    straddling = winback_chart({"rate_difference": 0.01, "rate_difference_ci": [-0.02, 0.04]})
    assert straddling["low"] < straddling["zero"] < straddling["high"]
