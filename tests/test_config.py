"""Settings from the environment: strict parsing, the documented defaults, and a
production start that refuses development secrets."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from app.config import (
    DEFAULT_SHOPIFY_API_VERSION,
    DEV_ENCRYPTION_KEY,
    DEV_SECRET_KEY,
    DEV_SHOPIFY_API_KEY,
    DEV_SHOPIFY_API_SECRET,
    INSTANCE_DIR,
    ConfigError,
    Settings,
)

PRODUCTION = {
    "APP_ENV": "production",
    "DATABASE_URL": "postgresql+psycopg://loyalty@db.internal/loyalty",
    "SECRET_KEY": "s" * 48,
    "ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "SHOPIFY_API_KEY": "prod-api-key",
    "SHOPIFY_API_SECRET": "prod-api-secret",
}


def test_every_contract_variable_has_its_documented_default():
    s = Settings.from_env({})
    assert s.database_url == f"sqlite:///{INSTANCE_DIR / 'loyalty.db'}"
    assert s.redis_url is None and s.jobs_inline
    assert s.secret_key == DEV_SECRET_KEY
    assert s.encryption_keys == (DEV_ENCRYPTION_KEY,)
    assert s.app_url == "http://127.0.0.1:5000"
    assert (s.shopify_api_key, s.shopify_api_secret) == (DEV_SHOPIFY_API_KEY, DEV_SHOPIFY_API_SECRET)
    assert s.shopify_api_version == DEFAULT_SHOPIFY_API_VERSION
    assert s.shopify_shop_origin == "https://{shop}"
    assert s.smtp_url is None
    assert s.mail_from == "rewards@localhost"
    assert s.allow_http_stores is False
    assert s.app_env == "development" and not s.is_production


def test_values_from_the_environment_are_used():
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    s = Settings.from_env({
        "DATABASE_URL": "postgresql://u@h/db",
        "REDIS_URL": "redis://127.0.0.1:6379/2",
        "ENCRYPTION_KEY": f" {key_a} , {key_b} ",
        "APP_URL": "https://loyalty.example/",
        "SHOPIFY_API_VERSION": "2025-07",
        "SHOPIFY_SHOP_ORIGIN": "http://127.0.0.1:8123/{shop}",
        "SMTP_URL": "smtps://user:pass@mail.example:465",
        "MAIL_FROM": "points@shop.example",
        "ALLOW_HTTP_STORES": "1",
    })
    assert s.database_url == "postgresql://u@h/db"
    assert s.redis_url == "redis://127.0.0.1:6379/2" and not s.jobs_inline
    assert s.encryption_keys == (key_a, key_b)
    assert s.app_url == "https://loyalty.example"
    assert s.shopify_api_version == "2025-07"
    assert s.shopify_shop_origin == "http://127.0.0.1:8123/{shop}"
    assert s.smtp_url == "smtps://user:pass@mail.example:465"
    assert s.mail_from == "points@shop.example"
    assert s.allow_http_stores is True


@pytest.mark.parametrize("raw, expected", [
    ("1", True), ("true", True), ("Yes", True), ("on", True),
    ("0", False), ("false", False), ("NO", False), ("off", False), ("", False),
])
def test_booleans_accept_the_usual_spellings(raw, expected):
    assert Settings.from_env({"ALLOW_HTTP_STORES": raw}).allow_http_stores is expected


@pytest.mark.parametrize("name, raw", [
    ("ALLOW_HTTP_STORES", "maybe"),
    ("ALLOW_HTTP_STORES", "2"),
    ("WEBHOOK_MAX_BYTES", "lots"),
    ("WEBHOOK_MAX_BYTES", "1.5"),
    ("WEBHOOK_MAX_BYTES", "10"),  # below the minimum
    ("DATABASE_URL", "mysql://u@h/db"),
    ("DATABASE_URL", "not a url"),
    ("REDIS_URL", "http://127.0.0.1:6379"),
    ("APP_URL", "ftp://example.com"),
    ("SMTP_URL", "127.0.0.1:25"),
    ("ENCRYPTION_KEY", "not-a-fernet-key"),
    ("ENCRYPTION_KEY", " , "),
    ("APP_ENV", "staging"),
    ("LOG_LEVEL", "LOUD"),
    ("SHOPIFY_SHOP_ORIGIN", "https://example.com"),
])
def test_a_malformed_value_is_an_error_naming_the_variable(name, raw):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: raw})


def test_a_malformed_secret_is_not_echoed_in_the_error():
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"ENCRYPTION_KEY": "super-secret-but-malformed"})
    assert "super-secret-but-malformed" not in str(raised.value)


def test_production_accepts_proper_values():
    s = Settings.from_env(PRODUCTION)
    assert s.is_production and s.secret_key == "s" * 48


@pytest.mark.parametrize("unset, named", [
    ("SECRET_KEY", "SECRET_KEY"),
    ("ENCRYPTION_KEY", "ENCRYPTION_KEY"),
    ("SHOPIFY_API_SECRET", "SHOPIFY_API_SECRET"),
    ("SHOPIFY_API_KEY", "SHOPIFY_API_KEY"),
])
def test_production_refuses_a_development_default(unset, named):
    env = {k: v for k, v in PRODUCTION.items() if k != unset}
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


@pytest.mark.parametrize("name, value", [
    ("SECRET_KEY", DEV_SECRET_KEY),
    ("SECRET_KEY", "short"),
    ("ENCRYPTION_KEY", f"{Fernet.generate_key().decode()},{DEV_ENCRYPTION_KEY}"),
    ("SHOPIFY_API_SECRET", DEV_SHOPIFY_API_SECRET),
    ("ALLOW_HTTP_STORES", "1"),
])
def test_production_refuses_unsafe_explicit_values(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({**PRODUCTION, name: value})


def test_development_accepts_the_development_defaults():
    assert Settings.from_env({"APP_ENV": "development"}).secret_key == DEV_SECRET_KEY
    assert Settings.from_env({"APP_ENV": "test"}).secret_key == DEV_SECRET_KEY
