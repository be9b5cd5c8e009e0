"""The widget script as storefronts get it: within its size budget, self-contained (no
third-party URLs), every string in the catalogue in every language, served with caching
headers and an ETag."""

from __future__ import annotations

import gzip
import json
import re
import string

import pytest
from widget_helpers import with_widget_routes

from widgets import assets

BUDGET_GZIP_BYTES = 20 * 1024


def test_script_and_styles_stay_within_20_kb_gzipped():
    built = assets.build_bundle()
    size = len(gzip.compress(built, compresslevel=9))
    assert size <= BUDGET_GZIP_BYTES, f"widget is {size} bytes gzipped; the budget is {BUDGET_GZIP_BYTES}"
    # The bundle really carries the styles and the catalogue, so the figure covers both.
    styles = json.dumps(assets.STYLES.read_text(encoding="utf-8"), ensure_ascii=False)
    assert styles in built.decode() and '"launcher":"Beloningen"' in built.decode()
    assert "__LOYALTY_MESSAGES__" not in built.decode() and "__LOYALTY_CSS__" not in built.decode()


def test_bundle_references_no_third_party_url():
    text = assets.build_bundle().decode("utf-8")
    urls = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s\"'`)]*", text, flags=re.I)
    assert urls == []
    for loader in ("import(", "importScripts", "document.write", "<script", "@import", "url("):
        assert loader not in text, loader


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_every_message_with_the_same_placeholders():
    catalogue = assets.load_messages()
    assert set(catalogue) == set(assets.LANGUAGES)
    english = catalogue["en"]
    for lang, messages in catalogue.items():
        assert set(messages) == set(english), f"{lang}: {set(messages) ^ set(english)}"
        for key, text in english.items():
            if isinstance(text, dict):  # plural forms
                assert set(messages[key]) >= {"one", "other"}, (lang, key)
                assert all("{n}" in form for form in messages[key].values()), (lang, key)
                continue
            assert messages[key].strip(), (lang, key)
            assert _placeholders(messages[key]) == _placeholders(text), (lang, key)
        if lang != "en":  # translated, not copied: most strings differ from English
            same = [k for k, v in messages.items() if v == english[k]]
            assert len(same) <= 3, (lang, same)


def test_every_message_the_script_uses_is_in_the_catalogue():
    source = assets.SCRIPT.read_text(encoding="utf-8")
    used = set(re.findall(r"\bt\(\"([a-z_]+)\"[,)]", source))
    used |= {f"kind_{k}" for k in ("earn_order", "earn_signup", "redeem", "reversal", "adjust", "expire")}
    used |= {f"value_{k}" for k in ("free_shipping", "free_product")}
    used |= {"status_pending", "status_voided", "points"}
    assert len(used) > 30
    assert used <= set(assets.load_messages()["en"]), used - set(assets.load_messages()["en"])


@pytest.fixture
def widget_client(app):
    return with_widget_routes(app).test_client()


def test_script_is_served_with_caching_headers_and_etag(widget_client):
    r = widget_client.get("/widget/loyalty.js")
    assert r.status_code == 200
    assert r.mimetype == "application/javascript"
    assert r.headers["Cache-Control"].startswith("public, max-age=")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.data == assets.build_bundle()
    etag = r.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)

    again = widget_client.get("/widget/loyalty.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag

    stale = widget_client.get("/widget/loyalty.js", headers={"If-None-Match": '"0123"'})
    assert stale.status_code == 200 and stale.data == r.data


def test_script_is_sent_gzipped_to_browsers_that_accept_it(widget_client):
    r = widget_client.get("/widget/loyalty.js", headers={"Accept-Encoding": "br, gzip"})
    assert r.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in r.headers["Vary"]
    assert len(r.data) <= BUDGET_GZIP_BYTES
    assert gzip.decompress(r.data) == assets.build_bundle()
    plain = widget_client.get("/widget/loyalty.js", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in plain.headers and plain.data == assets.build_bundle()


def test_script_route_is_in_the_api_reference(widget_client):
    spec = widget_client.get("/openapi.json").get_json()
    op = spec["paths"]["/widget/loyalty.js"]["get"]
    assert "application/javascript" in op["responses"]["200"]["content"]


def test_script_is_also_served_for_shopifys_app_proxy(widget_client):
    """The app embed loads /apps/loyalty/widget/loyalty.js, which Shopify forwards to
    /proxy/widget/loyalty.js with its own query parameters."""
    r = widget_client.get("/proxy/widget/loyalty.js?shop=x.myshopify.com&path_prefix=/apps/loyalty")
    assert r.status_code == 200 and r.data == assets.build_bundle()
    assert r.headers["ETag"] == widget_client.get("/widget/loyalty.js").headers["ETag"]
