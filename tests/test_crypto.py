"""Platform credentials at rest: encrypted in the database, readable through key rotation,
and a clear error (not garbage, not the secret) when no configured key fits."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from app.config import Settings
from app.crypto import keyring
from app.models import Shop

ACCESS_TOKEN = "shpat_0123456789abcdef0123456789abcdef"


@pytest.fixture
def keys():
    """Three fresh keys; the process keyring is put back to the test keys afterwards."""
    yield tuple(Fernet.generate_key().decode() for _ in range(3))
    keyring.configure(Settings().encryption_keys)


def raw_credentials(db, shop_id: int) -> str:
    with db.session() as s:
        return s.execute(text("SELECT credentials FROM shops WHERE id = :id"), {"id": shop_id}).scalar_one()


def read_credentials(db, shop_id: int) -> dict:
    with db.session() as s:
        return s.get(Shop, shop_id).credentials


def test_credentials_are_stored_encrypted(pg_db, factory):
    shop = factory.shop("shopify", credentials={"access_token": ACCESS_TOKEN})
    raw = raw_credentials(pg_db, shop.id)
    assert ACCESS_TOKEN not in raw and "access_token" not in raw
    with pg_db.session() as s:
        widget_raw = s.execute(text("SELECT widget_secret FROM shops WHERE id = :id"),
                               {"id": shop.id}).scalar_one()
    assert shop.widget_secret_value() and shop.widget_secret_value() not in widget_raw
    assert read_credentials(pg_db, shop.id) == {"access_token": ACCESS_TOKEN}


def test_key_rotation_keeps_credentials_readable(pg_db, factory, keys):
    key_a, key_b, _ = keys
    keyring.configure((key_a,))
    shop = factory.shop("shopify", credentials={"access_token": ACCESS_TOKEN})
    written_with_a = raw_credentials(pg_db, shop.id)

    # The new key goes first; the old one still decrypts what is stored.
    keyring.configure((key_b, key_a))
    assert read_credentials(pg_db, shop.id) == {"access_token": ACCESS_TOKEN}

    # Re-encrypt every stored secret (both encrypted columns) with the first key.
    with pg_db.transaction() as s:
        rows = s.execute(text("SELECT id, credentials, widget_secret FROM shops")).all()
        for shop_id, credentials, widget_secret in rows:
            s.execute(text("UPDATE shops SET credentials = :c, widget_secret = :w WHERE id = :id"),
                      {"c": keyring.rotate(credentials), "w": keyring.rotate(widget_secret),
                       "id": shop_id})
    rotated = raw_credentials(pg_db, shop.id)
    assert rotated != written_with_a and ACCESS_TOKEN not in rotated

    # The old key can be retired.
    keyring.configure((key_b,))
    assert read_credentials(pg_db, shop.id) == {"access_token": ACCESS_TOKEN}
    assert Fernet(key_b.encode()).decrypt(rotated.encode())  # really under B now


def test_a_wrong_key_is_a_clear_error_that_does_not_leak(pg_db, factory, keys):
    key_a, _, key_c = keys
    keyring.configure((key_a,))
    shop = factory.shop("shopify", credentials={"access_token": ACCESS_TOKEN})

    keyring.configure((key_c,))
    with pytest.raises(RuntimeError, match="cannot be decrypted with any key in ENCRYPTION_KEY") as raised:
        read_credentials(pg_db, shop.id)
    assert ACCESS_TOKEN not in str(raised.value)
    assert key_a not in str(raised.value) and key_c not in str(raised.value)


def test_values_written_before_rotation_and_after_both_read(pg_db, factory, keys):
    key_a, key_b, _ = keys
    keyring.configure((key_a,))
    old = factory.shop("shopify", credentials={"access_token": "old-token"})
    keyring.configure((key_b, key_a))
    new = factory.shop("shopify", credentials={"access_token": "new-token"})
    assert Fernet(key_b.encode()).decrypt(raw_credentials(pg_db, new.id).encode())
    assert read_credentials(pg_db, old.id) == {"access_token": "old-token"}
    assert read_credentials(pg_db, new.id) == {"access_token": "new-token"}
