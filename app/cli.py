"""The `loyalty` command: what an operator runs on the server.

Settings are parsed once, on first need (so `loyalty generate-key` works even while
ENCRYPTION_KEY is still being set up). Every command that writes commits at the end of
the command, in one transaction. Errors are one line on stderr and a non-zero exit,
never a traceback: an operator should see what to fix, not where the code broke.

More commands can live in their own modules: every module in the `app.commands`
package that defines `command` (a click command or group) is added to `main`.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import sys
from dataclasses import dataclass, field
from typing import Any

import click
from sqlalchemy import Text, func, select, type_coerce, update
from sqlalchemy.exc import OperationalError, ProgrammingError

from app.config import ConfigError, Settings
from app.db import Database
from app.errors import AppError, NotFound, ValidationFailed

SHOPIFY_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
# Exit status for "the check ran and found a problem" (as opposed to a usage error, 2).
EXIT_FAILED = 1


@dataclass
class CliRuntime:
    """Settings and database, built once per invocation when a command first needs them."""

    environ: dict[str, str] | None = None
    _settings: Settings | None = field(default=None, repr=False)
    _db: Database | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.from_env(self.environ)
        return self._settings

    @property
    def db(self) -> Database:
        if self._db is None:
            from app.runtime import init_runtime

            self._db = init_runtime(self.settings)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


class LoyaltyGroup(click.Group):
    """Turns known errors into one clear line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (AppError, ConfigError) as exc:
            raise click.ClickException(_message(exc)) from None
        except (OperationalError, ProgrammingError) as exc:
            raise click.ClickException(_database_message(exc)) from None
        except (click.exceptions.Exit, click.Abort):  # --help and Ctrl-C: click's own (RuntimeErrors too)
            raise
        except RuntimeError as exc:  # e.g. credentials no key in ENCRYPTION_KEY can decrypt
            raise click.ClickException(str(exc)) from None


def _message(exc: Exception) -> str:
    return getattr(exc, "message", None) or str(exc)


def _database_message(exc: Exception) -> str:
    text = str(getattr(exc, "orig", exc)).strip().splitlines()
    first = text[0] if text else exc.__class__.__name__
    if isinstance(exc, ProgrammingError) or "no such table" in first:
        return f"the database is not ready ({first}); run `loyalty db upgrade` first"
    return f"the database is unavailable: {first}"


def runtime() -> CliRuntime:
    return click.get_current_context().find_object(CliRuntime)


@click.group(cls=LoyaltyGroup)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Loyalty Loop: loyalty and rewards for Shopify and WooCommerce stores."""
    if ctx.obj is None:
        ctx.obj = CliRuntime()
    ctx.call_on_close(ctx.obj.close)


# -- db -------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (safe to run on every deploy)."""
    from app.migrate import heads, upgrade

    rt = runtime()
    upgrade(rt.settings.database_url)
    click.echo(f"database at {', '.join(heads())}")


# -- shops ----------------------------------------------------------------------------


@main.group()
def shop() -> None:
    """Shops (stores) served by this deployment."""


@shop.group("add")
def shop_add() -> None:
    """Add a shop; prints its id."""


@shop_add.command("shopify")
@click.option("--domain", required=True, help="The shop's myshopify domain, e.g. acme.myshopify.com.")
@click.option("--token", required=True, help="Admin API access token (shpat_…).")
@click.option("--currency", default="USD", show_default=True, help="ISO 4217 currency of the shop.")
def shop_add_shopify(domain: str, token: str, currency: str) -> None:
    """Add a Shopify shop with an Admin API access token."""
    domain = domain.strip().lower().removeprefix("https://").rstrip("/")
    if not SHOPIFY_DOMAIN.match(domain):
        raise ValidationFailed(f"--domain must be a myshopify domain like acme.myshopify.com, got {domain!r}")
    if not token.strip():
        raise ValidationFailed("--token must not be empty")
    _add_shop("shopify", domain, {"access_token": token.strip()}, currency)


@shop_add.command("woocommerce")
@click.option("--url", required=True, help="The store's base URL, e.g. https://shop.example.com.")
@click.option("--consumer-key", required=True, help="REST API consumer key (ck_…).")
@click.option("--consumer-secret", required=True, help="REST API consumer secret (cs_…).")
@click.option("--webhook-secret", required=True, help="Secret the store signs webhooks with.")
@click.option("--currency", default="USD", show_default=True, help="ISO 4217 currency of the shop.")
def shop_add_woocommerce(
    url: str, consumer_key: str, consumer_secret: str, webhook_secret: str, currency: str
) -> None:
    """Add a WooCommerce store with REST API keys and its webhook secret."""
    url = url.strip().rstrip("/")
    allow_http = runtime().settings.allow_http_stores
    if not re.match(r"^https?://[^/\s]+", url):
        raise ValidationFailed(f"--url must be an http(s) URL, got {url!r}")
    if url.startswith("http://") and not allow_http:
        raise ValidationFailed("--url must use https:// (set ALLOW_HTTP_STORES=1 for a local test store)")
    credentials = {
        "consumer_key": consumer_key.strip(),
        "consumer_secret": consumer_secret.strip(),
        "webhook_secret": webhook_secret,
    }
    empty = [name for name, value in credentials.items() if not value]
    if empty:
        raise ValidationFailed("must not be empty: " + ", ".join("--" + n.replace("_", "-") for n in empty))
    _add_shop("woocommerce", url, credentials, currency)


def _add_shop(platform: str, domain: str, credentials: dict[str, str], currency: str) -> None:
    from app.shops import create_shop

    with runtime().db.transaction() as session:
        created = create_shop(
            session, platform=platform, domain=domain, credentials=credentials, currency=currency
        )
        shop_id = created.id
    click.echo(shop_id)


@shop.command("show")
@click.argument("shop_id", type=int)
def shop_show(shop_id: int) -> None:
    """The shop as JSON, with its widget secret; credential values are never shown."""
    with runtime().db.session() as session:
        click.echo(json.dumps(describe_shop(session, shop_id), indent=2))


def describe_shop(session, shop_id: int) -> dict[str, Any]:
    from app.loyalty.program import load_program
    from app.models import Customer, Shop, StaffUser

    found = session.get(Shop, shop_id)
    if found is None:
        raise NotFound(f"shop {shop_id} not found")
    return {
        "id": found.id,
        "platform": found.platform,
        "domain": found.domain,
        "name": found.name,
        "currency": found.currency,
        "timezone": found.timezone,
        "install_state": found.install_state,
        "installed_at": found.installed_at.isoformat() if found.installed_at else None,
        "widget_secret": found.widget_secret_value(),
        "credentials_set": sorted((found.credentials or {}).keys()),
        "storefront_origins": list(found.storefront_origins or []),
        "program": load_program(found).model_dump(mode="json"),
        "customers": session.scalar(
            select(func.count()).select_from(Customer).where(Customer.shop_id == found.id)
        ),
        "staff_users": session.scalar(
            select(func.count()).select_from(StaffUser).where(StaffUser.shop_id == found.id)
        ),
    }


# -- staff ----------------------------------------------------------------------------


@main.group()
def staff() -> None:
    """Staff users of a shop and their API tokens."""


@staff.command("add")
@click.option("--shop", "shop_id", type=int, required=True, help="Shop id.")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["owner", "admin", "support", "viewer"]), required=True)
def staff_add(shop_id: int, email: str, role: str) -> None:
    """Add a staff user; prints their API token (shown only this once)."""
    from app.models import Shop
    from app.staff import create_staff_user, issue_token

    with runtime().db.transaction() as session:
        if session.get(Shop, shop_id) is None:
            raise NotFound(f"shop {shop_id} not found")
        user = create_staff_user(session, shop_id=shop_id, email=email, role=role)
        token = issue_token(session, user, label="cli")
    click.echo(token)


@staff.command("password")
@click.option("--shop", "shop_id", type=int, required=True, help="Shop id.")
@click.option("--email", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def staff_password(shop_id: int, email: str, password_stdin: bool) -> None:
    """Set a staff user's console password (prompted twice unless --password-stdin); ends
    their console sessions."""
    from app.console.auth import PasswordRejected, set_password
    from app.models import StaffUser

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with runtime().db.transaction() as session:
        user = session.scalar(
            select(StaffUser).where(StaffUser.shop_id == shop_id, StaffUser.email == email.strip().lower())
        )
        if user is None:
            raise NotFound(f"no staff user {email} in shop {shop_id}")
        try:
            set_password(session, user, password)
        except PasswordRejected as exc:
            raise ValidationFailed(str(exc)) from None
    click.echo(f"password set for {user.email} (shop {shop_id})")


@staff.command("link-shopify-user")
@click.option("--shop", "shop_id", type=int, required=True, help="Shop id.")
@click.option("--email", required=True, help="The console staff user to sign in as.")
@click.option("--shopify-user-id", required=True, help="The Shopify staff user id (a session token's sub).")
def staff_link_shopify_user(shop_id: int, email: str, shopify_user_id: str) -> None:
    """Open the embedded console as this staff user when that Shopify user opens the app
    (without a link, Shopify staff sign in as the shop's owner)."""
    from app.models import ShopifyStaffLink, StaffUser

    if not shopify_user_id.isdigit() or len(shopify_user_id) > 32:
        raise ValidationFailed("--shopify-user-id is the numeric Shopify staff user id")
    with runtime().db.transaction() as session:
        user = session.scalar(
            select(StaffUser).where(StaffUser.shop_id == shop_id, StaffUser.email == email.strip().lower())
        )
        if user is None:
            raise NotFound(f"no staff user {email} in shop {shop_id}")
        link = session.scalar(
            select(ShopifyStaffLink).where(
                ShopifyStaffLink.shop_id == shop_id, ShopifyStaffLink.shopify_user_id == shopify_user_id
            )
        )
        if link is None:
            session.add(ShopifyStaffLink(shop_id=shop_id, shopify_user_id=shopify_user_id,
                                         staff_user_id=user.id))
        else:
            link.staff_user_id = user.id
    click.echo(f"Shopify user {shopify_user_id} opens the console as {user.email} ({user.role})")


# -- ledger ---------------------------------------------------------------------------


@main.command("check-ledger")
@click.option("--shop", "shop_id", type=int, default=None, help="Only this shop (default: all).")
def check_ledger(shop_id: int | None) -> None:
    """Prove every ledger invariant; exit 1 naming the first one that does not hold."""
    from app.loyalty.checks import INVARIANTS, find_violations
    from app.models import Customer, LedgerEntry, Shop

    with runtime().db.session() as session:
        if shop_id is not None and session.get(Shop, shop_id) is None:
            raise NotFound(f"shop {shop_id} not found")
        violations = find_violations(session, shop_id, limit=1)
        customers = select(func.count()).select_from(Customer)
        entries = select(func.count()).select_from(LedgerEntry)
        if shop_id is not None:
            customers = customers.where(Customer.shop_id == shop_id)
            entries = entries.where(LedgerEntry.shop_id == shop_id)
        n_customers = session.scalar(customers)
        n_entries = session.scalar(entries)
    if violations:
        first = violations[0]
        click.echo(f"ledger check FAILED: {first}", err=True)
        if len(violations) > 1:
            others = sorted({v.invariant for v in violations[1:]})
            click.echo(f"also failing: {', '.join(others)}", err=True)
        sys.exit(EXIT_FAILED)
    scope = f"shop {shop_id}" if shop_id is not None else "all shops"
    click.echo(
        f"ledger OK: {len(INVARIANTS)} invariants hold for {n_customers} customers "
        f"and {n_entries} entries ({scope})"
    )


# -- demo and serving -----------------------------------------------------------------


@main.command("demo")
def demo() -> None:
    """Seed the demo shop (again: a fresh owner token); prints its id and the token."""
    from app.demo import seed_demo, set_console_passwords

    rt = runtime()
    with rt.db.transaction() as session:
        demo_shop, token = seed_demo(session)
        shop_id = demo_shop.id
        console_logins = set_console_passwords(session, demo_shop)
    click.echo(f"shop_id={shop_id}")
    click.echo(f"token={token}")
    click.echo(f"Demo shop {shop_id} is ready. Start the server with `loyalty serve`, then open:")
    for label, url in demo_links(rt, token):
        click.echo(f"  {label}: {url}")
    click.echo("Admin console sign-in (new passwords on every run):")
    for email, role, password in console_logins:
        click.echo(f"  {role}: {email} / {password}")


def demo_links(rt: CliRuntime, token: str) -> list[tuple[str, str]]:
    """Links to the parts of the app that exist in this build."""
    from app import create_app

    rules = {rule.rule for rule in create_app(rt.settings, db=rt.db).url_map.iter_rules()}
    base = rt.settings.app_url
    candidates = [
        ("demo storefront", "/demo/storefront", f"{base}/demo/storefront"),
        ("admin console", "/admin/", f"{base}/admin/"),
        ("admin API", "/admin/api/v1/customers",
         f"curl -H 'Authorization: Bearer {token}' {base}/admin/api/v1/customers"),
        ("API reference", "/openapi.json", f"{base}/openapi.json"),
        ("health", "/healthz", f"{base}/healthz"),
    ]
    return [(label, url) for label, rule, url in candidates if rule in rules]


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run the web app with Flask's development server (demo and local use only)."""
    from app import create_app

    rt = runtime()
    web = create_app(rt.settings, db=rt.db)
    web.run(host=host, port=port, debug=False, use_reloader=False)


# -- keys -----------------------------------------------------------------------------


@main.command("generate-key")
def generate_key() -> None:
    """Print a new Fernet key for ENCRYPTION_KEY."""
    from cryptography.fernet import Fernet

    click.echo(Fernet.generate_key().decode("ascii"))


@main.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every shop's credentials and widget secret with the first ENCRYPTION_KEY key.

    Put the new key first in ENCRYPTION_KEY, keep the old ones after it, run this, then
    drop the old keys.
    """
    from cryptography.fernet import InvalidToken

    from app.crypto import keyring
    from app.models import Shop

    rt = runtime()
    table = Shop.__table__
    rotated = 0
    with rt.db.transaction() as session:
        # The raw Fernet tokens, not the decrypted values: rotation never sees a secret.
        raw_credentials = type_coerce(table.c.credentials, Text)
        raw_widget_secret = type_coerce(table.c.widget_secret, Text)
        rows = session.execute(
            select(table.c.id, raw_credentials, raw_widget_secret).order_by(table.c.id)
        ).all()
        for shop_id, credentials, widget_secret in rows:
            try:
                values = {
                    "credentials": keyring.rotate(credentials) if credentials else credentials,
                    "widget_secret": keyring.rotate(widget_secret) if widget_secret else widget_secret,
                }
            except InvalidToken:
                raise AppError(
                    f"shop {shop_id}: stored secrets cannot be decrypted with any key in ENCRYPTION_KEY; "
                    "nothing was changed"
                ) from None
            session.execute(
                update(table)
                .where(table.c.id == shop_id)
                .values({name: type_coerce(value, Text) for name, value in values.items()})
            )
            rotated += 1
    click.echo(f"re-encrypted the secrets of {rotated} shops with the first ENCRYPTION_KEY key")


# -- commands contributed by other modules --------------------------------------------


def _add_contributed_commands() -> None:
    """Add `command` from every module in the optional `app.commands` package."""
    try:
        package = importlib.import_module("app.commands")
    except ModuleNotFoundError as exc:
        if exc.name == "app.commands":
            return
        raise
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"app.commands.{info.name}")
        command = getattr(module, "command", None)
        if isinstance(command, click.Command) and command.name not in main.commands:
            main.add_command(command)


def _add_import_export_commands() -> None:
    """`import-balances` and `export-ledger` (see app/imports/cli.py)."""
    from app.imports.cli import export_ledger, import_balances

    main.add_command(import_balances)
    main.add_command(export_ledger)


_add_import_export_commands()
_add_contributed_commands()


if __name__ == "__main__":  # `python -m app.cli`
    main()
