"""Unsubscribe links: a signed token naming the shop and the customer.

Signed with `SECRET_KEY` (itsdangerous, its own salt), so a link works without logging in
and cannot be forged or pointed at another shopper. It does not expire: an old mail's link
must still work (RFC 8058 one-click). Unsubscribing sets `customer.unsubscribed_at`; every
later `queue_mail` and any mail still queued for that customer is suppressed.
"""

from __future__ import annotations

from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer

_SALT = "loyalty-mail-unsubscribe"


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=_SALT)


def make_token(secret_key: str, shop_id: int, customer_id: int) -> str:
    return _serializer(secret_key).dumps([shop_id, customer_id])


def read_token(secret_key: str, token: str) -> tuple[int, int] | None:
    """(shop_id, customer_id), or None for a token we did not sign."""
    if not token or len(token) > 512:
        return None
    try:
        value = _serializer(secret_key).loads(token)
    except BadSignature:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return None
    return value[0], value[1]


def unsubscribe_url(app_url: str, token: str) -> str:
    return f"{app_url.rstrip('/')}/unsubscribe/{token}"


def list_unsubscribe_headers(app_url: str, mail_from: str, token: str) -> dict[str, str]:
    """RFC 2369 + RFC 8058 headers: mail clients show an unsubscribe button that POSTs
    `List-Unsubscribe=One-Click` to the https link."""
    mailto = f"mailto:{mail_from}?subject={quote('unsubscribe ' + token)}"
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(app_url, token)}>, <{mailto}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
