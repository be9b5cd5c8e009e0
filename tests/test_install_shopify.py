"""Installing the app on a Shopify shop: OAuth against a local fake that follows
shopify.dev (consent screen, authorization-code grant with expiring offline tokens,
webhookSubscriptionCreate), token refresh before expiry and on a 401, token exchange.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import pytest
from fakes.shopify_oauth import FakeShopifyOAuth
from freezegun import freeze_time
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from app.install.attempts import SHOPIFY_TTL, consume, start
from app.models import AuditEvent, Customer, InstallAttempt, Shop
from integrations.base import DiscountSpec, PlatformAuthError
from integrations.shopify import oauth
from integrations.shopify.client import ShopifyClient
from integrations.shopify.token_exchange import (
    ID_TOKEN_TYPE,
    OFFLINE_ACCESS_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
    exchange_session_token,
)
from integrations.shopify.webhook_subscriptions import TOPICS
from integrations.shopify.webhooks import sign as sign_webhook

SHOP, VERSION = "acme-outdoor.myshopify.com", "2025-10"
APP_URL = "https://loyalty.test"
SECRET = "shpss_install_test_secret_0123456789abcdef"
ALL_SCOPES = "read_orders,read_customers,write_discounts,write_app_proxy"


# -- Shopify's documented request-signature examples -----------------------------------------

# shopify.dev "Verify a request" (and the libraries quoting it): secret "hush".
DOC_WITH_STATE = ("code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf"
                  "&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173")
DOC_WITHOUT_STATE = ("code=0907a61c0c8d55e99db179b68161bc00&hmac=4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20"
                     "&shop=some-shop.myshopify.com&timestamp=1337178173")


@pytest.mark.parametrize("query", [DOC_WITH_STATE, DOC_WITHOUT_STATE])
def test_shopifys_documented_hmac_examples_verify(query):
    params = parse_qsl(query)
    assert oauth.verify_query(params, ["hush"])
    assert oauth.verify_query(list(reversed(params)), ["hush"])  # order as sent does not matter
    assert oauth.sign_query([p for p in params if p[0] != "hmac"], "hush") == dict(params)["hmac"]
    assert not oauth.verify_query(params, ["hushh"])
    assert oauth.verify_query(params, ["rotated-new-secret", "hush"])  # the previous secret still counts


def test_a_tampered_or_malformed_hmac_is_refused():
    params = dict(parse_qsl(DOC_WITH_STATE))
    assert not oauth.verify_query({**params, "shop": "other-shop.myshopify.com"}, ["hush"])
    assert not oauth.verify_query({**params, "hmac": params["hmac"][:-1]}, ["hush"])
    assert not oauth.verify_query({k: v for k, v in params.items() if k != "hmac"}, ["hush"])
    assert not oauth.verify_query([*params.items(), ("hmac", params["hmac"])], ["hush"])  # two hmacs
    assert not oauth.verify_query({**params, "hmac": "zz" * 32}, ["hush"])


_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)


@hypothesis_settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).filter(
    lambda k: k not in ("hmac", "signature")), _values, min_size=1, max_size=6), st.data())
def test_property_any_signed_query_verifies_and_any_change_breaks_it(params, data):
    signed = {**params, "hmac": oauth.sign_query(params, SECRET)}
    assert oauth.verify_query(signed, [SECRET])
    key = data.draw(st.sampled_from(sorted(params)))
    changed = data.draw(_values.filter(lambda v: v != params[key]))
    assert not oauth.verify_query({**signed, key: changed}, [SECRET])
    assert not oauth.verify_query(signed, ["another-secret"])


@given(st.sets(st.sampled_from(["read_orders", "write_orders", "read_customers", "write_customers",
                                "write_discounts", "read_discounts", "write_app_proxy"])))
def test_property_missing_scopes_counts_write_as_read(granted):
    missing = oauth.missing_scopes(granted)
    for scope in oauth.REQUIRED_SCOPES:
        held = scope in granted or (scope.startswith("read_") and "write_" + scope[5:] in granted)
        assert (scope in missing) is not held


@pytest.mark.parametrize("value", [
    "evil.com", "acme.myshopify.com.evil.com", "https://acme.myshopify.com", "acme.myshopify.com/admin",
    "acme.myshopify.com?x=1", "-acme.myshopify.com", "acme .myshopify.com", "", "a" * 80 + ".myshopify.com",
    "acme.myshopify.com:443", None, 42,
])
def test_only_plain_myshopify_domains_are_shops(value):
    assert oauth.normalize_shop(value) is None


def test_shop_domains_are_lowercased():
    assert oauth.normalize_shop("ACME-Outdoor.myshopify.com") == "acme-outdoor.myshopify.com"


# -- the OAuth install ------------------------------------------------------------------------


@pytest.fixture
def fake_shop():
    with FakeShopifyOAuth(shop=SHOP, api_version=VERSION, client_id="install-test-key",
                          client_secret=SECRET) as fake:
        yield fake


@pytest.fixture
def install_settings(settings, fake_shop):
    return settings.with_overrides(app_url=APP_URL, shopify_api_key="install-test-key", shopify_api_secret=SECRET,
                                   shopify_shop_origin=fake_shop.origin_template, shopify_api_version=VERSION)


@pytest.fixture
def install_app(install_settings, pg_db):
    from app import create_app

    flask_app = create_app(install_settings, db=pg_db)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def browser(install_app):
    return install_app.test_client()


def launch_params(shop: str = SHOP, secret: str = SECRET, **extra: str) -> dict[str, str]:
    """What Shopify appends to the app URL when a merchant installs from the admin."""
    params = {"shop": shop, "timestamp": str(int(time.time())), "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYWNtZQ",
              **extra}
    return {**params, "hmac": oauth.sign_query(params, secret)}


def start_install(browser, **extra):
    return browser.get("/shopify/install?" + urlencode(launch_params(**extra)), base_url=APP_URL)


def finish(browser, fake_shop, install_response, **approve):
    redirect_uri, params = fake_shop.approve(install_response.headers["Location"], **approve)
    assert redirect_uri == f"{APP_URL}/shopify/callback"
    return browser.get("/shopify/callback?" + urlencode(params), base_url=APP_URL), params


def shops(db) -> list[Shop]:
    with db.session() as s:
        return list(s.scalars(select(Shop)))


def test_install_happy_path_end_to_end(browser, fake_shop, pg_db):
    started = start_install(browser)
    assert started.status_code == 302
    location = urlsplit(started.headers["Location"])
    query = dict(parse_qsl(location.query))
    assert location.path == f"/{SHOP}/admin/oauth/authorize"
    assert query["client_id"] == "install-test-key"
    assert query["scope"] == ALL_SCOPES
    assert query["redirect_uri"] == f"{APP_URL}/shopify/callback"
    assert len(query["state"]) >= 32
    cookie = started.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie and "Path=/shopify" in cookie
    assert query["state"] not in cookie.split(";")[0]  # the cookie is signed, not the bare nonce
    with pg_db.session() as s:  # only the nonce's hash is stored
        assert s.scalar(select(InstallAttempt.token_hash)) != query["state"]

    done, _ = finish(browser, fake_shop, started)

    assert done.status_code == 302 and done.headers["Location"] == f"{APP_URL}/admin/"
    assert "shopify_oauth_state=;" in done.headers["Set-Cookie"]  # cleared
    [shop] = shops(pg_db)
    assert (shop.platform, shop.domain, shop.install_state) == ("shopify", SHOP, "installed")
    assert (shop.name, shop.currency, shop.timezone) == ("Acme Outdoor", "EUR", "Europe/Amsterdam")
    credentials = shop.credentials
    assert credentials["access_token"] == fake_shop.access_token
    assert credentials["refresh_token"] == fake_shop.refresh_token
    assert credentials["scope"] == ALL_SCOPES
    expires_at = datetime.fromisoformat(credentials["expires_at"])
    assert timedelta(minutes=59) < expires_at - datetime.now(UTC) <= timedelta(hours=1)
    assert [r["expiring"] for r in fake_shop.token_requests] == ["1"]
    with pg_db.session() as s:  # encrypted at rest
        raw = s.execute(text("SELECT credentials FROM shops")).scalar_one()
        assert fake_shop.access_token not in raw and fake_shop.refresh_token not in raw
        assert s.scalar(select(AuditEvent.action)) == "shop.installed"
    assert sorted(topic for topic, _ in fake_shop.subscriptions) == sorted(TOPICS)
    assert {address for _, address in fake_shop.subscriptions} == {f"{APP_URL}/webhooks/shopify"}
    assert shop.widget_secret_value()


def test_a_forged_hmac_is_refused_and_nothing_is_stored(browser, fake_shop, pg_db):
    forged = launch_params(secret="not-the-app-secret")
    answer = browser.get("/shopify/install?" + urlencode(forged), base_url=APP_URL)
    assert answer.status_code == 401 and answer.get_json()["error"]["code"] == "invalid_hmac"
    assert "Set-Cookie" not in answer.headers

    started = start_install(browser)
    _, params = fake_shop.approve(started.headers["Location"])
    for tampered in ({**params, "shop": "other-shop.myshopify.com"}, {**params, "hmac": "0" * 64},
                     {k: v for k, v in params.items() if k != "hmac"}):
        answer = browser.get("/shopify/callback?" + urlencode(tampered), base_url=APP_URL)
        assert answer.status_code == 401
    assert fake_shop.token_requests == [] and shops(pg_db) == []
    with pg_db.session() as s:
        assert s.scalar(select(func.count()).select_from(InstallAttempt).where(
            InstallAttempt.used_at.is_not(None))) == 0


@pytest.mark.parametrize("shop", ["evil.example.com", "acme.myshopify.com.evil.example", ""])
def test_a_shop_that_is_not_a_myshopify_domain_is_refused(browser, pg_db, shop):
    answer = browser.get("/shopify/install?" + urlencode(launch_params(shop=shop)), base_url=APP_URL)
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "invalid_shop"
    with pg_db.session() as s:
        assert s.scalar(select(func.count()).select_from(InstallAttempt)) == 0


def test_missing_wrong_or_replayed_state_is_refused(install_app, fake_shop, pg_db):
    browser = install_app.test_client()
    started = start_install(browser)
    _, params = fake_shop.approve(started.headers["Location"])

    stranger = install_app.test_client()  # another browser: no state cookie
    answer = stranger.get("/shopify/callback?" + urlencode(params), base_url=APP_URL)
    assert answer.status_code == 403 and answer.get_json()["error"]["code"] == "invalid_state"

    _, wrong = fake_shop.approve(started.headers["Location"], state="a-state-we-never-issued")
    assert browser.get("/shopify/callback?" + urlencode(wrong), base_url=APP_URL).status_code == 403

    browser.set_cookie("shopify_oauth_state", "tampered.cookie.value", domain="loyalty.test", path="/shopify")
    assert browser.get("/shopify/callback?" + urlencode(params), base_url=APP_URL).status_code == 403
    assert fake_shop.token_requests == [] and shops(pg_db) == []


def test_a_replayed_callback_is_refused(install_app, fake_shop, pg_db):
    browser = install_app.test_client()
    started = start_install(browser)
    cookie = browser.get_cookie("shopify_oauth_state", domain="loyalty.test", path="/shopify").value
    done, params = finish(browser, fake_shop, started)
    assert done.status_code == 302

    browser.set_cookie("shopify_oauth_state", cookie, domain="loyalty.test", path="/shopify")  # a captured cookie
    replay = browser.get("/shopify/callback?" + urlencode(params), base_url=APP_URL)
    assert replay.status_code == 403 and replay.get_json()["error"]["code"] == "invalid_state"
    assert len(fake_shop.token_requests) == 1 and len(shops(pg_db)) == 1


def test_a_stale_callback_is_refused(browser, fake_shop, pg_db):
    started = start_install(browser)
    _, params = fake_shop.approve(started.headers["Location"], timestamp=int(time.time()) - 6 * 60)
    answer = browser.get("/shopify/callback?" + urlencode(params), base_url=APP_URL)
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "stale_request"
    assert fake_shop.token_requests == [] and shops(pg_db) == []


def test_state_expires_with_its_cookie(browser, fake_shop, pg_db):
    started = start_install(browser)
    with freeze_time(datetime.now(UTC) + SHOPIFY_TTL + timedelta(seconds=5)):
        _, params = fake_shop.approve(started.headers["Location"], timestamp=int(time.time()))
        answer = browser.get("/shopify/callback?" + urlencode(params), base_url=APP_URL)
    assert answer.status_code == 403 and shops(pg_db) == []


def test_a_scope_mismatch_shows_a_clear_page_and_installs_nothing(browser, fake_shop, pg_db):
    started = start_install(browser)
    _, params = fake_shop.approve(started.headers["Location"], scope="read_orders,write_discounts")
    answer = browser.get("/shopify/callback?" + urlencode(params), base_url=APP_URL,
                         headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert answer.status_code == 403 and answer.mimetype == "text/html"
    page = answer.get_data(as_text=True)
    assert "read_customers" in page and "write_app_proxy" in page and "missing_scopes" in page
    assert shops(pg_db) == [] and fake_shop.subscriptions == {}


def test_a_scope_mismatch_answers_json_to_non_browsers(browser, fake_shop, pg_db):
    started = start_install(browser)
    _, params = fake_shop.approve(started.headers["Location"], scope="write_orders,write_customers")
    answer = browser.get("/shopify/callback?" + urlencode(params), base_url=APP_URL)
    assert answer.status_code == 403
    assert answer.get_json()["error"]["details"] == {"missing": ["write_discounts", "write_app_proxy"]}


def test_existing_subscriptions_count_as_done_and_other_user_errors_stop_the_install(browser, fake_shop, pg_db):
    fake_shop.subscriptions[("ORDERS_PAID", f"{APP_URL}/webhooks/shopify")] = "gid://shopify/WebhookSubscription/1"
    fake_shop.reject_subscriptions.append({"field": ["webhookSubscription", "callbackUrl"],
                                           "message": "Address is not allowed"})
    started = start_install(browser)
    answer, _ = finish(browser, fake_shop, started)
    assert answer.status_code == 502 and "Address is not allowed" in answer.get_json()["error"]["message"]
    assert shops(pg_db) == []

    again = start_install(browser)
    done, _ = finish(browser, fake_shop, again)
    assert done.status_code == 302
    assert len(fake_shop.subscriptions) == len(TOPICS) and len(shops(pg_db)) == 1


def uninstall_via_webhook(browser, shop_domain: str) -> None:
    """Shopify's app/uninstalled delivery, through the real receiver and processing."""
    body = json.dumps({"id": 548380009, "name": "Acme Outdoor", "domain": shop_domain}).encode()
    answer = browser.post("/webhooks/shopify", data=body, base_url=APP_URL, headers={
        "Content-Type": "application/json", "X-Shopify-Topic": "app/uninstalled",
        "X-Shopify-Hmac-Sha256": sign_webhook(body, SECRET), "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"})
    assert answer.status_code == 200


def test_reinstall_after_uninstall_keeps_programme_and_balances(browser, fake_shop, pg_db, factory):
    done, _ = finish(browser, fake_shop, start_install(browser))
    assert done.status_code == 302
    [shop] = shops(pg_db)
    with pg_db.transaction() as s:
        s.get(Shop, shop.id).program = {"points_per_unit": 3}
    customer = factory.customer(shop)
    factory.points(shop, customer, 250)
    first_token = shop.credentials["access_token"]

    uninstall_via_webhook(browser, SHOP)
    [gone] = shops(pg_db)
    assert gone.install_state == "uninstalled" and gone.uninstalled_at is not None

    done, _ = finish(browser, fake_shop, start_install(browser))
    assert done.status_code == 302
    [back] = shops(pg_db)
    assert back.id == shop.id and back.install_state == "installed" and back.uninstalled_at is None
    assert back.program == {"points_per_unit": 3}
    assert back.widget_secret_value() == shop.widget_secret_value()
    assert back.credentials["access_token"] == fake_shop.access_token != first_token
    with pg_db.session() as s:
        assert s.get(Customer, customer.id).points_balance == 250
        assert "shop.reinstalled" in s.scalars(select(AuditEvent.action)).all()


# -- tokens after the install ------------------------------------------------------------------


def installed(browser, fake_shop, pg_db) -> Shop:
    done, _ = finish(browser, fake_shop, start_install(browser))
    assert done.status_code == 302
    return shops(pg_db)[0]


def test_the_token_is_refreshed_before_it_expires(browser, fake_shop, pg_db, install_settings):
    shop = installed(browser, fake_shop, pg_db)
    issued = shop.credentials["access_token"]
    with freeze_time(datetime.now(UTC) + timedelta(minutes=30)):
        client = ShopifyClient.for_shop(shop, install_settings, db=pg_db)
    assert fake_shop.refreshes == [] and client._token == issued  # plenty of time left

    with freeze_time(datetime.now(UTC) + timedelta(minutes=57)):
        client = ShopifyClient.for_shop(shop, install_settings, db=pg_db)
        stored = shops(pg_db)[0].credentials
    assert [r["grant_type"] for r in fake_shop.refreshes] == ["refresh_token"]
    assert client._token == stored["access_token"] == fake_shop.access_token != issued
    assert datetime.fromisoformat(stored["expires_at"]) > datetime.fromisoformat(shop.credentials["expires_at"])
    assert client.execute("query { shop { name } }", {})["shop"]["name"] == "Acme Outdoor"

    # A second worker holding the old row does not spend the rotated refresh token again.
    with freeze_time(datetime.now(UTC) + timedelta(minutes=58)):
        again = ShopifyClient.for_shop(shop, install_settings, db=pg_db)
    assert len(fake_shop.refreshes) == 1 and again._token == fake_shop.access_token


def test_the_token_is_refreshed_on_a_401(browser, fake_shop, pg_db, install_settings):
    shop = installed(browser, fake_shop, pg_db)
    fake_shop.expire_token()  # revoked early: Shopify answers 401
    spec = DiscountSpec(code="LL-INSTALL01", title="Loyalty reward: 5 off", kind="fixed_amount", value=500,
                        currency="EUR", customer_platform_id="7001", customer_email="ada@example.test",
                        starts_at=datetime.now(UTC), ends_at=None, redemption_id=1)
    created = ShopifyClient.for_shop(shop, install_settings, db=pg_db, sleep=lambda s: None).create_discount(spec)
    assert created.platform_discount_id == fake_shop.discounts["LL-INSTALL01"]["id"]
    assert len(fake_shop.refreshes) == 1
    assert shops(pg_db)[0].credentials["access_token"] == fake_shop.access_token


def test_an_order_query_refused_with_401_refreshes_and_asks_again(browser, fake_shop, pg_db, install_settings):
    from fakes.shopify_admin import line, order_node

    shop = installed(browser, fake_shop, pg_db)
    fake_shop.put_order(order_node(1001, "2026-11-20T10:00:00Z", lines=[line("20.00")], currency="EUR"))
    fake_shop.expire_token()
    client = ShopifyClient.for_shop(shop, install_settings, db=pg_db, sleep=lambda s: None)
    orders = list(client.iter_orders_updated_since(datetime(2026, 11, 1, tzinfo=UTC)))
    assert [o.platform_order_id for o in orders] == ["1001"]
    assert len(fake_shop.refreshes) == 1
    assert [r["status"] for r in fake_shop.requests if "orders(" in r["query"]] == [401, 200]


# -- token exchange (embedded admin) ------------------------------------------------------------


def session_token(shop: str = SHOP, secret: str = SECRET, **claims) -> str:
    now = int(time.time())
    payload = {"iss": f"https://{shop}/admin", "dest": f"https://{shop}", "aud": "install-test-key",
               "sub": "42", "exp": now + 60, "nbf": now - 5, "iat": now - 5, "jti": "abc", "sid": "s1", **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def test_token_exchange_trades_a_session_token_for_an_expiring_offline_token(fake_shop, install_settings,
                                                                              install_app, pg_db):
    token = session_token()
    fake_shop.accept_session_token(token)
    grant = exchange_session_token(token, install_settings)  # verified by session_tokens
    assert grant.shop == SHOP and grant.credentials["access_token"] == fake_shop.access_token
    assert grant.credentials["refresh_token"] == fake_shop.refresh_token and "expires_at" in grant.credentials
    [sent] = fake_shop.token_requests
    assert sent == {"client_id": "install-test-key", "grant_type": TOKEN_EXCHANGE_GRANT,
                    "subject_token_type": ID_TOKEN_TYPE, "requested_token_type": OFFLINE_ACCESS_TOKEN_TYPE,
                    "expiring": "1"}
    assert fake_shop.access_token not in repr(grant)

    from app.install.shopify import finish_install

    with install_app.test_request_context():
        shop_id = finish_install(grant)
    [shop] = shops(pg_db)
    assert shop.id == shop_id and shop.credentials["access_token"] == fake_shop.access_token
    assert len(fake_shop.subscriptions) == len(TOPICS)


def test_the_embedded_install_uses_token_exchange(fake_shop, install_app, pg_db, factory):
    from app.errors import Unauthorized
    from app.install.shopify import install_from_session_token

    token = session_token()
    with install_app.test_request_context(), pytest.raises(Unauthorized):
        install_from_session_token(token)  # Shopify does not know it
    with install_app.test_request_context(), pytest.raises(Unauthorized):
        install_from_session_token(session_token(secret="another-apps-secret-0123456789abcdef"))
    assert shops(pg_db) == []

    fake_shop.accept_session_token(token)
    with install_app.test_request_context():
        shop_id = install_from_session_token(token)
    [shop] = shops(pg_db)
    assert shop.id == shop_id and shop.install_state == "installed"
    assert shop.credentials["refresh_token"] == fake_shop.refresh_token


def test_token_exchange_refuses_bad_session_tokens(fake_shop, install_settings):
    from integrations.shopify.session_tokens import SessionTokenInvalid

    for bad in (session_token(secret="another-apps-secret-0123456789abcdef"), session_token(aud="another-app"),
                session_token(exp=int(time.time()) - 60), session_token(dest="https://evil.example")):
        with pytest.raises(SessionTokenInvalid):
            exchange_session_token(bad, install_settings)
    with pytest.raises(PlatformAuthError):  # verified, but Shopify does not accept it
        exchange_session_token(session_token(), install_settings)
    rotated = install_settings.with_overrides(shopify_api_secret="a-new-secret-0123456789abcdefghij",
                                              shopify_previous_api_secret=SECRET)
    fake_shop.client_secret = rotated.shopify_api_secret  # Shopify knows the new secret
    token = session_token()  # signed with the previous secret, just before the rotation
    fake_shop.accept_session_token(token)
    assert exchange_session_token(token, rotated).shop == SHOP
    assert [r["grant_type"] for r in fake_shop.token_requests] == [TOKEN_EXCHANGE_GRANT] * 2


# -- one-time attempts ---------------------------------------------------------------------------


@hypothesis_settings(max_examples=15, deadline=None)
@given(st.lists(st.sampled_from(["genuine", "genuine-other-shop", "stranger", "late"]), min_size=1, max_size=6))
def test_property_an_install_token_is_accepted_at_most_once(pg_database, attempts_order):
    now = datetime.now(UTC)
    with pg_database.transaction() as s:
        s.execute(text("DELETE FROM install_attempts"))
        token = start(s, "shopify", SHOP, SHOPIFY_TTL, now=now)
    accepted = []
    for kind in attempts_order:
        with pg_database.transaction() as s:
            if kind == "genuine":
                found = consume(s, "shopify", token, domain=SHOP, now=now + timedelta(minutes=1))
            elif kind == "genuine-other-shop":
                found = consume(s, "shopify", token, domain="other.myshopify.com", now=now)
            elif kind == "stranger":
                found = consume(s, "shopify", token + "x", domain=SHOP, now=now)
            else:
                found = consume(s, "shopify", token, domain=SHOP, now=now + SHOPIFY_TTL)
            accepted.append(found is not None)
    expected_first = next((i for i, k in enumerate(attempts_order) if k == "genuine"), None)
    assert accepted == [i == expected_first for i in range(len(attempts_order))]
    with pg_database.transaction() as s:
        s.execute(text("DELETE FROM install_attempts"))


_junk = st.text(max_size=120) | st.sampled_from(["9" * 5000, "1e400", "-1", "\x00", "acme.myshopify.com"])


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/shopify/install", "/shopify/callback"]),
       params=st.dictionaries(st.sampled_from(["shop", "hmac", "timestamp", "state", "code", "host", "x"]), _junk,
                              max_size=6),
       signed=st.booleans())
def test_property_any_query_is_a_clear_4xx_and_installs_nothing(browser, pg_db, path, params, signed):
    if signed:  # correctly signed junk must still be refused on its content
        params = {**params, "hmac": oauth.sign_query({k: v for k, v in params.items() if k != "hmac"}, SECRET)}
    answer = browser.get(path + "?" + urlencode(params), base_url=APP_URL)
    if answer.status_code == 302:  # a signed, valid shop may start an install
        assert path == "/shopify/install"
        return
    assert 400 <= answer.status_code < 500, (params, answer.status_code)
    assert isinstance(answer.get_json()["error"]["code"], str)
    assert shops(pg_db) == []
