"""A staff token only ever sees its own shop. Walks every admin route in the url_map, so
a route added later is held to the same rule: another shop's id answers 404 and changes
nothing, and lists never show another shop's records."""

from __future__ import annotations

import pytest
from admin_routes import (
    ShopRecords,
    admin_rules,
    build_url,
    methods,
    operation,
    path_params,
    valid_body,
)


@pytest.fixture
def two_shops(pg_db, factory):
    shop_a, shop_b = factory.shop("shopify"), factory.shop("woocommerce")
    a = ShopRecords(pg_db, factory, shop_a)
    b = ShopRecords(pg_db, factory, shop_b)
    with pg_db.transaction() as s:  # a programme setting only shop B has
        from app.models import Shop

        s.get(Shop, shop_b.id).program = {"point_value_minor": 987654}
    _, token_a = factory.staff(shop_a, "owner")
    factory.staff(shop_b, "owner")
    return a, b, {"Authorization": f"Bearer {token_a}"}


def test_routes_with_an_id_answer_404_for_another_shops_records(app, client, two_shops):
    a, b, auth = two_shops
    rules = [r for r in admin_rules(app) if path_params(r)]
    assert any(r.rule.endswith("/adjustments") for r in rules)  # the walk sees the routes
    for rule in rules:  # create shop B's records first, then take the "before" picture
        for p in path_params(rule):
            b.id_for(p, rule)
    before = b.snapshot()
    checked = 0
    for rule in rules:
        params = path_params(rule)
        own = {p: a.id_for(p, rule) for p in params}
        # Every id from shop B at once, and each one alone among shop A's own ids.
        variants = [{p: b.id_for(p, rule) for p in params}]
        variants += [own | {p: b.id_for(p, rule)} for p in params] if len(params) > 1 else []
        op = operation(app, rule)
        for method in methods(rule):
            body = valid_body(op.body) if op is not None and method != "GET" else None
            for values in variants:
                url = build_url(rule, values)
                r = client.open(url, method=method, json=body, headers=auth)
                assert r.status_code == 404, (
                    f"{method} {url} answered {r.status_code}: {r.get_data(as_text=True)[:300]}"
                )
                assert set(r.get_json()["error"]) >= {"code", "message"}
                checked += 1
            if method == "GET":  # the same request for shop A's own record works
                r = client.get(build_url(rule, own), headers=auth)
                assert r.status_code == 200, f"GET {rule.rule} with own ids: {r.status_code}"
    assert checked >= len(rules)
    assert b.snapshot() == before


def test_lists_never_show_another_shops_records(app, client, two_shops):
    a, b, auth = two_shops
    lists = [r for r in admin_rules(app) if not path_params(r) and "GET" in methods(r)]
    assert any(r.rule.endswith("/customers") for r in lists)
    for rule in lists:
        op = operation(app, rule)
        query_names = list(op.query.model_fields) if op is not None and op.query else []
        attempts = [{}] + [
            {name: b.marker} for name in query_names if name not in ("limit", "cursor")
        ]
        attempts += [{"target_id": str(b.customer.id)}] if "target_id" in query_names else []
        for params in attempts:
            r = client.get(rule.rule, query_string=params, headers=auth)
            text = r.get_data(as_text=True)
            assert r.status_code < 500, f"{rule.rule} {params}: {text[:300]}"
            assert b.marker not in text, f"{rule.rule} {params} shows shop B's data"
            assert "987654" not in text, f"{rule.rule} {params} shows shop B's programme"

    everyone = client.get("/admin/api/v1/customers", headers=auth).get_json()["data"]
    assert [c["id"] for c in everyone] == [a.customer.id]
    own = client.get("/admin/api/v1/customers", query_string={"query": a.marker}, headers=auth)
    assert a.marker in own.get_data(as_text=True)
    events = client.get("/admin/api/v1/audit-log", headers=auth).get_json()["data"]
    assert [e["reason"] for e in events] == [a.marker]
