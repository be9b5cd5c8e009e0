"""Webhook signatures: base64 HMAC-SHA256 over the raw body, checked in constant time.

Shopify documents the scheme at
https://shopify.dev/docs/apps/build/webhooks/verify-deliveries : "a base64-encoded HMAC
signature in the X-Shopify-Hmac-SHA256 header, generated using your app's client secret
and the raw request body", and "if you rotate your app's client secret, it can take up to
an hour for the HMAC digest to be generated using the new secret". That page (and
https://shopify.dev/docs/apps/build/webhooks/delivery-structure) gives no secret/body/digest
triple to check against, so the known answer below is RFC 4231's HMAC-SHA256 test case 2
(https://www.rfc-editor.org/rfc/rfc4231#section-4.3) in the header's base64 form, and the
WooCommerce half is checked against all 44 deliveries a real store signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from webhook_support import WOO_SECRET, woo_deliveries

from app.config import Settings
from integrations.shopify import webhooks as shopify
from integrations.woocommerce import webhooks as woocommerce

RFC4231_KEY = "Jefe"
RFC4231_DATA = b"what do ya want for nothing?"
RFC4231_HMAC_SHA256_HEX = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"

WEBHOOKS = [d for d in woo_deliveries() if d["kind"] == "webhook"]
PINGS = [d for d in woo_deliveries() if d["kind"] == "ping"]


def flip_one_byte(body: bytes, index: int) -> bytes:
    return body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1:]


@pytest.mark.parametrize("module", [shopify, woocommerce], ids=["shopify", "woocommerce"])
def test_known_answer_from_rfc4231(module):
    header = base64.b64encode(bytes.fromhex(RFC4231_HMAC_SHA256_HEX)).decode()
    assert module.sign(RFC4231_DATA, RFC4231_KEY) == header
    assert module.verify(RFC4231_DATA, header, [RFC4231_KEY])
    assert not module.verify(RFC4231_DATA, header, ["jefe"])


def test_shopify_header_is_base64_not_hex():
    body = b'{"id":820982911946154508}'
    hex_digest = hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert not shopify.verify(body, hex_digest, ["secret"])
    assert shopify.verify(body, shopify.sign(body, "secret"), ["secret"])


def test_shopify_signature_covers_the_raw_bytes_not_the_parsed_json():
    raw = b'{"note":"a\\/b","name":"Zo\\u00eb"}'
    header = shopify.sign(raw, "secret")
    reserialised = json.dumps(json.loads(raw)).encode()
    assert reserialised != raw
    assert shopify.verify(raw, header, ["secret"])
    assert not shopify.verify(reserialised, header, ["secret"])


def test_shopify_rotation_accepts_current_and_previous_secret_only():
    settings = Settings(shopify_api_secret="new-secret", shopify_previous_api_secret="old-secret")
    secrets = shopify.signing_secrets(settings)
    body = b'{"id":1}'
    assert shopify.verify(body, shopify.sign(body, "new-secret"), secrets)
    assert shopify.verify(body, shopify.sign(body, "old-secret"), secrets)
    assert not shopify.verify(body, shopify.sign(body, "someone-else"), secrets)
    without_previous = shopify.signing_secrets(Settings(shopify_api_secret="new-secret"))
    assert without_previous == ("new-secret",)
    assert not shopify.verify(body, shopify.sign(body, "old-secret"), without_previous)


@pytest.mark.parametrize("module", [shopify, woocommerce], ids=["shopify", "woocommerce"])
@pytest.mark.parametrize(
    "header",
    [None, "", "   ", "not base64!", "é" * 44, "AAAA", "sha256=abc", 12345, b"bytes"],
)
def test_malformed_headers_are_false_never_an_exception(module, header):
    body = b'{"id":1}'
    assert module.verify(body, header, ["secret"]) is False


@pytest.mark.parametrize("module", [shopify, woocommerce], ids=["shopify", "woocommerce"])
def test_a_digest_of_the_wrong_length_or_no_secret_fails(module):
    body = b'{"id":1}'
    good = module.sign(body, "secret")
    truncated = base64.b64encode(base64.b64decode(good)[:31]).decode()
    assert not module.verify(body, truncated, ["secret"])
    assert not module.verify(body, good, [])
    assert not module.verify(body, good, [""])


def test_all_44_captured_woocommerce_deliveries_verify():
    assert len(WEBHOOKS) == 44
    for delivery in WEBHOOKS:
        header = delivery["headers"]["X-WC-Webhook-Signature"]
        assert woocommerce.verify(delivery["body"], header, [WOO_SECRET]), delivery["seq"]
        assert woocommerce.sign(delivery["body"], WOO_SECRET) == header


def test_flipping_one_byte_of_any_captured_delivery_fails():
    for delivery in WEBHOOKS:
        body, header = delivery["body"], delivery["headers"]["X-WC-Webhook-Signature"]
        for index in (0, len(body) // 2, len(body) - 1):
            assert not woocommerce.verify(flip_one_byte(body, index), header, [WOO_SECRET])
        assert not woocommerce.verify(body, header, ["test-secret-124"])


def test_pings_are_recognised_and_deliveries_are_not():
    assert len(PINGS) == 8
    for ping in PINGS:
        assert woocommerce.is_ping(ping["headers"], ping["body"]), ping["seq"]
    for delivery in WEBHOOKS:
        assert not woocommerce.is_ping(delivery["headers"], delivery["body"])
    # A ping-shaped body that carries a WooCommerce header is not a ping.
    assert not woocommerce.is_ping({"X-WC-Webhook-Topic": "order.updated"}, b"webhook_id=2")
    assert not woocommerce.is_ping({}, b"webhook_id=two")


def test_delivery_keys_identify_each_captured_state_once():
    keys = {}
    for delivery in WEBHOOKS:
        topic = delivery["headers"]["X-WC-Webhook-Topic"]
        key = woocommerce.delivery_key(topic, json.loads(delivery["body"]), delivery["body"])
        keys[delivery["seq"]] = key
    assert len(set(keys.values())) == 44
    # Seqs 51 and 52 share an X-WC-Webhook-Delivery-ID but are different orders.
    assert WEBHOOKS[-1]["headers"]["X-WC-Webhook-Delivery-ID"] == \
        WEBHOOKS[-2]["headers"]["X-WC-Webhook-Delivery-ID"]
    assert keys[51] == "order.updated:19:2026-11-23T17:55:24"
    assert keys[52] == "order.updated:29:2026-11-23T17:55:24"
    assert keys[41] == "order.deleted:18"  # body is only {"id":18}


def test_delivery_key_without_dates_falls_back_to_the_body_hash():
    body = b'{"action":"woocommerce_checkout_order_processed","arg":31}'
    key = woocommerce.delivery_key("action.woocommerce_checkout_order_processed",
                                   json.loads(body), body)
    assert key == "action.woocommerce_checkout_order_processed:sha256:" + hashlib.sha256(body).hexdigest()
    assert woocommerce.delivery_key("order.updated", {"id": {"nested": 1}}, b"x").startswith(
        "order.updated:sha256:")
