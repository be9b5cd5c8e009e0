"""Base64 HMAC-SHA256 over raw bytes: how both Shopify and WooCommerce sign webhooks."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence


def sign(body: bytes, secret: str) -> str:
    """The header value a platform would send for `body` signed with `secret`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(body: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """True iff `header` is the signature of `body` under one of `secrets`.

    Anything malformed (missing, not base64, wrong length) is simply False: a bad
    signature must end in the one 401, never in an exception.
    """
    if not isinstance(header, str) or not header.strip():
        return False
    try:
        given = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(given) != hashlib.sha256().digest_size:
        return False
    matched = False
    for secret in secrets:
        if not secret:
            continue
        expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
        # No early exit: every configured secret costs the same time.
        matched |= hmac.compare_digest(expected, given)
    return matched
