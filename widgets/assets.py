"""The widget script, served from our own origin at `/widget/loyalty.js`.

The source stays readable and build-free: `static/loyalty.js` carries two tokens that
are replaced here by the message catalogue (`static/messages.json`) and the styles
(`static/loyalty.css`), so a storefront loads one file with one request. The bundle is
built once per process; the URL is not versioned, so browsers keep it for a short while
and then revalidate with the ETag (a 304 costs a few bytes).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Flask, Response, request

from app.openapi import api_route

STATIC = Path(__file__).resolve().parent / "static"
SCRIPT = STATIC / "loyalty.js"
STYLES = STATIC / "loyalty.css"
MESSAGES = STATIC / "messages.json"
LANGUAGES = ("en", "nl", "es", "nb")
# Five minutes fresh, then revalidated; a stale copy may be used for a day while that
# happens, so a slow revalidation never delays a storefront.
CACHE_CONTROL = "public, max-age=300, stale-while-revalidate=86400"

bp = Blueprint("widget_assets", __name__)


@dataclass(frozen=True)
class Bundle:
    text: bytes
    gzipped: bytes
    etag: str


def load_messages() -> dict[str, dict]:
    """The catalogue: one object per language, every language with the same keys."""
    return json.loads(MESSAGES.read_text(encoding="utf-8"))


def build_bundle() -> bytes:
    """The script as browsers get it: catalogue and styles in place of their tokens."""
    source = SCRIPT.read_text(encoding="utf-8")
    messages = json.dumps(load_messages(), ensure_ascii=False, separators=(",", ":"))
    styles = json.dumps(STYLES.read_text(encoding="utf-8"), ensure_ascii=False)
    for token in ("__LOYALTY_MESSAGES__", "__LOYALTY_CSS__"):
        if source.count(token) != 1:
            raise RuntimeError(f"{SCRIPT.name} must contain {token} exactly once")
    text = source.replace("__LOYALTY_MESSAGES__", messages).replace("__LOYALTY_CSS__", styles)
    return text.encode("utf-8")


@lru_cache(maxsize=1)
def bundle() -> Bundle:
    text = build_bundle()
    return Bundle(
        text=text,
        gzipped=gzip.compress(text, compresslevel=9, mtime=0),
        etag=hashlib.sha256(text).hexdigest()[:32],
    )


def _accepts_gzip() -> bool:
    return any(
        part.split(";")[0].strip().lower() == "gzip"
        and part.replace(" ", "").lower() not in ("gzip;q=0", "gzip;q=0.0")
        for part in request.headers.get("Accept-Encoding", "").split(",")
    )


@api_route(
    bp,
    "/widget/loyalty.js",
    methods=["GET"],
    tags=["widget"],
    content_type="application/javascript",
    responses={304: "not modified (If-None-Match matched the ETag)"},
)
@api_route(
    bp,
    "/proxy/widget/loyalty.js",
    methods=["GET"],
    tags=["widget"],
    content_type="application/javascript",
    responses={304: "not modified (If-None-Match matched the ETag)"},
    endpoint="widget_script_app_proxy",
)
def widget_script():
    """The storefront widget script (embed with <script async src=...>; see docs/widget.md)

    Also answered under /proxy/, so Shopify's app embed can load it through the app proxy
    (`/apps/loyalty/widget/loyalty.js` on the shop's own domain); it is the same public file
    there, so the proxy's signature is not needed."""
    current = bundle()
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": f'"{current.etag}"',
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if current.etag in request.if_none_match:
        return Response(status=304, headers=headers)
    if _accepts_gzip():
        body, headers["Content-Encoding"] = current.gzipped, "gzip"
    else:
        body = current.text
    return Response(body, status=200, headers=headers, mimetype="application/javascript",
                    content_type="application/javascript; charset=utf-8")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
