"""The WooCommerce companion plugin signs shoppers in PHP; our API verifies in Python. These
tests run the plugin's own PHP (Debian's php-cli) and check the result with
`widgets.identity`, so the two implementations can never drift apart."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from widgets.identity import StorefrontAuthError, sign_storefront, verify_storefront_headers

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "widgets" / "woocommerce" / "loyalty-loop"
SIGNING = PLUGIN / "includes" / "signing.php"
STUBS = Path(__file__).resolve().parent / "wp_stubs.php"
PHP = shutil.which("php")

if PHP is None:
    if os.environ.get("CI"):
        raise RuntimeError("php (Debian's php-cli) is required in CI for the WooCommerce plugin tests")
    pytest.skip("php is not installed (apt-get install php-cli)", allow_module_level=True)


def php(code: str, **env: str) -> str:
    result = subprocess.run(
        [PHP, "-d", "display_errors=stderr", "-r", code],
        capture_output=True, text=True, timeout=30, env={**os.environ, **env},
    )
    assert result.returncode == 0 and not result.stderr, result.stderr
    return result.stdout


def php_sign(shop_id, customer, timestamp, secret) -> str:
    # Values travel as environment variables: byte for byte, whatever they contain.
    return php(
        f"require {json.dumps(str(SIGNING))};"
        " echo loyalty_loop_sign(getenv('S'), getenv('C'), getenv('T'), getenv('K'));",
        S=str(shop_id), C=str(customer), T=str(timestamp), K=str(secret),
    )


def headers_from(shop_id, customer, timestamp, signature) -> dict[str, str]:
    out = {"X-Loyalty-Shop": str(shop_id), "X-Loyalty-Timestamp": str(timestamp), "X-Loyalty-Signature": signature}
    if customer:
        out["X-Loyalty-Customer"] = str(customer)
    return out


def verify(headers, shop_id, secret, now=None):
    return verify_storefront_headers(
        headers,
        lambda sid: ("shop", [secret]) if sid == shop_id else None,
        now or datetime.now(UTC),
    )


# -- the PHP files ---------------------------------------------------------------------------------


def test_every_php_file_passes_php_lint():
    files = sorted(PLUGIN.rglob("*.php")) + [STUBS]
    assert len(files) >= 4, files
    for path in files:
        result = subprocess.run([PHP, "-l", str(path)], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, (path, result.stdout, result.stderr)


def test_the_plugin_has_a_wordpress_header():
    head = (PLUGIN / "loyalty-loop.php").read_text()[:1500]
    assert "Plugin Name:" in head and "Version:" in head


# -- signing ---------------------------------------------------------------------------------------


def test_php_signs_the_documented_example():
    # docs/storefront-api.md, "Worked example"
    assert php_sign(12, 4711, 1700000000, "s3cret") == sign_storefront(12, "4711", 1700000000, "s3cret")
    assert php_sign(12, 4711, 1700000000, "s3cret") == (
        "4511590c7fd9dcdf66635dd614fb032ff0e3d112dbef362ed5254b42dddcbade"
    )


@pytest.mark.parametrize("customer", ["4711", "1", "98765432101234", ""])
@pytest.mark.parametrize("secret", ["s3cret", "wsec_" + "x" * 40, "ünïcødé-sécret"])
def test_python_accepts_what_php_signs(customer, secret):
    now = int(datetime.now(UTC).timestamp())
    signature = php_sign(31, customer, now, secret)
    identity = verify(headers_from(31, customer, now, signature), 31, secret)
    assert identity.shop_id == 31
    assert identity.customer_platform_id == (customer or None)


def test_a_guest_is_signed_with_an_empty_customer():
    now = int(datetime.now(UTC).timestamp())
    assert php_sign(5, "", now, "k") == php_sign(5, "0", now, "k") == sign_storefront(5, None, now, "k")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h: h | {"X-Loyalty-Customer": "4712"},
        lambda h: h | {"X-Loyalty-Shop": "32"},
        lambda h: h | {"X-Loyalty-Timestamp": str(int(h["X-Loyalty-Timestamp"]) + 1)},
        lambda h: {k: v for k, v in h.items() if k != "X-Loyalty-Customer"},  # member → guest
        lambda h: h | {"X-Loyalty-Signature": h["X-Loyalty-Signature"][:-1] + ("0" if h["X-Loyalty-Signature"][-1] != "0" else "1")},
    ],
)
def test_a_tampered_value_is_rejected(tamper):
    now = int(datetime.now(UTC).timestamp())
    good = headers_from(31, "4711", now, php_sign(31, "4711", now, "s3cret"))
    verify(good, 31, "s3cret")  # the untouched headers pass
    with pytest.raises(StorefrontAuthError):
        lookup_ids = {31, 32}
        verify_storefront_headers(
            tamper(good),
            lambda sid: ("shop", ["s3cret" if sid == 31 else "other"]) if sid in lookup_ids else None,
            datetime.now(UTC),
        )


def test_another_shops_secret_is_rejected():
    now = int(datetime.now(UTC).timestamp())
    headers = headers_from(31, "4711", now, php_sign(31, "4711", now, "not-the-shops-secret"))
    with pytest.raises(StorefrontAuthError):
        verify(headers, 31, "s3cret")


# -- the plugin as WordPress runs it ---------------------------------------------------------------


class ScriptTags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.tags.append(dict(attrs))


def run_plugin(settings: dict, user_id: int, locale: str = "en_US") -> dict:
    """Load the plugin with the stubs, run `wp_enqueue_scripts`, then WordPress's
    `script_loader_tag` filter for what was enqueued; answer what it printed."""
    code = f"""
        require {json.dumps(str(STUBS))};
        require {json.dumps(str(PLUGIN / 'loyalty-loop.php'))};
        ll_do_action('wp_enqueue_scripts');
        $tags = array();
        foreach ($GLOBALS['ll']['enqueued'] as $handle => $src) {{
            $default = "<script src='" . $src . "' id='" . $handle . "-js'></script>\\n";
            $tags[] = ll_apply_filters('script_loader_tag', $default, $handle, $src);
        }}
        echo json_encode(array('enqueued' => $GLOBALS['ll']['enqueued'], 'tags' => $tags));
    """
    return json.loads(php(code, LL_SETTINGS=json.dumps(settings), LL_USER_ID=str(user_id), LL_LOCALE=locale))


def the_tag(out: dict) -> dict[str, str | None]:
    assert len(out["tags"]) == 1, out
    parser = ScriptTags()
    parser.feed(out["tags"][0])
    assert len(parser.tags) == 1, out["tags"]
    return parser.tags[0]


@pytest.fixture
def woo_shop(factory):
    return factory.shop("woocommerce")


def plugin_settings(shop, api_url="https://loyalty.example.com/"):
    return {"api_url": api_url, "shop_id": str(shop.id), "widget_secret": shop.widget_secret_value()}


def test_the_printed_tag_opens_the_shoppers_own_points(client, factory, woo_shop):
    member = factory.customer(woo_shop, platform_id="42")
    factory.points(woo_shop, member, 275)

    tag = the_tag(run_plugin(plugin_settings(woo_shop), user_id=42, locale="nb_NO"))
    assert "async" in tag and tag["src"] == "https://loyalty.example.com/widget/loyalty.js"
    assert tag["data-api"] == "https://loyalty.example.com" and tag["data-platform"] == "woocommerce"
    assert tag["data-shop"] == str(woo_shop.id) and tag["data-customer"] == "42"
    assert tag["data-lang"] == "nb"
    assert "{code}" in tag["data-apply-url"] and "_wpnonce=" in tag["data-apply-url"]
    assert tag["data-identity-url"].endswith("/wp-json/loyalty-loop/v1/identity")
    assert tag["data-identity-nonce"]  # sent back as X-WP-Nonce so WordPress knows the user
    assert woo_shop.widget_secret_value() not in json.dumps(tag)  # the secret stays on the server

    headers = headers_from(tag["data-shop"], tag["data-customer"], tag["data-timestamp"], tag["data-signature"])
    me = client.get("/storefront/v1/me", headers=headers)
    assert me.status_code == 200, me.get_json()
    assert (me.get_json()["guest"], me.get_json()["points_balance"]) == (False, 275)

    forged = headers | {"X-Loyalty-Customer": "43"}  # another shopper's id with 42's signature
    assert client.get("/storefront/v1/me", headers=forged).status_code == 401


def test_a_guest_page_gets_a_guest_identity(client, woo_shop):
    tag = the_tag(run_plugin(plugin_settings(woo_shop), user_id=0))
    assert tag["data-customer"] == "" and tag["data-lang"] == "en"
    headers = headers_from(tag["data-shop"], None, tag["data-timestamp"], tag["data-signature"])
    me = client.get("/storefront/v1/me", headers=headers).get_json()
    assert me["guest"] is True and me["points_balance"] is None


@pytest.mark.parametrize(
    "broken",
    [
        {"widget_secret": ""},
        {"shop_id": "abc"},
        {"shop_id": "0"},
        {"api_url": "javascript:alert(1)"},
        {"api_url": ""},
    ],
)
def test_incomplete_settings_print_nothing(broken):
    settings = {"api_url": "https://loyalty.example.com", "shop_id": "7", "widget_secret": "k"} | broken
    out = run_plugin(settings, user_id=42)
    assert out["enqueued"] == [] and out["tags"] == []


def test_values_are_html_escaped():
    code = f"""
        require {json.dumps(str(SIGNING))};
        echo loyalty_loop_script_tag('https://x.example/w.js?a=1&b=2', array(
            'data-apply-url' => 'https://s.example/?x="><script>alert(1)</script>',
            'onload' => 'alert(1)',
        ));
    """
    html = php(code)
    assert "<script>alert" not in html and "onload" not in html
    assert "&quot;&gt;&lt;script&gt;" in html and "a=1&amp;b=2" in html


# -- applying a code to the cart -------------------------------------------------------------------


def run_apply(query: dict[str, str]) -> dict:
    code = f"""
        require {json.dumps(str(STUBS))};
        require {json.dumps(str(PLUGIN / 'loyalty-loop.php'))};
        $_GET = json_decode({json.dumps(json.dumps(query))}, true);
        ll_do_action('template_redirect');
        echo json_encode($GLOBALS['ll']);
    """
    out = php(code, LL_SETTINGS=json.dumps({}), LL_USER_ID="0")
    # wp_safe_redirect prints the state, then the plugin exits.
    return json.loads(out.splitlines()[0] if "\n" in out else out)


def test_the_apply_link_puts_the_code_in_the_cart_and_shows_the_cart():
    nonce = php("require " + json.dumps(str(STUBS)) + "; echo wp_create_nonce('loyalty_loop_apply');")
    state = run_apply({"loyalty_loop_apply": " LOOP-ABC123 ", "_wpnonce": nonce})
    assert state["coupons"] == ["LOOP-ABC123"]
    assert state["redirect"] == "https://shop.example/cart/"


def test_the_apply_link_without_a_valid_nonce_applies_nothing():
    state = run_apply({"loyalty_loop_apply": "LOOP-ABC123", "_wpnonce": "forged"})
    assert state["coupons"] == []
    assert state["notices"] and state["notices"][0][0] == "error"
    assert state["redirect"] == "https://shop.example/cart/"


def test_pages_without_the_apply_parameter_are_left_alone():
    state = run_apply({"p": "12"})
    assert state["redirect"] is None and state["coupons"] == []
