"""Settings, parsed once from the environment by strict helpers.

A value that does not parse is an error at start-up, never a silent default; a
production start with a development secret refuses to boot.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

DEV_SECRET_KEY = "dev-secret-key-change-me"
# A valid Fernet key that is public on purpose: only for development and tests.
DEV_ENCRYPTION_KEY = "ZGV2LWtleS1kZXYta2V5LWRldi1rZXktZGV2LWtleSE="
DEV_SHOPIFY_API_KEY = "dev-shopify-api-key"
DEV_SHOPIFY_API_SECRET = "dev-shopify-api-secret"
DEFAULT_SHOPIFY_API_VERSION = "2025-10"

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


class ConfigError(ValueError):
    """An environment variable is missing, malformed or unsafe."""


def parse_bool(name: str, raw: str | None, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {raw!r}")


def parse_int(name: str, raw: str | None, default: int, *, minimum: int | None = None) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def parse_choice(name: str, raw: str | None, default: str, choices: set[str]) -> str:
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {sorted(choices)}, got {raw!r}")
    return raw


def parse_url(name: str, raw: str | None, default: str | None, schemes: set[str]) -> str | None:
    if raw is None or raw == "":
        return default
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if scheme not in schemes:
        raise ConfigError(f"{name} must be a URL with scheme {sorted(schemes)}, got scheme {scheme!r}")
    return raw


def parse_fernet_keys(name: str, raw: str | None, default: str) -> tuple[str, ...]:
    from cryptography.fernet import Fernet

    value = raw if raw not in (None, "") else default
    keys = tuple(part.strip() for part in value.split(",") if part.strip())
    if not keys:
        raise ConfigError(f"{name} must hold at least one Fernet key")
    for index, key in enumerate(keys):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ConfigError(f"{name}: key #{index + 1} is not a valid Fernet key") from None
    return keys


@dataclass(frozen=True)
class Settings:
    app_env: str = "development"
    database_url: str = ""
    redis_url: str | None = None
    secret_key: str = DEV_SECRET_KEY
    encryption_keys: tuple[str, ...] = (DEV_ENCRYPTION_KEY,)
    app_url: str = "http://127.0.0.1:5000"
    shopify_api_key: str = DEV_SHOPIFY_API_KEY
    shopify_api_secret: str = DEV_SHOPIFY_API_SECRET
    shopify_previous_api_secret: str | None = None
    shopify_api_version: str = DEFAULT_SHOPIFY_API_VERSION
    shopify_shop_origin: str = "https://{shop}"
    smtp_url: str | None = None
    mail_from: str = "rewards@localhost"
    allow_http_stores: bool = False
    log_level: str = "INFO"
    webhook_max_bytes: int = 2 * 1024 * 1024
    storefront_ip_limit: str | None = None
    storefront_shopper_limit: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def jobs_inline(self) -> bool:
        return self.redis_url is None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        app_env = parse_choice(
            "APP_ENV", env.get("APP_ENV"), "development", {"development", "test", "production"}
        )
        default_db = f"sqlite:///{INSTANCE_DIR / 'loyalty.db'}"
        settings = cls(
            app_env=app_env,
            database_url=parse_url(
                "DATABASE_URL",
                env.get("DATABASE_URL"),
                default_db,
                {"sqlite", "postgresql", "postgresql+psycopg"},
            ),
            redis_url=parse_url("REDIS_URL", env.get("REDIS_URL"), None, {"redis", "rediss", "unix"}),
            secret_key=env.get("SECRET_KEY") or DEV_SECRET_KEY,
            encryption_keys=parse_fernet_keys(
                "ENCRYPTION_KEY", env.get("ENCRYPTION_KEY"), DEV_ENCRYPTION_KEY
            ),
            app_url=(parse_url("APP_URL", env.get("APP_URL"), "http://127.0.0.1:5000", {"http", "https"}) or "").rstrip("/"),
            shopify_api_key=env.get("SHOPIFY_API_KEY") or DEV_SHOPIFY_API_KEY,
            shopify_api_secret=env.get("SHOPIFY_API_SECRET") or DEV_SHOPIFY_API_SECRET,
            shopify_previous_api_secret=env.get("SHOPIFY_PREVIOUS_API_SECRET") or None,
            shopify_api_version=env.get("SHOPIFY_API_VERSION") or DEFAULT_SHOPIFY_API_VERSION,
            shopify_shop_origin=env.get("SHOPIFY_SHOP_ORIGIN") or "https://{shop}",
            smtp_url=parse_url("SMTP_URL", env.get("SMTP_URL"), None, {"smtp", "smtps"}),
            mail_from=env.get("MAIL_FROM") or "rewards@localhost",
            allow_http_stores=parse_bool("ALLOW_HTTP_STORES", env.get("ALLOW_HTTP_STORES"), False),
            log_level=parse_choice(
                "LOG_LEVEL", env.get("LOG_LEVEL"), "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"}
            ),
            webhook_max_bytes=parse_int(
                "WEBHOOK_MAX_BYTES", env.get("WEBHOOK_MAX_BYTES"), 2 * 1024 * 1024, minimum=1024
            ),
            storefront_ip_limit=env.get("STOREFRONT_IP_LIMIT") or None,
            storefront_shopper_limit=env.get("STOREFRONT_SHOPPER_LIMIT") or None,
        )
        if "{shop}" not in settings.shopify_shop_origin:
            raise ConfigError("SHOPIFY_SHOP_ORIGIN must contain '{shop}'")
        settings.refuse_unsafe_production()
        return settings

    def refuse_unsafe_production(self) -> None:
        if not self.is_production:
            return
        unsafe = []
        if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
            unsafe.append("SECRET_KEY (set a random value of at least 32 characters)")
        if DEV_ENCRYPTION_KEY in self.encryption_keys:
            unsafe.append("ENCRYPTION_KEY (generate one with `loyalty generate-key`)")
        if self.shopify_api_secret == DEV_SHOPIFY_API_SECRET:
            unsafe.append("SHOPIFY_API_SECRET")
        if self.shopify_api_key == DEV_SHOPIFY_API_KEY:
            unsafe.append("SHOPIFY_API_KEY")
        if self.allow_http_stores:
            unsafe.append("ALLOW_HTTP_STORES (never allowed in production)")
        if unsafe:
            raise ConfigError("refusing to start in production with development values: " + ", ".join(unsafe))

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **changes)
