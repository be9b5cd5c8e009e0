"""Connecting a WooCommerce store: the application authentication endpoint and the REST
webhooks, against a local fake store that follows the WooCommerce docs; and the periodic
job that switches disabled webhooks back on (real PostgreSQL, Redis, an RQ worker).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from fakes.woocommerce_connect import FakeWooCommerceConnect
from freezegun import freeze_time
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import func, select, text

from app.install.attempts import WOOCOMMERCE_TTL
from app.jobs import queues
from app.jobs.install_jobs import check_woocommerce_webhooks, ensure_woocommerce_webhooks
from app.models import Customer, InstallAttempt, Shop
from integrations.signatures import sign
from integrations.woocommerce.connect import InvalidStoreUrl, normalize_store_url
from integrations.woocommerce.webhook_setup import TOPICS

APP_URL = "https://loyalty.test"


@pytest.fixture
def store():
    with FakeWooCommerceConnect(currency="EUR") as fake:
        yield fake


@pytest.fixture
def woo_settings(settings):
    return settings.with_overrides(app_url=APP_URL, allow_http_stores=True)


@pytest.fixture
def woo_app(woo_settings, pg_db):
    from app import create_app

    flask_app = create_app(woo_settings, db=pg_db)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def browser(woo_app):
    return woo_app.test_client()


def shops(db) -> list[Shop]:
    with db.session() as s:
        return list(s.scalars(select(Shop).order_by(Shop.id)))


def start_connect(browser, store_url: str):
    return browser.get("/woocommerce/connect?" + urlencode({"store_url": store_url}), base_url=APP_URL)


def deliver(browser, store, started, **approve):
    """The store manager approves; WooCommerce POSTs the key to our callback."""
    callback_url, body = store.approve(started.headers["Location"], **approve)
    assert callback_url == f"{APP_URL}/woocommerce/callback"
    answer = browser.post("/woocommerce/callback", json=body, base_url=APP_URL)
    store.keep_key(body["key_id"], answer.status_code)
    return answer, body


def connected(browser, store, pg_db) -> Shop:
    answer, _ = deliver(browser, store, start_connect(browser, store.url))
    assert answer.status_code == 200
    return shops(pg_db)[-1]


# -- the store URL -------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    ("https://Shop.Example.com/", "https://shop.example.com"),
    ("  https://shop.example.com/wordpress/  ", "https://shop.example.com/wordpress"),
    ("https://shop.example.com:8443", "https://shop.example.com:8443"),
])
def test_store_urls_are_normalised(raw, expected):
    assert normalize_store_url(raw, allow_http=False) == expected


@pytest.mark.parametrize("raw", [
    "", "shop.example.com", "ftp://shop.example.com", "http://shop.example.com", "https://", "https://shop.example.com/?p=1",
    "https://user:pw@shop.example.com", "https://shop.example.com/#x", "https://shop.example.com:99999",
    "https://shop example.com", "https://" + "a" * 300 + ".com",
])
def test_store_urls_that_cannot_be_connected(raw):
    with pytest.raises(InvalidStoreUrl):
        normalize_store_url(raw, allow_http=False)


def test_plain_http_needs_allow_http_stores(settings, pg_db):
    from app import create_app

    strict = create_app(settings.with_overrides(app_url=APP_URL, allow_http_stores=False), db=pg_db).test_client()
    answer = start_connect(strict, "http://shop.example.com")
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "invalid_store_url"
    assert "https" in answer.get_json()["error"]["message"]
    with pg_db.session() as s:
        assert s.scalar(select(func.count()).select_from(InstallAttempt)) == 0


# -- connect and callback ------------------------------------------------------------------------


def test_connect_redirects_to_the_stores_authorize_endpoint(browser, store, pg_db):
    answer = start_connect(browser, store.url + "/")
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    query = dict(parse_qsl(location.query))
    assert f"{location.scheme}://{location.netloc}{location.path}" == store.url + "/wc-auth/v1/authorize"
    assert query["app_name"] == "Loyalty Loop" and query["scope"] == "read_write"
    assert query["callback_url"] == f"{APP_URL}/woocommerce/callback"
    assert query["return_url"] == f"{APP_URL}/admin/"
    assert len(query["user_id"]) >= 32
    with pg_db.session() as s:
        attempt = s.scalar(select(InstallAttempt))
        assert attempt.domain == store.url and attempt.token_hash != query["user_id"]
        assert timedelta(minutes=14) < attempt.expires_at - attempt.created_at <= WOOCOMMERCE_TTL


def test_connect_then_callback_stores_keys_and_creates_active_webhooks(browser, store, pg_db):
    answer, body = deliver(browser, store, start_connect(browser, store.url))

    assert answer.status_code == 200  # exactly what WooCommerce requires to keep the key
    assert store.keys[0]["kept"] is True
    [shop] = shops(pg_db)
    assert (shop.platform, shop.domain, shop.install_state, shop.currency) == ("woocommerce", store.url,
                                                                                "installed", "EUR")
    credentials = shop.credentials
    assert credentials["consumer_key"] == body["consumer_key"]
    assert credentials["consumer_secret"] == body["consumer_secret"]
    assert len(credentials["webhook_secret"]) >= 32
    with pg_db.session() as s:
        raw = s.execute(text("SELECT credentials FROM shops")).scalar_one()
    assert body["consumer_secret"] not in raw and credentials["webhook_secret"] not in raw

    assert sorted(store.active()) == sorted(TOPICS)
    assert set(store.active().values()) == {"active"}
    assert {h["delivery_url"] for h in store.webhooks.values()} == {f"{APP_URL}/webhooks/woocommerce/{shop.id}"}
    assert set(store.webhook_secrets.values()) == {credentials["webhook_secret"]}

    # A delivery the store signs with that secret is accepted by the receiver.
    payload = json.dumps({"id": 5, "email": "ada@example.test", "first_name": "Ada", "last_name": "Lovelace",
                          "date_created_gmt": "2026-11-23T17:50:49", "date_modified_gmt": "2026-11-23T17:50:49"})
    delivery = browser.post(f"/webhooks/woocommerce/{shop.id}", data=payload, base_url=APP_URL, headers={
        "Content-Type": "application/json", "X-WC-Webhook-Topic": "customer.created",
        "X-WC-Webhook-Signature": sign(payload.encode(), credentials["webhook_secret"]),
        "X-WC-Webhook-Delivery-ID": "d1", "X-WC-Webhook-Source": store.url + "/"})
    assert delivery.status_code == 200


def test_a_replayed_or_unknown_callback_is_refused(browser, store, pg_db):
    answer, body = deliver(browser, store, start_connect(browser, store.url))
    assert answer.status_code == 200
    before = shops(pg_db)[0].credentials

    replay = browser.post("/woocommerce/callback", json={**body, "consumer_key": "ck_" + "a" * 40,
                                                         "consumer_secret": "cs_" + "b" * 40}, base_url=APP_URL)
    assert replay.status_code == 403 and replay.get_json()["error"]["code"] == "invalid_connect_attempt"
    unknown = browser.post("/woocommerce/callback", json={**body, "user_id": "never-issued"}, base_url=APP_URL)
    assert unknown.status_code == 403
    assert shops(pg_db)[0].credentials == before and len(shops(pg_db)) == 1


def test_a_callback_after_the_attempt_expired_is_refused(browser, store, pg_db):
    started = start_connect(browser, store.url)
    with freeze_time(datetime.now(UTC) + WOOCOMMERCE_TTL + timedelta(seconds=1)):
        answer, _ = deliver(browser, store, started)
    assert answer.status_code == 403 and shops(pg_db) == []
    assert store.keys[0]["kept"] is False and store.webhooks == {}


@pytest.mark.parametrize("permissions", ["read", "write"])
def test_a_key_without_read_write_is_refused_clearly(browser, store, pg_db, permissions):
    answer, _ = deliver(browser, store, start_connect(browser, store.url), permissions=permissions)
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["code"] == "insufficient_permissions" and "read_write" in error["message"]
    assert shops(pg_db) == [] and store.keys[0]["kept"] is False and store.webhooks == {}


@pytest.mark.parametrize("body", [
    {}, {"key_id": 1, "user_id": "x", "consumer_key": "nope", "consumer_secret": "cs_abcdefgh12",
         "key_permissions": "read_write"},
    ["not", "an", "object"],
])
def test_a_malformed_callback_is_a_clear_422(browser, pg_db, body):
    answer = browser.post("/woocommerce/callback", json=body, base_url=APP_URL)
    assert answer.status_code == 422 and answer.get_json()["error"]["code"] == "invalid"
    assert shops(pg_db) == []


def test_reconnect_keeps_the_shop_balances_secret_and_webhooks(browser, store, pg_db, factory):
    shop = connected(browser, store, pg_db)
    customer = factory.customer(shop)
    factory.points(shop, customer, 120)
    secret = shop.credentials["webhook_secret"]
    store.webhook_secrets[1] = "a-secret-someone-changed"

    again = connected(browser, store, pg_db)

    assert again.id == shop.id and len(shops(pg_db)) == 1
    assert again.credentials["consumer_key"] == store.consumer_key != shop.credentials["consumer_key"]
    assert again.credentials["webhook_secret"] == secret
    assert len(store.webhooks) == len(TOPICS) and set(store.webhook_secrets.values()) == {secret}
    with pg_db.session() as s:
        assert s.get(Customer, customer.id).points_balance == 120


# -- re-activating disabled webhooks (cron) -------------------------------------------------------


@pytest.fixture
def rq(redis_url, woo_app):
    queues.configure(redis_url)
    client = Redis.from_url(redis_url)
    yield client
    client.close()
    queues.configure(None)


def work(redis) -> None:
    SimpleWorker([Queue(n, connection=redis) for n in queues.QUEUES], connection=redis).work(burst=True)


def test_the_cron_job_reactivates_a_disabled_webhook_and_reconciles_the_gap(browser, store, pg_db, rq):
    shop = connected(browser, store, pg_db)
    assert shop.install_state == "connecting" and store.webhooks == {}  # the set-up job is queued
    work(rq)
    assert shops(pg_db)[0].install_state == "installed" and len(store.webhooks) == len(TOPICS)
    order_hook = next(h["id"] for h in store.webhooks.values() if h["topic"] == "order.updated")
    store.disable(order_hook)  # after more than 5 failed deliveries
    store.disable(next(h["id"] for h in store.webhooks.values() if h["topic"] == "customer.created"), "paused")
    assert shops(pg_db)[0].last_synced_at is None

    assert check_woocommerce_webhooks() == {"queued": 1}
    assert Queue("low", connection=rq).count == 1
    work(rq)

    assert set(store.active().values()) == {"active"} and len(store.webhooks) == len(TOPICS)
    puts = [r for r in store.requests if r["method"] == "PUT"]
    assert sorted(r["json"]["status"] for r in puts) == ["active", "active"]
    assert shops(pg_db)[0].last_synced_at is not None  # the reconciliation ran
    assert any(r["path"] == "/wp-json/wc/v3/orders" for r in store.requests)


def test_the_cron_job_changes_nothing_when_all_webhooks_are_active(browser, store, pg_db, rq):
    connected(browser, store, pg_db)
    work(rq)
    writes = len([r for r in store.requests if r["method"] in ("POST", "PUT")])
    check_woocommerce_webhooks()
    work(rq)
    assert len([r for r in store.requests if r["method"] in ("POST", "PUT")]) == writes
    assert shops(pg_db)[0].last_synced_at is None  # no reconciliation queued


def test_the_check_recreates_a_deleted_webhook(browser, store, pg_db, woo_app):
    shop = connected(browser, store, pg_db)
    deleted = next(i for i, h in store.webhooks.items() if h["topic"] == "customer.updated")
    del store.webhooks[deleted]
    result = ensure_woocommerce_webhooks(shop.id)
    assert result["created"] == ["customer.updated"] and result["reconcile_queued"] is False
    assert sorted(store.active()) == sorted(TOPICS)


def test_a_failed_setup_still_answers_200_and_the_check_finishes_it(browser, store, pg_db, woo_app):
    store.fail_next(times=2, status=403)  # a firewall refuses the REST API right after approving
    answer, _ = deliver(browser, store, start_connect(browser, store.url))
    assert answer.status_code == 200 and store.keys[0]["kept"] is True
    [shop] = shops(pg_db)
    assert shop.install_state == "connecting" and store.webhooks == {}

    ensure_woocommerce_webhooks(shop.id)
    assert shops(pg_db)[0].install_state == "installed" and set(store.active().values()) == {"active"}


# -- bad input is a clear 4xx, never a 500 ---------------------------------------------------------

_junk = st.one_of(st.text(max_size=300), st.sampled_from([
    "https://[::1", "https://ü.example", "https://shop.example.com:0", "http://", "//shop.example.com",
    "https://shop.example.com/" + "x" * 300, "\x00", "https://shop.example.com/\x00", "javascript:alert(1)"]))


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(store_url=_junk)
def test_property_any_store_url_is_a_redirect_or_a_clear_400(browser, store_url):
    answer = start_connect(browser, store_url)
    assert answer.status_code in (302, 400), (store_url, answer.status_code)
    if answer.status_code == 400:
        assert answer.get_json()["error"]["code"] == "invalid_store_url"


_json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner,
                                                                                         max_size=3), max_leaves=8)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(_json_values, st.fixed_dictionaries({
    "key_id": st.one_of(st.integers(), st.text(max_size=5)), "user_id": st.text(max_size=250),
    "consumer_key": st.one_of(st.just("ck_" + "a" * 40), st.text(max_size=20)),
    "consumer_secret": st.one_of(st.just("cs_" + "b" * 40), st.text(max_size=20)),
    "key_permissions": st.one_of(st.sampled_from(["read", "write", "read_write"]), st.text(max_size=30))})))
def test_property_any_callback_body_without_a_live_attempt_is_refused_as_json(browser, pg_db, body):
    answer = browser.post("/woocommerce/callback", json=body, base_url=APP_URL)
    assert answer.status_code in (403, 422), (body, answer.status_code)
    assert isinstance(answer.get_json()["error"]["code"], str)
    assert shops(pg_db) == []
