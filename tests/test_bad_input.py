"""Bad input to any admin endpoint is a 4xx JSON error, never a 500. Walks the url_map so
a route added later is covered without editing this file."""

from __future__ import annotations

import json

import pytest
from admin_routes import (
    ShopRecords,
    admin_rules,
    build_url,
    int_params,
    methods,
    operation,
    path_params,
    valid_body,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.admin.pagination import encode_cursor
from app.loyalty import checks
from app.models import Customer

API = "/admin/api/v1"
WEIRD_VALUES = [
    10**30,
    -(10**30),
    1.5,
    "x" * 5000,
    "",
    "\u0000",
    "\ud800",
    [],
    {},
    None,
    True,
    {"nested": {"deeper": [1, 2, 3]}},
]
WEIRD_QUERY = ["", "abc", "-1", "0", str(10**30), "1e400", "\x00", "%", "_", "x" * 5000, "ü"]
BAD_CURSORS = ["!!!", "Zm9v", "aWQ6", "aWQ6LTE", encode_cursor(10**30), "x" * 65, "\x00"]


@pytest.fixture
def owner(pg_db, factory):
    shop = factory.shop()
    records = ShopRecords(pg_db, factory, shop)
    _, token = factory.staff(shop, "owner")
    return records, {"Authorization": f"Bearer {token}"}


def assert_json_error(response, *, allowed=range(400, 500), what=""):
    assert response.status_code in allowed, (
        f"{what}: {response.status_code} {response.get_data(as_text=True)[:300]}"
    )
    error = response.get_json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str), what


def assert_not_server_error(response, what):
    assert response.status_code < 500, (
        f"{what}: {response.status_code} {response.get_data(as_text=True)[:300]}"
    )
    if response.status_code >= 400:
        assert_json_error(response, what=what)


def calls(app, records):
    """(method, url with this shop's own ids, operation) for every admin route."""
    for rule in admin_rules(app):
        own = {p: records.id_for(p, rule) for p in path_params(rule)}
        for method in methods(rule):
            yield rule, method, build_url(rule, own), operation(app, rule)


def test_unknown_and_impossible_ids_are_404(app, client, owner):
    records, auth = owner
    for rule in admin_rules(app):
        params = int_params(rule)
        if not params:
            continue
        op = operation(app, rule)
        for method in methods(rule):
            body = valid_body(op.body) if op is not None and method != "GET" else None
            for missing in (0, 987_654_321, 2**63 - 1, 2**63, 10**30):
                url = build_url(rule, dict.fromkeys(params, missing))
                r = client.open(url, method=method, json=body, headers=auth)
                assert_json_error(r, allowed=(404,), what=f"{method} {url}")


def test_unknown_and_odd_string_ids_are_4xx(app, client, owner):
    records, auth = owner
    for rule in admin_rules(app):
        text_params = [p for p in path_params(rule) if p not in int_params(rule)]
        if not text_params:
            continue
        op = operation(app, rule)
        for method in methods(rule):
            body = valid_body(op.body) if op is not None and method != "GET" else None
            for odd in ("no-such-record", "x" * 500, "ü", "%00", "%25", "1" * 40, "-1"):
                values = {p: records.id_for(p, rule) for p in path_params(rule)}
                url = build_url(rule, values | dict.fromkeys(text_params, odd))
                r = client.open(url, method=method, json=body, headers=auth)
                assert_json_error(r, what=f"{method} {url[:120]}")


def test_every_route_wants_a_token(app, client, owner):
    records, _ = owner
    for _rule, method, url, op in calls(app, records):
        body = valid_body(op.body) if op is not None and method != "GET" else None
        for headers in (
            {},
            {"Authorization": "Bearer llst_not-a-token"},
            {"Authorization": "Token x"},
        ):
            r = client.open(url, method=method, json=body, headers=headers)
            assert_json_error(r, allowed=(401,), what=f"{method} {url} {headers}")


def test_malformed_and_wrongly_shaped_bodies(app, client, owner):
    records, auth = owner
    for _rule, method, url, op in calls(app, records):
        if op is None or op.body is None or method == "GET":
            continue
        what = f"{method} {url}"
        for raw in (b"{", b"{'points': 1}", b"\xff\xfe", b"[1,", b"nul", b'{"a": 1}{'):
            r = client.open(
                url, method=method, data=raw, content_type="application/json", headers=auth
            )
            assert_json_error(r, what=f"{what} {raw!r}")
        for shape in ([], "text", 123, None, [valid_body(op.body)]):
            r = client.open(
                url,
                method=method,
                data=json.dumps(shape),
                content_type="application/json",
                headers=auth,
            )
            assert_json_error(r, what=f"{what} {shape!r}")
        required = op.body.model_json_schema().get("required", [])
        if required:
            r = client.open(url, method=method, json={}, headers=auth)
            assert_json_error(r, allowed=(422,), what=f"{what} {{}}")
        base = valid_body(op.body)
        for field in op.body.model_fields:
            for value in WEIRD_VALUES:
                r = client.open(url, method=method, json=base | {field: value}, headers=auth)
                assert_not_server_error(r, f"{what} {field}={value!r:.40}")
            r = client.open(url, method=method, json=base | {"no_such_field": 1}, headers=auth)
            assert_json_error(r, allowed=(422,), what=f"{what} unknown field")


def test_deeply_nested_json_is_refused(app, client, owner):
    records, auth = owner
    c = records.customer
    r = client.post(
        f"{API}/customers/{c.id}/adjustments",
        data=b"[" * 100_000,
        content_type="application/json",
        headers=auth,
    )
    assert_json_error(r)


def test_odd_query_parameters_and_cursors(app, client, owner):
    records, auth = owner
    for _rule, method, url, op in calls(app, records):
        if method != "GET" or op is None or op.query is None:
            continue
        names = list(op.query.model_fields)
        for name in names:
            for value in WEIRD_QUERY:
                r = client.get(url, query_string={name: value}, headers=auth)
                assert_not_server_error(r, f"GET {url} {name}={value!r:.40}")
        if "limit" in names:
            for value in ("0", "-1", str(10**30), "ten", "1.5"):
                r = client.get(url, query_string={"limit": value}, headers=auth)
                assert_json_error(r, allowed=(422,), what=f"GET {url} limit={value}")
        if "cursor" in names:
            for cursor in BAD_CURSORS:
                r = client.get(url, query_string={"cursor": cursor}, headers=auth)
                assert_json_error(r, allowed=(422,), what=f"GET {url} cursor={cursor!r}")
        r = client.get(url + "?limit=1&limit=2", headers=auth)  # repeated parameter
        assert_not_server_error(r, f"GET {url} repeated limit")


def test_bad_idempotency_keys(client, owner):
    records, auth = owner
    url = f"{API}/customers/{records.customer.id}/adjustments"
    for key in ("", " ", "x" * 129, "tab\tkey", "ü"):
        r = client.post(
            url, json={"points": 1, "reason": "k"}, headers=auth | {"Idempotency-Key": key}
        )
        assert_json_error(r, allowed=(422,), what=repr(key))


# -- fuzzing -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
points_values = st.one_of(
    st.integers(-2_000_000, 2_000_000),
    st.integers(),
    st.just(0),
    json_values,
    st.integers(1, 50).map(str),
    st.floats(allow_nan=False, allow_infinity=False),
)
reason_values = st.one_of(st.text(max_size=600), st.just("  ok  "), json_values)


def _acceptable(points, reason) -> bool:
    """What the endpoint promises to accept, written independently of its code."""
    if type(points) is not int or points == 0 or abs(points) > 1_000_000:
        return False
    if not isinstance(reason, str) or not 1 <= len(reason.strip()) <= 500:
        return False
    return "\x00" not in reason and not any("\ud800" <= ch <= "\udfff" for ch in reason)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.fixed_dictionaries({"points": points_values, "reason": reason_values}),
        st.fixed_dictionaries(
            {}, optional={"points": points_values, "reason": reason_values, "extra": json_values}
        ),
        json_values,
    )
)
def test_fuzzed_adjustments_follow_the_rules(client, owner, pg_db, body):
    records, auth = owner
    c = records.customer
    with pg_db.session() as s:
        start = s.get(Customer, c.id).points_balance
    r = client.post(
        f"{API}/customers/{c.id}/adjustments",
        data=json.dumps(body),
        content_type="application/json",
        headers=auth,
    )
    assert r.status_code < 500, r.get_data(as_text=True)
    valid = (
        isinstance(body, dict)
        and set(body) == {"points", "reason"}
        and _acceptable(body["points"], body["reason"])
    )
    with pg_db.session() as s:
        now = s.get(Customer, c.id).points_balance
        assert checks.find_violations(s, shop_id=records.shop.id) == []
    if valid and start + body["points"] >= 0:
        assert r.status_code == 201, r.get_json()
        assert r.get_json()["points_balance"] == now == start + body["points"]
        assert r.get_json()["entry"]["reason"] == body["reason"].strip()
    else:
        assert_json_error(r, allowed=(422,))
        expected = "insufficient_points" if valid else "invalid"
        assert r.get_json()["error"]["code"] == expected
        assert now == start


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(["/customers", "/customers/{id}/ledger", "/audit-log"]),
    params=st.dictionaries(
        st.sampled_from(
            [
                "query",
                "platform_id",
                "cursor",
                "limit",
                "action",
                "target_type",
                "target_id",
                "other",
            ]
        ),
        st.one_of(st.text(max_size=80), st.integers().map(str)),
        max_size=4,
    ),
)
def test_fuzzed_list_parameters(client, owner, path, params):
    records, auth = owner
    r = client.get(API + path.format(id=records.customer.id), query_string=params, headers=auth)
    assert r.status_code in (200, 422), r.get_data(as_text=True)[:300]
    body = r.get_json()
    if r.status_code == 200:
        assert isinstance(body["data"], list)
        assert body["next_cursor"] is None or isinstance(body["next_cursor"], str)
    else:
        assert_json_error(r, allowed=(422,))
